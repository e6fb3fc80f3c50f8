import Foundation
import Testing

/// Whether this run re-records golden files: `RECORD_GOLDEN=1 swift test`.
package let isRecordingGolden = ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1"

/// Checks `actual` against the golden file at `path`. With `RECORD_GOLDEN=1`
/// it writes `actual` there instead; otherwise a missing file or a mismatch
/// is an issue, a mismatch with the first differing lines (`LineDiff`).
package func expectGolden(_ actual: String, file path: String, sourceLocation: SourceLocation = #_sourceLocation) {
  if isRecordingGolden {
    do {
      let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      try actual.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
      Issue.record("cannot record golden file \(path): \(error)", sourceLocation: sourceLocation)
    }
    return
  }
  guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
    Issue.record("missing golden file \(path); RECORD_GOLDEN=1 swift test records it", sourceLocation: sourceLocation)
    return
  }
  let diff = LineDiff(expected: expected, actual: actual)
  if !diff.isEmpty {
    Issue.record("\(path) differs; RECORD_GOLDEN=1 swift test re-records it\n\(diff)", sourceLocation: sourceLocation)
  }
}
