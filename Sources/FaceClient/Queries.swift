import FaceCore
import FaceLedger
import FaceDaemon
import Foundation

/// The read-only side used by `result`, `stats`, `average` and `status`: they open the ledger
/// read-only (LMDB readers never block the daemon's writer) and work whether or not a daemon runs.
public struct Queries: Sendable {
    /// The paths of the root being asked about.
    public let configuration: DaemonConfiguration
    /// The ledger, opened read-only.
    public let ledger: Ledger

    /// Opens the ledger of `configuration` read-only.
    public init(configuration: DaemonConfiguration) throws(ClientError) {
        self.configuration = configuration
        do {
            ledger = try Ledger(directory: URL(fileURLWithPath: configuration.database, isDirectory: true),
                                options: Ledger.Options(readOnly: true))
        } catch where error.code == .notFound {
            throw ClientError("no facewatch ledger at \(configuration.database) (has `facewatch serve` run on \(configuration.root)?)")
        } catch {
            throw ClientError("cannot open the ledger at \(configuration.database): \(error)")
        }
    }

    // MARK: - result

    /// The document of image `id` from the ledger, or nil if the ledger has no such image.
    public func result(_ id: UUID) throws(ClientError) -> ResultDocument? {
        do {
            return try ledger.record(id)?.resultDocument()
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }

    // MARK: - stats

    /// The stats document from the ledger's counters. The rate comes from the running daemon's
    /// `stats.json` when a daemon holds the root (0 otherwise: nothing is being processed).
    public func stats(now: Date = Date()) throws(ClientError) -> StatsDocument {
        let counters: LedgerStats
        do {
            counters = try ledger.stats()
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
        var rate = 0.0
        if RootLock.holder(root: configuration.root) != nil,
           let written = StatsDocument.read(path: configuration.statsFile),
           now.timeIntervalSince(written.updatedAt) < 120 {
            rate = written.imagesPerMinute
        }
        return StatsDocument(stats: counters, imagesPerMinute: rate, updatedAt: now)
    }

    // MARK: - average

    /// The true mean of every face encoding of completed images created in `[from, to)` (all time
    /// when both are nil): O(1) for all time, one streaming pass over the window otherwise.
    public func average(from: Date?, to: Date?) throws(ClientError) -> AverageDocument {
        do {
            let average = try ledger.average(from: from, to: to)
            return AverageDocument(from: from, to: to, images: average.images, faces: average.faces, mean: average.mean ?? [])
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }

    // MARK: - status

    /// Backlog, totals, rate, the daemon's pid and the latest failures.
    public func status(recentFailures: Int = 5, lookBack: TimeInterval = 86_400, now: Date = Date()) throws(ClientError) -> StatusReport {
        let stats = try self.stats(now: now)
        let pid = RootLock.holder(root: configuration.root)
        var failures: [ResultDocument] = []
        do {
            // The latest failures among records created in the look-back window, in constant memory.
            try ledger.forEachRecord(createdFrom: now.addingTimeInterval(-lookBack), to: nil) { record in
                guard record.status == .failed else { return }
                failures.append(record.resultDocument())
                if failures.count > recentFailures { failures.removeFirst() }
            }
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
        let written = StatsDocument.read(path: configuration.statsFile)
        let metrics = ServiceFigures(metricsFile: (configuration.root as NSString).appendingPathComponent(MetricsWriter.fileName))
        return StatusReport(
            root: configuration.root, daemonPID: pid, stats: stats, statsFileUpdatedAt: written?.updatedAt,
            recentFailures: failures.reversed(), service: metrics)
    }
}

/// The output of `facewatch average`.
public struct AverageDocument: Sendable, Equatable {
    /// The window's start, or nil for no lower bound.
    public var from: Date?
    /// The window's end (exclusive), or nil for no upper bound.
    public var to: Date?
    /// Completed images created in the window (with or without faces).
    public var images: Int
    /// Faces averaged.
    public var faces: Int
    /// The component-wise mean, or empty when no face was found.
    public var mean: [Double]

    public init(from: Date?, to: Date?, images: Int, faces: Int, mean: [Double]) {
        self.from = from
        self.to = to
        self.images = images
        self.faces = faces
        self.mean = mean
    }

    /// `{"from", "to", "images", "faces", "average_encoding"}`, keys in that order.
    public var json: JSONValue {
        .object([
            ("from", from.map { .string(Timestamp.format($0)) } ?? .null),
            ("to", to.map { .string(Timestamp.format($0)) } ?? .null),
            ("images", .int(Int64(images))),
            ("faces", .int(Int64(faces))),
            ("average_encoding", .array(mean.map { .double($0) })),
        ])
    }
}

/// The output of `facewatch status`.
public struct StatusReport: Sendable {
    /// The state root asked about.
    public var root: String
    /// The daemon holding the root, if one runs.
    public var daemonPID: Int32?
    /// The counts, from the ledger.
    public var stats: StatsDocument
    /// When the daemon last wrote `stats.json`.
    public var statsFileUpdatedAt: Date?
    /// The latest failures, newest first.
    public var recentFailures: [ResultDocument]
    /// What `metrics.prom` adds (workers, encode time, failures by code), if the file exists.
    public var service: ServiceFigures? = nil

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
        lines.append("total:    \(stats.total) (\(stats.completed) completed, \(stats.failed) failed), \(stats.faces) faces")
        var rate = String(format: "%.1f images/min", stats.imagesPerMinute)
        if let statsFileUpdatedAt {
            rate += " (stats.json updated \(Self.age(now.timeIntervalSince(statsFileUpdatedAt))) ago)"
        }
        lines.append("rate:     \(rate)")
        if let service {
            lines += service.lines(daemonRunning: daemonPID != nil, ledgerFailed: stats.failed, now: now)
        }
        if recentFailures.isEmpty {
            lines.append("recent failures: none")
        } else {
            lines.append("recent failures:")
            for failure in recentFailures {
                let when = failure.completedAt.map(Timestamp.format) ?? "?"
                let code = failure.error?.code.rawValue ?? "?"
                let message = failure.error?.message ?? ""
                lines.append("  \(when) \(failure.id ?? "?") \(code) \(failure.source?.name ?? ""): \(message)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON, for programs.
    public var json: JSONValue {
        .object([
            ("root", .string(root)),
            ("daemon_pid", daemonPID.map { .int(Int64($0)) } ?? .null),
            ("stats", stats.json),
            ("recent_failures", .array(recentFailures.map(\.json))),
            ("metrics", service?.json ?? .null),
        ])
    }

    static func age(_ seconds: TimeInterval) -> String {
        let s = max(0, Int(seconds))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        return "\(s / 3600)h"
    }
}
