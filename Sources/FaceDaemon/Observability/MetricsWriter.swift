#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FaceCore
import Foundation

/// A Prometheus histogram: counts of observations at or below each upper bound, their sum and count.
public struct MetricsHistogram: Sendable, Equatable {
    /// Upper bounds of the buckets, ascending (the `+Inf` bucket is implicit).
    public let upperBounds: [Double]
    /// Observations per bucket, not cumulative: `bucketCounts[i]` counts values in
    /// `(upperBounds[i-1], upperBounds[i]]`, and the last element counts values above every bound.
    public private(set) var bucketCounts: [UInt64]
    /// Sum of all observations.
    public private(set) var sum: Double = 0
    /// Number of observations.
    public private(set) var count: UInt64 = 0

    /// Bounds for the time one file takes to encode, in seconds: from a small PNG to a 50-megapixel
    /// photo with the CNN detector.
    public static let encodeSecondsBounds: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]

    /// An empty histogram. `upperBounds` are sorted and deduplicated; non-finite ones are dropped.
    public init(upperBounds: [Double] = MetricsHistogram.encodeSecondsBounds) {
        self.upperBounds = Array(Set(upperBounds.filter(\.isFinite))).sorted()
        bucketCounts = Array(repeating: 0, count: self.upperBounds.count + 1)
    }

    /// Records one observation. Non-finite values are ignored.
    public mutating func observe(_ value: Double) {
        guard value.isFinite else { return }
        let index = upperBounds.firstIndex { value <= $0 } ?? upperBounds.count
        bucketCounts[index] += 1
        sum += value
        count += 1
    }

    /// Cumulative counts per bound, as the exposition format wants, ending with `+Inf` (= `count`).
    public var cumulativeCounts: [(upperBound: Double, count: UInt64)] {
        var running: UInt64 = 0
        var result: [(upperBound: Double, count: UInt64)] = []
        for (index, bucket) in bucketCounts.enumerated() {
            running += bucket
            result.append((index < upperBounds.count ? upperBounds[index] : .infinity, running))
        }
        return result
    }
}

/// The values the metrics file shows. The daemon fills it; `MetricsWriter` writes it.
///
/// Counters must never decrease while the daemon runs. Whether they count since the ledger was
/// created (read from LMDB) or since the process started is the daemon's choice: Prometheus handles
/// a reset at restart either way.
public struct MetricsSnapshot: Sendable, Equatable {
    /// Whether the daemon is running; write a last snapshot with `false` at shutdown, since the file
    /// outlives the process.
    public var up: Bool
    /// When the daemon started.
    public var startTime: Date
    /// Files taken from the inbox (records created).
    public var filesIngested: UInt64 = 0
    /// Files encoded successfully (zero faces included).
    public var filesCompleted: UInt64 = 0
    /// Failed files per error code; codes not present count zero.
    public var filesFailed: [FailureCode: UInt64] = [:]
    /// Faces found in completed files.
    public var faces: UInt64 = 0
    /// Time each file took to encode (decode, detect, encode), in seconds.
    public var encodeSeconds = MetricsHistogram()
    /// Files waiting to be encoded (`created` records).
    public var backlog: UInt64 = 0
    /// Encoder workers running.
    public var workers: Int = 0
    /// Time workers spent encoding, summed over workers, in seconds.
    public var workerBusySeconds: Double = 0

    /// A snapshot with every count at zero.
    public init(up: Bool = true, startTime: Date) {
        self.up = up
        self.startTime = startTime
    }
}

/// Writes `metrics.prom`, a Prometheus text-format exposition (version 0.0.4) of a `MetricsSnapshot`,
/// for node_exporter's textfile collector (`--collector.textfile.directory`) or any scraper that
/// reads files.
///
/// The file is replaced atomically with `DurableFile.writeAtomically`: written to a hidden temporary
/// file in the same directory (`.metrics.prom.<random>.tmp`, which the collector ignores since it
/// does not end in `.prom`), fsynced, renamed over the old one, and the directory fsynced. It is made readable by everyone (0644 unless told
/// otherwise), whatever the daemon's umask: it holds only counts, and the collector usually runs as
/// another user.
public struct MetricsWriter: Sendable {
    /// The file name used next to `stats.json`.
    public static let fileName = "metrics.prom"

