import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Synchronization

/// The people of the daemon's stored faces (`StoredPeople`), kept up to date as records complete and
/// are forgotten, and the records whose documents must be written again because a face in them
/// changed person.
///
/// Every document write of a completed record brings the record in first (`observe`, under the
/// labeller's lock of that result), so a document is written with the people as they are after its
/// own faces joined; the other records whose faces that changed are queued for `PeopleRelabel`, which
/// writes them again under the same lock.
public final class PeopleTracker: Sendable {
    private let people: Mutex<StoredPeople>
    private let pending = Mutex<Set<UUID>>([])
    private let wakeUp: AsyncStream<Void>.Continuation
    /// Yields when records were queued.
    let wakes: AsyncStream<Void>
    /// The root's people snapshot held exactly these people at start (nothing to write yet).
    let snapshotCurrent: Bool

    public init(_ people: StoredPeople, snapshotCurrent: Bool = false) {
        self.people = Mutex(people)
        self.snapshotCurrent = snapshotCurrent
        (wakes, wakeUp) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Brings `record` in (its faces join, or replace the ones it had) and returns its faces' person
    /// slots, nil for a record that holds no face in people. The other records whose faces changed
    /// person are queued.
    public func observe(_ record: LedgerRecord) -> [PersonSlot]? {
        let (affected, slots) = people.withLock { people in (people.update(record), people.slots(of: record.id)) }
        queue(affected.subtracting([record.id]))
        return slots
    }

    /// Brings `record` in and queues every record whose faces changed person, itself included.
    func refresh(_ record: LedgerRecord) {
        queue(people.withLock { $0.update(record) })
    }

    /// Takes a forgotten record's faces out and queues the records whose faces changed person.
    func remove(_ id: UUID) {
        queue(people.withLock { $0.remove(id) })
    }

    /// The person slots of a tracked record's faces, nil for a record not tracked.
    public func slots(of id: UUID) -> [PersonSlot]? {
        people.withLock { $0.slots(of: id) }
    }

    /// The people as they are now (a copy).
    var snapshot: StoredPeople { people.withLock { $0 } }

    /// The records tracked (completed, with faces).
    var trackedIDs: [UUID] { people.withLock { Array($0.recordKeys.keys) } }

    /// How often the people changed (`StoredPeople.changes`).
    var changes: Int { people.withLock { $0.changes } }

    /// How many faces and people there are.
    var counts: (faces: Int, people: Int) { people.withLock { ($0.grouping.count, $0.grouping.peopleCount) } }

    func queue(_ ids: Set<UUID>) {
        guard !ids.isEmpty else { return }
        pending.withLock { $0.formUnion(ids) }
        wakeUp.yield()
    }

    /// Wakes the relabel without queueing anything (a periodic look at the ledger).
    func nudge() { wakeUp.yield() }

    /// The queued records, now taken off the queue.
    func takePending() -> Set<UUID> {
        pending.withLock { pending in
            defer { pending = [] }
            return pending
        }
    }
}
