#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceRoot
import Foundation
import Testing

@testable import FaceDaemon

/// The metrics file: swift-prometheus's exposition of `ServiceMetrics` parsed back by a strict
/// reader written for the test, the histogram's buckets, atomic replacement.
@Suite(.timeLimit(.minutes(1))) struct MetricsWriterTests {
    static let startTime = Date(timeIntervalSince1970: 1_764_007_200.125)

    static let observations = [0.004, 0.01, 0.02, 0.3, 0.3, 0.7, 1.0, 12.5, 400]

    static func stats(total: Int = 120, created: Int = 9, completed: Int = 100, failed: Int = 11, faces: Int = 142)
        -> StatsDocument
    {
        StatsDocument(
            total: total, created: created, completed: completed, failed: failed, faces: faces, averageEncoding: [],
            imagesPerMinute: 3, updatedAt: startTime + 60)
    }

    static func busyMetrics() -> ServiceMetrics {
        let metrics = ServiceMetrics(startTime: startTime)
        for (code, count) in [(FailureCode.corruptImage, 3), (.notAnImage, 7), (.tooLarge, 1)] {
            for _ in 0..<count { metrics.count(status: .failed, error: Failure(code, "x"), engineSeconds: 0) }
        }
        for seconds in observations {
            metrics.count(status: .completed, error: nil, engineSeconds: seconds)
        }
        metrics.update(stats: stats(), workers: 2, workerBusySeconds: 61.75)
        metrics.update(
            memory: MemoryBudget.Use(budget: 1_500_000_000, reserved: 900_000_000, waiting: 2), paused: false)
        return metrics
    }

    static func text(_ metrics: ServiceMetrics) -> String {
        String(decoding: metrics.exposition(), as: UTF8.self)
    }

    @Test func everyFamilyHasHelpAndTypeBeforeItsSamples() throws {
        let exposition = try Exposition(parsing: Self.text(Self.busyMetrics()))
        let expected: [String: String] = [
            "facewatch_up": "gauge",
            "facewatch_start_time_seconds": "gauge",
            "facewatch_files_ingested_total": "counter",
            "facewatch_files_completed_total": "counter",
            "facewatch_files_failed_total": "counter",
            "facewatch_faces_total": "counter",
            "facewatch_encode_seconds": "histogram",
            "facewatch_backlog": "gauge",
            "facewatch_workers": "gauge",
            "facewatch_worker_busy_seconds_total": "counter",
            "facewatch_memory_budget_bytes": "gauge",
            "facewatch_memory_reserved_bytes": "gauge",
            "facewatch_images_waiting_for_memory": "gauge",
            "facewatch_paused": "gauge",
        ]
        #expect(exposition.types == expected)
        #expect(Set(exposition.help.keys) == Set(expected.keys))
        #expect(exposition.help.values.allSatisfy { !$0.isEmpty })
        // Every sample belongs to a family declared above it.
        for sample in exposition.samples {
            #expect(exposition.families.contains(sample.family), "\(sample.name) has no HELP/TYPE")
        }
    }

    @Test func valuesReadBack() throws {
        let exposition = try Exposition(parsing: Self.text(Self.busyMetrics()))
        #expect(exposition.value("facewatch_up") == 1)
        #expect(exposition.value("facewatch_start_time_seconds") == 1_764_007_200.125)
        #expect(exposition.value("facewatch_files_ingested_total") == 120)
        #expect(exposition.value("facewatch_files_completed_total") == 100)
        #expect(exposition.value("facewatch_faces_total") == 142)
        #expect(exposition.value("facewatch_backlog") == 9)
        #expect(exposition.value("facewatch_workers") == 2)
        #expect(exposition.value("facewatch_worker_busy_seconds_total") == 61.75)
        #expect(exposition.value("facewatch_memory_budget_bytes") == 1_500_000_000)
        #expect(exposition.value("facewatch_memory_reserved_bytes") == 900_000_000)
        #expect(exposition.value("facewatch_images_waiting_for_memory") == 2)
        #expect(exposition.value("facewatch_paused") == 0)

        // Every code is present, zero when nothing failed with it, so rate() works from the start.
        let failed = exposition.samples.filter { $0.name == "facewatch_files_failed_total" }
        #expect(failed.count == FailureCode.allCases.count)
        for code in FailureCode.allCases {
            let expected = Double([FailureCode.corruptImage: 3, .notAnImage: 7, .tooLarge: 1][code] ?? 0)
            #expect(exposition.value("facewatch_files_failed_total", ["code": code.rawValue]) == expected)
        }
    }

    @Test func histogramBucketsAreCumulative() throws {
        let exposition = try Exposition(parsing: Self.text(Self.busyMetrics()))
        let buckets = exposition.samples.filter { $0.name == "facewatch_encode_seconds_bucket" }
        let bounds = try buckets.map { try #require($0.labels["le"]) }
        #expect(bounds.last == "+Inf")
        #expect(bounds.dropLast().map { Double($0) } == ServiceMetrics.encodeSecondsBuckets)

        let counts = buckets.map(\.value)
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 }, "buckets must not decrease: \(counts)")
        // Counted by hand from the observations: le is "less than or equal".
        func count(le: Double) -> Double? {
            buckets.first { $0.labels["le"].flatMap(Double.init) == le }?.value
        }
        #expect(count(le: 0.01) == 2)  // 0.004, 0.01
        #expect(count(le: 0.025) == 3)  // + 0.02
        #expect(count(le: 0.25) == 3)
        #expect(count(le: 0.5) == 5)  // + 0.3, 0.3
        #expect(count(le: 1) == 7)  // + 0.7, 1.0
        #expect(count(le: 10) == 7)
        #expect(count(le: 30) == 8)  // + 12.5
        #expect(count(le: 300) == 8)
        #expect(count(le: .infinity) == 9)  // + 400
        #expect(exposition.value("facewatch_encode_seconds_count") == 9)
        let sum = try #require(exposition.value("facewatch_encode_seconds_sum"))
        #expect(abs(sum - Self.observations.reduce(0, +)) < 1e-9)
        #expect(abs(sum - 414.834) < 1e-9)
        // The figures the daemon publishes for `facewatch status` agree with the histogram.
        let runs = Self.busyMetrics().engineRuns
        #expect(runs.count == 9)
        #expect(abs(runs.seconds - sum) < 1e-9)
    }

    @Test func countersFollowTheLedgerAndNeverDecrease() throws {
        let metrics = Self.busyMetrics()
        metrics.update(stats: Self.stats(total: 130, created: 2, completed: 117), workers: 3, workerBusySeconds: 70)
        var exposition = try Exposition(parsing: Self.text(metrics))
        #expect(exposition.value("facewatch_files_ingested_total") == 130)
        #expect(exposition.value("facewatch_files_completed_total") == 117)
        #expect(exposition.value("facewatch_backlog") == 2)
        #expect(exposition.value("facewatch_workers") == 3)
        #expect(exposition.value("facewatch_worker_busy_seconds_total") == 70)
        // Smaller values (a document read before the last one) leave the counters where they are;
        // gauges take them.
        metrics.update(stats: Self.stats(total: 125, created: 5, completed: 110), workers: 3, workerBusySeconds: 65)
        exposition = try Exposition(parsing: Self.text(metrics))
        #expect(exposition.value("facewatch_files_ingested_total") == 130)
        #expect(exposition.value("facewatch_files_completed_total") == 117)
        #expect(exposition.value("facewatch_worker_busy_seconds_total") == 70)
        #expect(exposition.value("facewatch_backlog") == 5)
    }

    @Test func stoppedDaemonAndNothingCounted() throws {
        let metrics = ServiceMetrics(startTime: Self.startTime)
        metrics.update(
            stats: Self.stats(total: 0, created: 0, completed: 0, failed: 0, faces: 0), workers: 2,
            workerBusySeconds: 0, up: false)
        let exposition = try Exposition(parsing: Self.text(metrics))
        #expect(exposition.value("facewatch_up") == 0)
        #expect(exposition.value("facewatch_workers") == 0)
        #expect(exposition.value("facewatch_files_ingested_total") == 0)
        #expect(exposition.value("facewatch_encode_seconds_bucket", ["le": "+Inf"]) == 0)
        #expect(exposition.value("facewatch_encode_seconds_sum") == 0)
    }

    // MARK: - The file

    @Test func writesNextToStatsWithNothingElseLeftBehind() throws {
        let directory = try TemporaryDirectory()
        let writer = MetricsWriter(directory: directory.path)
        #expect(writer.path == directory.path + "/metrics.prom")

        let metrics = Self.busyMetrics()
        for round in 0..<5 {
            metrics.update(stats: Self.stats(total: 120 + round), workers: 2, workerBusySeconds: 61.75)
            try writer.write(metrics)
            #expect(try String(contentsOfFile: writer.path, encoding: .utf8) == Self.text(metrics))
            #expect(
                try Exposition(parsing: Self.text(metrics)).value("facewatch_files_ingested_total")
                    == Double(120 + round))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["metrics.prom"])
    }

    @Test func modeIsSetWhateverTheUmask() throws {
        let directory = try TemporaryDirectory()
        // 0666 is wider than any umask lets open(2) create: only the explicit fchmod gives it.
        let wide = MetricsWriter(path: directory.path + "/wide.prom", mode: 0o666)
        try wide.write(ServiceMetrics(startTime: Self.startTime))
        #expect(try permissions(wide.path) == 0o666)

        let standard = MetricsWriter(directory: directory.path)
        try standard.write(ServiceMetrics(startTime: Self.startTime))
        #expect(try permissions(standard.path) == 0o644)
    }

    @Test func replacesTheFileInsteadOfRewritingIt() throws {
        let directory = try TemporaryDirectory()
        let writer = MetricsWriter(directory: directory.path)
        let first = ServiceMetrics(startTime: Self.startTime)
        try writer.write(first)

        // A reader that opened the old file keeps reading the old file, whole: the new one is a
        // different inode renamed over it, never the old one truncated and rewritten.
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: writer.path))
        defer { try? reader.close() }
        let oldInode = try inode(writer.path)
        let busy = Self.busyMetrics()
        try writer.write(busy)
        #expect(try inode(writer.path) != oldInode)
        let oldText = String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self)
        #expect(oldText == Self.text(first))
        #expect(try String(contentsOfFile: writer.path, encoding: .utf8) == Self.text(busy))
    }

    @Test func concurrentReadersNeverSeeAPartialFile() async throws {
        let directory = try TemporaryDirectory()
        let writer = MetricsWriter(directory: directory.path)
        try writer.write(ServiceMetrics(startTime: Self.startTime))
        let path = writer.path

        let sampleCount = try Exposition(parsing: Self.text(Self.busyMetrics())).samples.count
        let reads = Task.detached { () -> [String] in
            var bad: [String] = []
            for _ in 0..<400 {
                // Every read must find a whole file: parseable, every sample there.
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    bad.append("(unreadable)")
                    continue
                }
                if (try? Exposition(parsing: text))?.samples.count != sampleCount { bad.append(text) }
            }
            return bad
        }
        let metrics = Self.busyMetrics()
        for round in 0..<100 {
            // Vary the length so a torn read would show.
            metrics.update(
                stats: Self.stats(total: round % 2 == 0 ? 120 + round : 7_000_000_000_000 + round), workers: 2,
                workerBusySeconds: Double(round) + 62.5)
            try writer.write(metrics)
        }
        let bad = await reads.value
        #expect(bad.isEmpty, "partial reads: \(bad.prefix(2))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["metrics.prom"])
    }

    @Test func failuresNameThePathAndLeaveNoTemporaryFile() throws {
        let directory = try TemporaryDirectory()
        let metrics = ServiceMetrics(startTime: Self.startTime)
        let missing = MetricsWriter(path: directory.path + "/no/such/dir/metrics.prom")
        let openError = #expect(throws: FileSystemError.self) { try missing.write(metrics) }
        #expect(openError?.code == ENOENT)
        #expect(openError?.description.contains(directory.path + "/no/such/dir") == true)

        // A directory where the file should be: the rename fails, the temporary file goes away.
        try FileManager.default.createDirectory(
            atPath: directory.path + "/metrics.prom/inside", withIntermediateDirectories: true)
        let blocked = MetricsWriter(directory: directory.path)
        let renameError = #expect(throws: FileSystemError.self) { try blocked.write(metrics) }
        #expect(renameError?.operation == "rename")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["metrics.prom"])
    }
}

