import Dispatch
import Foundation
import Synchronization

/// The commit of a batch's `created` records, handed to the pipeline with the records before it is
/// made (`Pipeline.offer`): a worker reads and hashes a file while its record's commit is on its
/// way, and waits for the commit before its claim, the first thing it asks of the ledger.
///
/// Settled once, by the intake (`settle`), whether the commit succeeded or not; a worker whose
/// record it did not commit leaves the record alone (the intake records it again later, and wakes
/// the pipeline then).
public final class IntakeCommit: Sendable {
    private struct State {
        /// The ids committed; nil until the commit is settled.
        var committed: Set<UUID>?
        /// The pipeline did not take the offer before the commit was settled.
        var offerRefusedEarly = false
    }

    private let state = Mutex(State())
    /// Entered at creation, left once by `settle`: what workers wait on.
    private let settled = DispatchGroup()
    /// Makes the pipeline read its queue (`Pipeline.wake`).
    private let wake: @Sendable () -> Void
    /// Workers that have come to wait for it (`waitCommitted`).
    private let waits = Atomic<Int>(0)

    /// - Parameter wake: makes the pipeline read its queue; called by `settle` when the pipeline
    ///   refused the offer before the commit: a read it made then could not see the records.
    public init(wake: @escaping @Sendable () -> Void) {
        self.wake = wake
        settled.enter()
    }

    /// Ends the commit: `committed` holds the ids it recorded (none when it failed). Called once.
    public func settle(committed: Set<UUID>) {
        let refused = state.withLock { state -> Bool in
            precondition(state.committed == nil, "an intake commit is settled once")
            state.committed = committed
            return state.offerRefusedEarly
        }
        settled.leave()
        if refused && !committed.isEmpty { wake() }
    }

    /// Called by the pipeline when it does not take the offer (it reads its queue instead). Once
    /// the commit is settled a read sees the records; before, the read may miss them, so `settle`
    /// wakes the pipeline.
    func refuseOffer() {
        state.withLock { state in
            if state.committed == nil { state.offerRefusedEarly = true }
        }
    }

    /// How many workers have come to wait for the commit (each waits once, for its record).
    var waitCount: Int { waits.load(ordering: .acquiring) }

    /// Waits until the commit is settled; true when it recorded `id`.
    func waitCommitted(_ id: UUID) -> Bool {
        waits.add(1, ordering: .releasing)
        settled.wait()
        return state.withLock { $0.committed?.contains(id) ?? false }
    }
}
