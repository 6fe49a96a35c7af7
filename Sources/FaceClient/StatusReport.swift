import FaceCore
import FaceLedger
import FaceRoot
import Foundation

/// The output of `facewatch status`: the ledger's counts and latest failures, the root lock's
/// holder, and the figures the daemon published into the ledger.
public struct StatusReport: Sendable {
    /// The state root asked about.
    public var root: String
    /// The daemon holding the root, if one runs.
    public var daemonPID: Int32?
    /// The counts, from the ledger.
    public var stats: StatsDocument
    /// The latest failures, newest first.
    public var recentFailures: [ResultDocument]
    /// What the last daemon on the root published (workers, busy time, engine runs, failures by
    /// code), if one ever did.
    public var figures: DaemonFigures?
    /// Inbox entries the daemon cannot take, as it last published them.
    public var refusals: [InboxRefusal] = []
    /// Known people and the relabel's progress, when the ledger has them.
    public var people: PeopleSummary?

    public init(
        root: String, daemonPID: Int32?, stats: StatsDocument, recentFailures: [ResultDocument], figures: DaemonFigures?
    ) {
        self.root = root
        self.daemonPID = daemonPID
        self.stats = stats
        self.recentFailures = recentFailures
        self.figures = figures
    }

    /// The report for a person, several lines.
    public func text(now: Date = Date()) -> String {
        var lines: [String] = []
        lines.append("root:     \(root)")
        if let daemonPID {
            lines.append("daemon:   running (pid \(daemonPID))")
        } else {
            lines.append("daemon:   not running")
        }
        lines.append("backlog:  \(stats.created) waiting to be encoded")
        lines.append(
            "total:    \(stats.total) (\(stats.completed) completed, \(stats.failed) failed), \(stats.faces) faces")
        var rate = String(format: "%.1f images/min", stats.imagesPerMinute)
        if let figures {
            // The daemon publishes its figures with each stats.json write: the same moment.
            rate += " (stats.json updated \(Self.age(now.timeIntervalSince(figures.updatedAt))) ago)"
        }
        lines.append("rate:     \(rate)")
        if let figures {
            lines += figureLines(figures, now: now)
        }
        if !refusals.isEmpty {
            lines.append("not taken: \(refusals.count) in the inbox the daemon cannot take (retried at each rescan)")
            for refusal in refusals {
                // Names and messages are a member's text: printed with their control characters escaped.
                lines.append(
                    "  \(Timestamp.format(refusal.since)) \(TerminalText.printable(refusal.name)): \(TerminalText.printable(refusal.reason))"
                )
            }
        }
        lines += people?.statusLines ?? []
        if recentFailures.isEmpty {
            lines.append("recent failures: none")
        } else {
            lines.append("recent failures:")
            for failure in recentFailures {
                let when = failure.completedAt.map(Timestamp.format) ?? "?"
                let code = failure.error?.code.rawValue ?? "?"
                let message = failure.error?.message ?? ""
                let name = TerminalText.printable(failure.source?.name ?? "")
                lines.append("  \(when) \(failure.id ?? "?") \(code) \(name): \(TerminalText.printable(message))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Workers (while the daemon runs), the mean encode time, the failures by code (only when they
    /// add up to the ledger's failed count: figures published before the last failures do not).
    private func figureLines(_ figures: DaemonFigures, now: Date) -> [String] {
        var lines: [String] = []
        if daemonPID != nil, figures.running, let paused = figures.paused {
            lines.append("paused:   taking and encoding no files: \(paused)")
        }
        if daemonPID != nil, figures.running, figures.memoryBudget > 0 {
            var text =
                "memory:   \(Self.megabytes(figures.memoryReserved)) of a \(Self.megabytes(figures.memoryBudget)) budget reserved by images being encoded"
            if figures.waitingForMemory > 0 { text += ", \(figures.waitingForMemory) waiting for it" }
            lines.append(text)
        }
        if daemonPID != nil, figures.running {
            var text = "workers:  \(figures.workers)"
            let available = Double(figures.workers) * figures.updatedAt.timeIntervalSince(figures.startedAt)
            if available > 0 {
                let busy = min(1, max(0, figures.workerBusySeconds / available))
                text += String(
                    format: ", busy %.0f%% of the time since the start %@ ago", busy * 100,
                    Self.age(now.timeIntervalSince(figures.startedAt)))
            }
            lines.append(text)
        }
        if figures.encodes > 0 {
            let mean = figures.encodeSeconds / Double(figures.encodes)
            let time = mean >= 1 ? String(format: "%.2f s", mean) : String(format: "%.1f ms", mean * 1000)
            lines.append("encoding: \(time) per file on average (\(figures.encodes) files)")
        }
        let failures = FailureCode.allCases.compactMap { code in figures.failedByCode[code].map { (code, $0) } }
        if !failures.isEmpty, failures.reduce(0, { $0 + $1.1 }) == stats.failed {
            lines.append("failures: " + failures.map { "\($0.0.rawValue) \($0.1)" }.joined(separator: ", "))
        }
        return lines
    }

    /// The report as JSON, for programs.
    public var json: JSONValue {
        .object([
            ("root", .string(root)),
            ("daemon_pid", daemonPID.map { .int(Int64($0)) } ?? .null),
            ("stats", stats.json),
            ("recent_failures", .array(recentFailures.map(\.json))),
            ("metrics", figures.map(Self.json) ?? .null),
            (
                "not_taken",
                .array(
                    refusals.map {
                        .object([
                            ("name", .string($0.name)), ("reason", .string($0.reason)),
                            ("since", .string(Timestamp.format($0.since))),
                        ])
                    })
            ),
            ("people", people?.json ?? .null),
        ])
    }

    /// The daemon's figures under the keys `status --json` has always used.
    static func json(_ figures: DaemonFigures) -> JSONValue {
        .object([
            ("up", .bool(figures.running)),
            ("start_time", .string(Timestamp.format(figures.startedAt))),
            ("written_at", .string(Timestamp.format(figures.updatedAt))),
            ("workers", .int(Int64(figures.workers))),
            ("worker_busy_seconds", .double(figures.workerBusySeconds)),
            ("encodes", .int(Int64(figures.encodes))),
            ("encode_seconds", .double(figures.encodeSeconds)),
            ("memory_budget_bytes", .int(Int64(figures.memoryBudget))),
            ("memory_reserved_bytes", .int(Int64(figures.memoryReserved))),
            ("images_waiting_for_memory", .int(Int64(figures.waitingForMemory))),
            ("paused", figures.paused.map { .string($0) } ?? .null),
            (
                "failed_by_code",
                .object(
                    FailureCode.allCases.compactMap { code in
                        figures.failedByCode[code].map { (code.rawValue, .int(Int64($0))) }
                    })
            ),
        ])
    }

    static func megabytes(_ bytes: Int) -> String {
        bytes >= 10_000_000_000
            ? String(format: "%.1f GB", Double(bytes) / 1e9) : String(format: "%.0f MB", Double(bytes) / 1e6)
    }

    static func age(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        return "\(s / 3600)h"
    }
}