// MARK: - Helpers

private func permissions(_ path: String) throws -> mode_t {
    var info = stat()
    guard stat(path, &info) == 0 else { throw CocoaError(.fileReadNoSuchFile) }
    return info.st_mode & 0o7777
}

private func inode(_ path: String) throws -> ino_t {
    var info = stat()
    guard stat(path, &info) == 0 else { throw CocoaError(.fileReadNoSuchFile) }
    return info.st_ino
}

/// A fresh directory, removed with everything in it when the value goes away.
private final class TemporaryDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "facewatch-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A strict reader of the Prometheus text format, written for the tests: it rejects what the format
/// does not allow rather than guessing.
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
        /// The metric family: the name without a histogram's `_bucket`, `_sum` or `_count`.
        var family: String
    }

    struct Malformed: Error, CustomStringConvertible {
        var line: String
        var reason: String
        var description: String { "\(reason): \(line)" }
    }

    var help: [String: String] = [:]
    var types: [String: String] = [:]
    var families: [String] = []
    var samples: [Sample] = []

    init(parsing text: String) throws {
        guard text.hasSuffix("\n") else { throw Malformed(line: String(text.suffix(40)), reason: "no final newline") }
        for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2, help[parts[0]] == nil else {
                    throw Malformed(line: line, reason: "bad or repeated HELP")
                }
                help[parts[0]] = parts[1]
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ").map(String.init)
                guard parts.count == 2, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[1]),
                    types[parts[0]] == nil
                else { throw Malformed(line: line, reason: "bad or repeated TYPE") }
                guard !samples.contains(where: { $0.family == parts[0] }) else {
                    throw Malformed(line: line, reason: "TYPE after the family's samples")
                }
                types[parts[0]] = parts[1]
                families.append(parts[0])
            } else if line.hasPrefix("#") {
                continue
            } else {
                samples.append(try Self.sample(line, types: types))
            }
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    private static func sample(_ line: String, types: [String: String]) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" })
        guard let first = name.first, !first.isNumber else { throw Malformed(line: line, reason: "bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let key = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
                rest = rest.dropFirst(key.count)
                guard !key.isEmpty, rest.hasPrefix("=\"") else { throw Malformed(line: line, reason: "bad label") }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let c = rest.popFirst() else {
                        throw Malformed(line: line, reason: "unterminated label value")
                    }
                    if c == "\"" { break }
                    if c == "\n" { throw Malformed(line: line, reason: "raw newline in label") }
                    if c == "\\" {
                        switch rest.popFirst() {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw Malformed(line: line, reason: "bad escape in label value")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard labels[key] == nil else { throw Malformed(line: line, reason: "repeated label") }
                labels[key] = value
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw Malformed(line: line, reason: "no space before the value") }
        let valueText = rest.dropFirst()
        let value: Double? =
            switch valueText {
            case "+Inf": .infinity
            case "-Inf": -.infinity
            case "NaN": .nan
            default: Double(valueText)
            }
        guard let value, !valueText.contains(" ") else {
            throw Malformed(line: line, reason: "bad value (or a timestamp)")
        }
        var family = name
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" { family = base }
        }
        return Sample(name: name, labels: labels, value: value, family: family)
    }
}
