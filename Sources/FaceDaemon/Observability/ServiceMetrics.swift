import FaceCore
import FaceLedger
import Foundation
import Synchronization

/// The values of `metrics.prom`, kept consistent with the ledger.
///
/// Every file counter counts since the ledger was created, not since the process started, so a
/// restart does not reset them and they always agree with `stats.json` and `facewatch stats`:
/// - `facewatch_files_ingested_total`, `_completed_total`, `facewatch_faces_total` and the backlog
///   come from the same ledger counters (O(1)) as the `stats.json` written with them;
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
    private struct State {
        var failedByCode: [FailureCode: UInt64] = [:]
        var encodeSeconds = MetricsHistogram()
    }

    /// When this daemon started (`facewatch_start_time_seconds`).
    public let startTime: Date
    private let state = Mutex(State())

    /// Metrics of a daemon started at `startTime`, with nothing counted yet.
    public init(startTime: Date = Date()) {
        self.startTime = startTime
    }

    /// Counts the final records already in `ledger`: failures by code and engine durations. Call it
    /// once, before any record is made final by this process (the `ledgerOpened` hook); it reads
    /// every record, in constant memory. Returns how many records it read.
    @discardableResult
    public func loadBaseline(from ledger: Ledger) throws -> Int {
        var records = 0
        try ledger.forEachRecord { record in
            records += 1
            state.withLock { state in
                Self.count(status: record.status, error: record.error, engineSeconds: record.duration ?? 0, into: &state)
            }
        }
        return records
    }

    /// Counts a record this daemon made final.
    public func record(_ result: FinalResult) {
        state.withLock { state in
            Self.count(
                status: result.record.status, error: result.record.error,
                engineSeconds: result.how == .encoded ? result.encodeSeconds : 0, into: &state)
        }
    }

    /// Failed records by error code, so far.
    public var failedByCode: [FailureCode: UInt64] { state.withLock { $0.failedByCode } }

    /// The metrics for a `stats.json` document just written (its counts, verbatim), the encoder
    /// workers configured now and the time they have been busy.
    public func snapshot(stats: StatsDocument, workers: Int, workerBusySeconds: Double, up: Bool = true) -> MetricsSnapshot {
        var snapshot = MetricsSnapshot(up: up, startTime: startTime)
        snapshot.filesIngested = UInt64(max(0, stats.total))
        snapshot.filesCompleted = UInt64(max(0, stats.completed))
        snapshot.faces = UInt64(max(0, stats.faces))
        snapshot.backlog = UInt64(max(0, stats.created))
        snapshot.workers = workers
        snapshot.workerBusySeconds = workerBusySeconds
        state.withLock { state in
            snapshot.filesFailed = state.failedByCode
            snapshot.encodeSeconds = state.encodeSeconds
        }
        return snapshot
    }

    // MARK: - Counting

    /// Counts one final record. `engineSeconds` is 0 when the engine did not run for it.
    private static func count(status: ResultStatus, error: Failure?, engineSeconds: Double, into state: inout State) {
        guard status != .created else { return }
        if status == .failed {
            // The ledger gives every failed record its error; `io_error` only guards the impossible.
            state.failedByCode[error?.code ?? .ioError, default: 0] += 1
        }
        if engineSeconds > 0 {
            state.encodeSeconds.observe(engineSeconds)
        }
    }
}
