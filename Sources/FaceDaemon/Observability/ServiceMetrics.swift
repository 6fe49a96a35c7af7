import FaceCore
import FaceLedger
import Foundation
import Prometheus
import Synchronization

/// The daemon's metrics, kept in a swift-prometheus `PrometheusCollectorRegistry` (which
/// `MetricsWriter` writes to `metrics.prom`) and consistent with the ledger.
///
/// Every file counter counts since the ledger was created, not since the process started, so a
/// restart does not reset them and they always agree with `stats.json` and `facewatch stats`:
/// - `facewatch_files_ingested_total`, `_completed_total`, `facewatch_faces_total` and the backlog
///   follow the ledger's counters (O(1)) of the `stats.json` written with them (`update`);
/// - `facewatch_files_failed_total{code}` and the `facewatch_encode_seconds` histogram are counted by
///   reading every final record once at startup (`loadBaseline(from:)`, before anything changes),
///   then adding each record made final while the daemon runs (`record(_:)`). Their failed counts add
///   up to `stats.json`'s `failed`; the histogram observes the duration of every engine run the
///   ledger recorded (deduplicated, `crashed` and not-a-regular-file records never ran the engine and
///   have none).
///
/// Only `facewatch_worker_busy_seconds_total` counts since the process started
/// (`facewatch_start_time_seconds`): it measures this process's workers. Prometheus treats its drop
/// at a restart as a counter reset.
///
/// A record made final in the instant between a `stats.json` write and its `finished` report shows
/// in the ledger counters one write before it shows in the per-code counts; the next write agrees.
public final class ServiceMetrics: Sendable {
    /// Bounds of the encode-time buckets, in seconds: from a small PNG to a 50-megapixel photo with
    /// the CNN detector.
    public static let encodeSecondsBuckets: [Double] = [
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
    ]

    /// When this daemon started (`facewatch_start_time_seconds`).
    public let startTime: Date
    /// The metric families; `MetricsWriter` emits them.
    public let registry = PrometheusCollectorRegistry()

    private let up: Gauge
    private let ingested: Counter
    private let completed: Counter
    private let failed: [FailureCode: Counter]
    private let faces: Counter
    private let encodeSeconds: ValueHistogram
    private let backlog: Gauge
    private let workers: Gauge
    private let workerBusy: Counter
    private let state = Mutex(State())

    /// What the registry's counters cannot give back: the per-code and engine totals for the
    /// daemon's published figures, and the values the ledger-following counters were last set to.
    private struct State {
        var failedByCode: [FailureCode: Int] = [:]
        var encodes = 0
        var encodeSecondsTotal = 0.0
        var ingested = 0
        var completed = 0
        var faces = 0
        var workerBusySeconds = 0.0
    }