    /// The file written.
    public let path: String
    /// Permission bits of the file.
    public let mode: mode_t

    /// Writes to `path`.
    public init(path: String, mode: mode_t = 0o644) {
        self.path = path
        self.mode = mode
    }

    /// Writes `metrics.prom` in `directory` (the state root, next to `stats.json`).
    public init(directory: String, mode: mode_t = 0o644) {
        self.init(path: (directory as NSString).appendingPathComponent(Self.fileName), mode: mode)
    }

    /// Renders the snapshot and replaces the file with it.
    public func write(_ snapshot: MetricsSnapshot) throws(FileSystemError) {
        try DurableFile.writeAtomically(Self.render(snapshot), to: path, permissions: mode)
    }

    // MARK: - Rendering

    /// The exposition text of a snapshot: `# HELP` and `# TYPE` lines, then the samples, every
    /// line ending in a newline.
    public static func render(_ snapshot: MetricsSnapshot) -> String {
        var text = MetricsText()
        text.family("facewatch_up", .gauge, "Whether the facewatch daemon is running (1) or has stopped (0).")
        text.sample("facewatch_up", snapshot.up ? UInt64(1) : 0)
        text.family("facewatch_start_time_seconds", .gauge, "Start time of the daemon, in seconds since the Unix epoch.")
        text.sample("facewatch_start_time_seconds", snapshot.startTime.timeIntervalSince1970)
        text.family("facewatch_files_ingested_total", .counter, "Files taken from the inbox.")
        text.sample("facewatch_files_ingested_total", snapshot.filesIngested)
        text.family("facewatch_files_completed_total", .counter, "Files encoded successfully, with or without faces.")
        text.sample("facewatch_files_completed_total", snapshot.filesCompleted)
        text.family("facewatch_files_failed_total", .counter, "Files that failed, by error code.")
        for code in FailureCode.allCases {
            text.sample("facewatch_files_failed_total", snapshot.filesFailed[code] ?? 0, labels: [("code", code.rawValue)])
        }
        text.family("facewatch_faces_total", .counter, "Faces found in completed files.")
        text.sample("facewatch_faces_total", snapshot.faces)
        text.family("facewatch_encode_seconds", .histogram, "Time to encode one file (decode, detect, encode), in seconds.")
        for (bound, count) in snapshot.encodeSeconds.cumulativeCounts {
            text.sample("facewatch_encode_seconds_bucket", count, labels: [("le", formatValue(bound))])
        }
        text.sample("facewatch_encode_seconds_sum", snapshot.encodeSeconds.sum)
        text.sample("facewatch_encode_seconds_count", snapshot.encodeSeconds.count)
        text.family("facewatch_backlog", .gauge, "Files waiting to be encoded.")
        text.sample("facewatch_backlog", snapshot.backlog)
        text.family("facewatch_workers", .gauge, "Encoder workers running.")
        text.sample("facewatch_workers", Double(snapshot.workers))
        text.family("facewatch_worker_busy_seconds_total", .counter, "Time workers spent encoding, summed over workers, in seconds.")
        text.sample("facewatch_worker_busy_seconds_total", snapshot.workerBusySeconds)
        return text.output
    }

    /// A sample value as the text format writes it: integers without a fraction, `+Inf`, `-Inf`,
    /// `NaN`, otherwise the shortest decimal that reads back as the same double.
    public static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A label value escaped for the text format: backslash, double quote and newline.
    public static func escapeLabelValue(_ value: String) -> String {
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// HELP text escaped for the text format: backslash and newline.
    public static func escapeHelp(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// Builds exposition text line by line.
private struct MetricsText {
    enum Kind: String { case counter, gauge, histogram }

    var output = ""

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        output += "# HELP \(name) \(MetricsWriter.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ value: Double, labels: [(String, String)] = []) {
        output += name + Self.labelText(labels) + " " + MetricsWriter.formatValue(value) + "\n"
    }

    mutating func sample(_ name: String, _ value: UInt64, labels: [(String, String)] = []) {
        output += name + Self.labelText(labels) + " \(value)\n"
    }

    static func labelText(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { "\($0.0)=\"\(MetricsWriter.escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
    }
}
