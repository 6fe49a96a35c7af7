import FaceCore
import FaceLedger
import FaceRoot
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
/// - `facewatch_files_failed_total{code}` and the `facewatch_encode_seconds` histogram start from the
///   ledger's final tallies at startup (`loadBaseline(from:)`, one read, before anything changes),
///   then add each record made final while the daemon runs (`record(_:)`). Their failed counts add
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
    public static let encodeSecondsBuckets: [Double] = EngineTimeBuckets.bounds

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
    private let memoryBudget: Gauge
    private let memoryReserved: Gauge
    private let waitingForMemory: Gauge
    private let paused: Gauge
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
        memoryBudget = registry.makeGauge(
            descriptor: name("memory_budget", "bytes", help: "Memory the images being encoded may take at once."))
        memoryReserved = registry.makeGauge(
            descriptor: name(
                "memory_reserved", "bytes", help: "Memory reserved by the images being encoded (their estimates)."))
        waitingForMemory = registry.makeGauge(
            descriptor: name("images_waiting_for_memory", help: "Images waiting for their estimate to fit the budget."))
        paused = registry.makeGauge(
            descriptor: name(
                "paused",
                help: "1 while a store, results or db directory is away and the daemon takes and encodes nothing."))
        up.set(to: 1)
    }

    /// Sets the memory budget in use (nothing reserved or waiting once stopped) and the pause.
    public func update(memory: MemoryBudget.Use?, paused: Bool) {
        if let memory {
            memoryBudget.set(to: Double(memory.budget))
            memoryReserved.set(to: Double(memory.reserved))
            waitingForMemory.set(to: Double(memory.waiting))
        }
        self.paused.set(to: paused ? 1 : 0)
    }

    /// Counts the final records already in `ledger`: failures by code and engine durations, from
    /// the ledger's tallies (`Ledger.finalTallies`, one read however long the ledger). Call it once,
    /// before any record is made final by this process (the `ledgerOpened` hook). The histogram is
    /// refilled bucket by bucket: each bucket's runs are recorded at their mean, so every bucket's
    /// count and the sum equal the ledger's. Returns the engine runs it counted.
    ///
    /// - Throws: what `Ledger.finalTallies` throws.
    @discardableResult
    public func loadBaseline(from ledger: any Ledger) throws -> Int {
        let tallies = try ledger.finalTallies()
        state.withLock { state in
            for (code, count) in tallies.failedByCode { state.failedByCode[code, default: 0] += count }
            state.encodes += tallies.engineRuns
            state.encodeSecondsTotal += tallies.engineSeconds
        }
        for (code, count) in tallies.failedByCode where count > 0 {
            failed[code]?.increment(by: Int64(count))
        }
        let bounds = EngineTimeBuckets.bounds
        for (index, bucket) in tallies.buckets.enumerated() where bucket.count > 0 {
            // The mean of runs in (lower, upper] lies in it too; rounding must not push it out.
            var mean = bucket.seconds / Double(bucket.count)
            if index < bounds.count { mean = min(mean, bounds[index]) }
            for _ in 0..<bucket.count { encodeSeconds.record(mean) }
        }
        return tallies.engineRuns
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
        if !up {
            memoryReserved.set(to: 0)
            waitingForMemory.set(to: 0)
        }
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
