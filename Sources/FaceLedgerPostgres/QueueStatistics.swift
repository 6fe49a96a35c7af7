import FaceLedger
import Foundation
import Synchronization

/// Keeps the planner's statistics of `records` up with a backlog that grows faster than autovacuum
/// looks (once a minute): with statistics taken while the table was nearly empty, the planner
/// expects one queued row and the queue read (`QueueHead`) reads and sorts the whole backlog on
/// every call instead of walking `records_queue` in order up to its limit (`auto_explain` during a
/// drain of 1,500 tiny files: 12 ms a call against 0.1 ms). After `insertCreated` has added at
/// least `rows` records since the last time, and at most once per `interval`, this process runs
/// `ANALYZE records` (a sample of the table: milliseconds, a few hundred on a table of millions,
/// hence the interval). A role that does not own the table gets a warning from the server and
/// nothing changes; an error is only logged.
final class QueueStatistics: Sendable {
    static let rows = 1000
    static let interval: Duration = .seconds(10)

    private let state = Mutex<(inserted: Int, last: ContinuousClock.Instant?)>((0, nil))

    /// Counts `count` inserted records; true when an ANALYZE is due now (the count then restarts).
    func inserted(_ count: Int) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.inserted += count
            guard state.inserted >= Self.rows else { return false }
            if let last = state.last, now - last < Self.interval { return false }
            state.inserted = 0
            state.last = now
            return true
        }
    }
}

extension PostgresLedger {
    /// Runs `ANALYZE records` when `queueStatistics` says it is due.
    func analyzeIfDue(inserted count: Int) {
        guard queueStatistics.inserted(count) else { return }
        do throws(LedgerError) {
            _ = try read { session throws(LedgerError) in try session.execute("ANALYZE records") }
        } catch {
            logger.notice("cannot analyze the records table: \(error)")
        }
    }
}