    /// Metrics of a daemon started at `startTime`, with nothing counted yet.
    public init(startTime: Date = Date()) {
        self.startTime = startTime
        let registry = self.registry
        // Names are facewatch_<metric>[_<unit>].
        func name(_ metric: String, _ unit: String = "", help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "facewatch", metricName: metric, unitName: unit, helpText: help)
        }
        up = registry.makeGauge(
            descriptor: name("up", help: "Whether the facewatch daemon is running (1) or has stopped (0)."))
        registry.makeGauge(
            descriptor: name(
                "start_time", "seconds", help: "Start time of the daemon, in seconds since the Unix epoch.")
        )
        .set(to: startTime.timeIntervalSince1970)
        ingested = registry.makeCounter(
            descriptor: name("files_ingested", "total", help: "Files taken from the inbox."))
        completed = registry.makeCounter(
            descriptor: name("files_completed", "total", help: "Files encoded successfully, with or without faces."))
        // Every code from the start, at zero, so that rate() works from the first failure.
        var failed: [FailureCode: Counter] = [:]
        for code in FailureCode.allCases {
            failed[code] = registry.makeCounter(
                descriptor: name("files_failed", "total", help: "Files that failed, by error code."),
                labels: [("code", code.rawValue)])
        }
        self.failed = failed
        faces = registry.makeCounter(descriptor: name("faces", "total", help: "Faces found in completed files."))
        encodeSeconds = registry.makeValueHistogram(
            descriptor: name(
                "encode", "seconds", help: "Time to encode one file (decode, detect, encode), in seconds."),
            buckets: Self.encodeSecondsBuckets)
        backlog = registry.makeGauge(descriptor: name("backlog", help: "Files waiting to be encoded."))
        workers = registry.makeGauge(descriptor: name("workers", help: "Encoder workers running."))
        workerBusy = registry.makeCounter(
            descriptor: name(
                "worker_busy_seconds", "total", help: "Time workers spent encoding, summed over workers, in seconds."))
        up.set(to: 1)
    }

    /// Counts the final records already in `ledger`: failures by code and engine durations. Call it
    /// once, before any record is made final by this process (the `ledgerOpened` hook); it reads
    /// every record, in constant memory. Returns how many records it read.
    ///
    /// - Throws: what `Ledger.forEachRecord` throws.
    @discardableResult
    public func loadBaseline(from ledger: Ledger) throws -> Int {
        var records = 0
        try ledger.forEachRecord { record in
            records += 1
            count(status: record.status, error: record.error, engineSeconds: record.duration ?? 0)
        }
        return records
    }

    /// Counts a record this daemon made final.
    public func record(_ result: FinalResult) {
        count(
            status: result.record.status, error: result.record.error,
            engineSeconds: result.how == .encoded ? result.encodeSeconds : 0)
    }

    /// Sets the values that follow a `stats.json` document just written (its counts, verbatim), the
    /// encoder workers configured now and the time they have been busy; `up` false once stopped.
    public func update(stats: StatsDocument, workers: Int, workerBusySeconds: Double, up: Bool = true) {
        // The registry's counters only grow: each takes the step from the value it was last set to.
        let steps = state.withLock { state in
            defer {
                state.ingested = max(state.ingested, stats.total)
                state.completed = max(state.completed, stats.completed)
                state.faces = max(state.faces, stats.faces)
                state.workerBusySeconds = max(state.workerBusySeconds, workerBusySeconds)
            }
            return (
                ingested: max(0, stats.total - state.ingested), completed: max(0, stats.completed - state.completed),
                faces: max(0, stats.faces - state.faces), busy: max(0, workerBusySeconds - state.workerBusySeconds)
            )
        }
        ingested.increment(by: Int64(steps.ingested))
        completed.increment(by: Int64(steps.completed))
        faces.increment(by: Int64(steps.faces))
        if steps.busy > 0 { workerBusy.increment(by: steps.busy) }
        backlog.set(to: Double(max(0, stats.created)))
        self.workers.set(to: Double(up ? workers : 0))
        self.up.set(to: up ? 1 : 0)
    }

    /// Failed records by error code, so far.
    public var failedByCode: [FailureCode: Int] { state.withLock { $0.failedByCode } }

    /// Engine runs counted so far and their total seconds (the histogram's count and sum).
    public var engineRuns: (count: Int, seconds: Double) { state.withLock { ($0.encodes, $0.encodeSecondsTotal) } }

    /// The exposition text (Prometheus text format 0.0.4) of every family.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    // MARK: - Counting

    /// Counts one final record. `engineSeconds` is 0 when the engine did not run for it.
    func count(status: ResultStatus, error: Failure?, engineSeconds: Double) {
        guard status != .created else { return }
        if status == .failed {
            // The ledger gives every failed record its error; `io_error` only guards the impossible.
            let code = error?.code ?? .ioError
            state.withLock { $0.failedByCode[code, default: 0] += 1 }
            failed[code]?.increment()
        }
        if engineSeconds > 0, engineSeconds.isFinite {
            state.withLock { state in
                state.encodes += 1
                state.encodeSecondsTotal += engineSeconds
            }
            encodeSeconds.record(engineSeconds)
        }
    }
}
