/// A report kind's explanation as written in `Explanations/KIND.md`: a `#` title line, then `##` sections of
/// paragraphs and fenced code blocks. Inline Markdown is not interpreted: words print as written.
struct Explanation: Sendable, Hashable {
  /// A part of a section.
  enum Block: Sendable, Hashable {
    /// Words to wrap: a paragraph, or the part of one before or after a hard break (a line ending in `\`).
    case text(String)
    /// A fenced code block's lines, printed as written; `info` is what follows the opening fence (`fixture`).
    case code(info: String, lines: [String])
  }

  /// A `##` heading and what follows it up to the next.
  struct Section: Sendable, Hashable {
    var heading: String
    var blocks: [Block]

    /// The section's lines for a terminal: text wrapped at `width` columns, code as written.
    func lines(width: Int) -> [String] {
      blocks.flatMap { block -> [String] in
        switch block {
        case .text(let words): Explanation.wrap(words, width: width)
        case .code(_, let lines): lines
        }
      }
    }
  }

  /// The `#` line.
  var title = ""
  var sections: [Section] = []

  /// Parses the Markdown; anything before the first `##` heading other than the title is ignored.
  init(markdown: String) {
    var section: Section?
    var words: [Substring] = []
    var fence: (info: String, lines: [String])?
    func endText() {
      if !words.isEmpty { section?.blocks.append(.text(words.joined(separator: " "))) }
      words = []
    }
    for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
      if let open = fence {
        if line.hasPrefix("```") {
          section?.blocks.append(.code(info: open.info, lines: open.lines))
          fence = nil
        } else {
          fence?.lines.append(String(line))
        }
      } else if line.hasPrefix("```") {
        endText()
        fence = (String(line.dropFirst(3)), [])
      } else if line.hasPrefix("## ") {
        endText()
        if let section { sections.append(section) }
        section = Section(heading: String(line.dropFirst(3)), blocks: [])
      } else if line.hasPrefix("# ") {
        title = String(line.dropFirst(2))
      } else if line.allSatisfy(\.isWhitespace) {
        endText()
      } else if line.hasSuffix("\\") {
        words.append(line.dropLast())
        endText()
      } else {
        words.append(line)
      }
    }
    endText()
    if let section { sections.append(section) }
  }

  /// Greedy word wrap; a word longer than `width` gets a line of its own.
  static func wrap(_ text: String, width: Int) -> [String] {
    if text.isEmpty { return [""] }
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ") {
      if line.isEmpty {
        line = String(word)
      } else if line.count + 1 + word.count <= width {
        line += " " + word
      } else {
        lines.append(line)
        line = String(word)
      }
    }
    if !line.isEmpty { lines.append(line) }
    return lines
  }
}
