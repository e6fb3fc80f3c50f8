import KernelTypes

/// What `--html FILE` draws: the command line, its runs (each fixture of a
/// `run` or `check`, a replayed trace, or an `explore` finding's run under
/// its schedule) with their reports, and notes (a replay's summary, the
/// schedules of `explore`'s findings).
/// `HTMLRenderer` turns it into one self-contained page.
package struct HTMLDocument: Sendable {
  package var command: String
  package var runs: [HTMLRun] = []
  package var notes: [HTMLNote] = []
  package init(command: String) { self.command = command }
}

/// A titled block of preformatted lines in the overview.
package struct HTMLNote: Sendable, Hashable {
  package var title: String
  package var lines: [String]
  package init(title: String, lines: [String]) {
    self.title = title
    self.lines = lines
  }
}

/// One fixture or trace and its reports, kept within bounds as they arrive:
/// every report is counted by site, the first `maximumSubjects` pages (or
/// IOVAs) keep up to `maximumReportsPerSubject` reports each for drawing,
/// so a replay of a million events holds a few thousand reports at most.
package struct HTMLRun: Sendable {
  /// How the run ended: a `check` fixture passes or fails; a `run` or
  /// `replay` has an exit status.
  package enum Status: Sendable, Hashable {
    case passed, failed
    case exit(Int32)
  }

  /// A report site: a kind at a guilty function, as syzkaller tells bugs apart.
  package struct Site: Sendable, Hashable {
    package var kind: ReportKind
    package var guilty: String
    package var count: Int
    /// The subject drawn for its first report, if it was kept.
    package var firstSubject: Int?
  }

  /// What a timeline is about: a page, or an IOVA of a device for reports
  /// that name no page.
  package enum Subject: Sendable, Hashable {
    case page(UInt64)
    case iova(device: String?, iova: UInt64)
  }

  /// The reports about one subject, in order.
  package struct SubjectReports: Sendable {
    package var subject: Subject
    package var reports: [Report] = []
    /// Reports about it not kept (over `maximumReportsPerSubject`).
    package var notKept = 0
    /// Pages from the subject's page that one statement reported alike (a
    /// mapped order-9 block freed: 512 reports of one kind), drawn once.
    package var pageCount = 1
    /// Reports about the further pages of the range.
    package var folded = 0

    /// Whether `pfn` is in the subject's range of pages.
    package func covers(pfn: UInt64) -> Bool {
      guard case .page(let first) = subject else { return false }
      return pfn >= first && pfn - first < UInt64(pageCount)
    }
  }

  package static let maximumSubjects = 256
  package static let maximumReportsPerSubject = 8
  package static let maximumOtherReports = 64

  package var name: String
  package var status: Status?
  /// The `UTS_RELEASE` its kernel text names: the run's `emu.kernel=`, or
  /// the release a replayed trace recorded.
  package var release = KernelTextRenderer.release()
  /// Task names that get a lane on each timeline of the run even where they
  /// do not touch the page (an `explore` finding's tasks).
  package var tasks: [String] = []
  /// For an `explore` finding: its key (`KIND SITE`) and the schedule that
  /// `run --schedule` takes to replay it.
  package var finding: String?
  package var schedule: String?
  /// Failed expectations and errors, one per line.
  package var messages: [String] = []
  package private(set) var reportCount = 0
  package private(set) var sites: [Site] = []
  package private(set) var subjects: [SubjectReports] = []
  /// Reports about neither a page nor an IOVA.
  package private(set) var otherReports: [Report] = []
  /// Reports counted but not kept for drawing.
  package private(set) var notKept = 0
  private var subjectIndex: [Subject: Int] = [:]
  private var siteIndex: [String: Int] = [:]

  package init(name: String, status: Status? = nil) {
    self.name = name
    self.status = status
  }

  /// Counts a report and keeps it for drawing while within bounds. Past
  /// `maximumSubjects`, the first report of a site not drawn yet still gets
  /// its subject (at most `maximumSubjects` more): every site links to a timeline.
  package mutating func add(_ report: Report) {
    reportCount += 1
    let guilty = KernelText.symbol(KernelTextRenderer.ripFrame(of: report).function)
    let key = report.kind.rawValue + " " + guilty
    let siteIsDrawn = siteIndex[key].map { sites[$0].firstSubject != nil } ?? false
    let subject: Subject? =
      if let pfn = report.pfn { .page(pfn.rawValue) } else {
        report.iova.map { .iova(device: report.device, iova: $0.rawValue) }
      }
    var kept: Int?
    if let pfn = report.pfn?.rawValue, pfn > 0, subjectIndex[.page(pfn)] == nil, let i = subjectIndex[.page(pfn - 1)],
      let last = subjects[i].reports.last, last.kind == report.kind, last.statement == report.statement,
      subjects[i].covers(pfn: pfn - 1), !subjects[i].covers(pfn: pfn)
    {
      // The next page of a range one statement reported alike: fold it in.
      subjects[i].pageCount += 1
      subjects[i].folded += 1
      subjectIndex[.page(pfn)] = i
      kept = i
    } else if let subject {
      if let i = subjectIndex[subject] {
        if case .page(let first) = subjects[i].subject, let pfn = report.pfn?.rawValue, pfn != first,
          subjects[i].reports.contains(where: { $0.kind == report.kind && $0.statement == report.statement })
        {
          // A further page of a folded range that one statement reported alike again.
          subjects[i].folded += 1
        } else if subjects[i].reports.count < Self.maximumReportsPerSubject {
          subjects[i].reports.append(report)
        } else {
          subjects[i].notKept += 1
          notKept += 1
        }
        kept = i
      } else if subjects.count < Self.maximumSubjects || (!siteIsDrawn && subjects.count < 2 * Self.maximumSubjects) {
        subjectIndex[subject] = subjects.count
        kept = subjects.count
        subjects.append(SubjectReports(subject: subject, reports: [report]))
      } else {
        notKept += 1
      }
    } else if otherReports.count < Self.maximumOtherReports {
      otherReports.append(report)
    } else {
      notKept += 1
    }
    if let i = siteIndex[key] {
      sites[i].count += 1
      if sites[i].firstSubject == nil { sites[i].firstSubject = kept }
    } else {
      siteIndex[key] = sites.count
      sites.append(Site(kind: report.kind, guilty: guilty, count: 1, firstSubject: kept))
    }
  }
}
