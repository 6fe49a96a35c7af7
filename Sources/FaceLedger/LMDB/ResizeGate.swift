import Foundation

/// Lets any number of transactions of this process run at once, and a map resize run alone.
///
/// `mdb_env_set_mapsize` unmaps and remaps the file: no transaction of this process may be active while
/// it runs (lmdb.h: "the caller must ensure it explicitly"). Every transaction holds the gate shared for
/// its whole life, including the copying out of values that point into the map; a resize holds it
/// exclusively. A waiting resize stops new transactions from entering (so it cannot starve), which is why
/// a thread must never enter the gate twice: every ledger operation enters it once, and no user code runs
/// while it is held.
final class ResizeGate: @unchecked Sendable {
    // @unchecked: `active` and `waitingResizes` are only read and written with `condition` locked.
    private let condition = NSCondition()
    private var active = 0
    private var waitingResizes = 0
    private var resizing = false

    /// Enters as one of many transactions; waits while a resize is pending or running.
    func enter() {
        condition.lock()
        while resizing || waitingResizes > 0 { condition.wait() }
        active += 1
        condition.unlock()
    }

    /// Leaves after `enter()`.
    func leave() {
        condition.lock()
        active -= 1
        if active == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Runs `body` with no transaction of this process active. Must not be called between `enter()` and
    /// `leave()` on the same thread.
    func exclusively<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        condition.lock()
        waitingResizes += 1
        while active > 0 || resizing { condition.wait() }
        waitingResizes -= 1
        resizing = true
        condition.unlock()
        defer {
            condition.lock()
            resizing = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }
}
