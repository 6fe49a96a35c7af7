import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Synchronization

/// Inbox entries the daemon could not take (a subfolder it may not write, a file it may not read,
/// a read-only file system…): each is logged once, published for `facewatch status`
/// (`Ledger.publishRefusals`), and tried again by the inbox's periodic rescan; an entry taken later,
/// or found gone, leaves the list.
public final class IntakeRefusals: Sendable {
    /// Most entries kept (the oldest are dropped first); the log has every one.
    static let limit = 100

    private struct State {
        var refusals: [String: InboxRefusal] = [:]
        var changed = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Records a refusal; true when it is new (or its reason changed), i.e. when it should be logged.
    func refuse(_ name: String, _ error: FileSystemError, now: Date = Date()) -> Bool {
        // The operation and errno, not the paths: a retry moves towards another fresh store name, and
        // the same refusal must not be logged again for that.
        let reason = "\(error.operation): \(error.reason) (errno \(error.code))"
        return state.withLock { state in
            if let known = state.refusals[name], known.reason == reason { return false }
            state.refusals[name] = InboxRefusal(name: name, reason: reason, since: state.refusals[name]?.since ?? now)
            if state.refusals.count > Self.limit, let oldest = state.refusals.values.min(by: { $0.since < $1.since }) {
                state.refusals[oldest.name] = nil
            }
            state.changed = true
            return true
        }
    }

    /// Forgets `name` (taken, or gone); true if it was refused before.
    @discardableResult
    func clear(_ name: String) -> Bool {
        state.withLock { state in
            guard state.refusals.removeValue(forKey: name) != nil else { return false }
            state.changed = true
            return true
        }
    }

    /// Forgets the refused entries `isGone` says are no longer there (a member removed them).
    func prune(isGone: (String) -> Bool) {
        let names = state.withLock { Array($0.refusals.keys) }
        for name in names where isGone(name) { clear(name) }
    }

    /// The entries refused now, oldest first.
    public var current: [InboxRefusal] {
        state.withLock { Array($0.refusals.values) }.sorted { ($0.since, $0.name) < ($1.since, $1.name) }
    }

    /// The list if it changed since the last call (then marked unchanged), else nil.
    func takeChanges() -> [InboxRefusal]? {
        let list: [InboxRefusal]? = state.withLock { state in
            guard state.changed else { return nil }
            state.changed = false
            return Array(state.refusals.values)
        }
        return list?.sorted { ($0.since, $0.name) < ($1.since, $1.name) }
    }
}
