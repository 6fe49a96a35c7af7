import FaceCore
import FaceDaemon
import Foundation

/// What `facewatch status` shows from `metrics.prom` beyond the ledger's counts: the workers and how
/// busy they were, the mean encode time, the failures by error code.
public struct ServiceFigures: Sendable, Equatable {
    /// `facewatch_up`: the daemon that wrote the file was running then.
    public var up: Bool
    /// When that daemon started.
    public var startTime: Date
    /// When the file was written (its modification time).
    public var writtenAt: Date
    /// Encoder workers configured then.
    public var workers: Int
    /// Seconds the workers of that daemon were busy, summed over workers.
    public var workerBusySeconds: Double
    /// Engine runs recorded in the ledger, and their total seconds (the encode-time histogram).
    public var encodes: Int
    /// Total seconds of those runs.
    public var encodeSeconds: Double
    /// Failed files per error code (codes with none left out), in `FailureCode` order.
    public var failuresByCode: [(code: FailureCode, count: Int)]

    /// The figures of a metrics file; nil when it is missing or holds no `facewatch_up`.
    public init?(metricsFile path: String) {
        guard let reading = MetricsReading(path: path), let up = reading.value("facewatch_up") else { return nil }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        self.up = up == 1
        startTime = Date(timeIntervalSince1970: reading.value("facewatch_start_time_seconds") ?? 0)
        writtenAt = attributes?[.modificationDate] as? Date ?? Date()
        workers = Int(reading.value("facewatch_workers") ?? 0)
        workerBusySeconds = reading.value("facewatch_worker_busy_seconds_total") ?? 0
        encodes = Int(reading.value("facewatch_encode_seconds_count") ?? 0)
        encodeSeconds = reading.value("facewatch_encode_seconds_sum") ?? 0
        failuresByCode = FailureCode.allCases.compactMap { code in
            let count = Int(reading.value("facewatch_files_failed_total", ["code": code.rawValue]) ?? 0)
            return count > 0 ? (code, count) : nil
        }
    }

    /// Total failures the file counts.
    public var failed: Int { failuresByCode.reduce(0) { $0 + $1.count } }

    /// The share of the workers' time spent encoding since the daemon started, 0...1 (nil before
    /// any time passed).
    public var busyFraction: Double? {
        let available = Double(workers) * writtenAt.timeIntervalSince(startTime)
        guard available > 0 else { return nil }
        return min(1, max(0, workerBusySeconds / available))
    }

    /// Lines for `facewatch status`. `daemonRunning`: a daemon holds the root now; `ledgerFailed`:
    /// the ledger's failed count (the per-code counts are shown only when they add up to it).
    public func lines(daemonRunning: Bool, ledgerFailed: Int, now: Date = Date()) -> [String] {
        var lines: [String] = []
        if daemonRunning, up {
            var text = "workers:  \(workers)"
            if let busy = busyFraction {
                text += String(format: ", busy %.0f%% of the time since the start %@ ago", busy * 100, StatusReport.age(now.timeIntervalSince(startTime)))
            }
            lines.append(text)
        }
        if encodes > 0 {
            let mean = encodeSeconds / Double(encodes)
            let time = mean >= 1 ? String(format: "%.2f s", mean) : String(format: "%.1f ms", mean * 1000)
            lines.append("encoding: \(time) per file on average (\(encodes) files)")
        }
        if !failuresByCode.isEmpty, failed == ledgerFailed {
            lines.append("failures: " + failuresByCode.map { "\($0.code.rawValue) \($0.count)" }.joined(separator: ", "))
        }
        return lines
    }

    /// The figures as JSON.
    public var json: JSONValue {
        .object([
            ("up", .bool(up)),
            ("start_time", .string(Timestamp.format(startTime))),
            ("written_at", .string(Timestamp.format(writtenAt))),
            ("workers", .int(Int64(workers))),
            ("worker_busy_seconds", .double(workerBusySeconds)),
            ("encodes", .int(Int64(encodes))),
            ("encode_seconds", .double(encodeSeconds)),
            ("failed_by_code", .object(failuresByCode.map { ($0.code.rawValue, .int(Int64($0.count))) })),
        ])
    }

    public static func == (a: ServiceFigures, b: ServiceFigures) -> Bool {
        a.up == b.up && a.startTime == b.startTime && a.writtenAt == b.writtenAt && a.workers == b.workers
            && a.workerBusySeconds == b.workerBusySeconds && a.encodes == b.encodes && a.encodeSeconds == b.encodeSeconds
            && a.failuresByCode.map(\.code) == b.failuresByCode.map(\.code)
            && a.failuresByCode.map(\.count) == b.failuresByCode.map(\.count)
    }
}
