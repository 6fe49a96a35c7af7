import FaceRoot
import Foundation
import Logging
import Synchronization

/// The daemon's side of the `Inbox`: entries collected as the inbox reports them and handed to the
/// ingestor in batches — everything that arrived while the previous batch was being committed, up to
/// a maximum — so that a flood of small files costs few LMDB commits.
///
/// After `stop()`, no batch is handed out any more; entries reported but not taken stay in the inbox
/// directory and are found by the next start's scan.
final class InboxFeed: Sendable {
    /// The watched inbox.
    let inbox: Inbox
    /// One element whenever entries may be waiting; ends at `stop()`.
    let arrivals: AsyncStream<Void>
    private let arrival: AsyncStream<Void>.Continuation
    private let state = Mutex(State())

    private struct State {
        var waiting: [InboxEntry] = []
        var head = 0
        var stopped = false
    }

    /// Starts watching the inbox of `configuration` (its first full scan included).
    init(configuration: DaemonConfiguration, logger: Logger) throws(FileSystemError) {
        inbox = Inbox(
            directory: configuration.inbox, settleTime: .milliseconds(configuration.settleMilliseconds),
            rescanInterval: TestHooks.rescanInterval, logger: logger)
        (arrivals, arrival) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // The task holds `self` until the inbox's stream ends, which `stop()` causes.
        Task { [self] in
            for await entry in inbox.entries {
                let open = state.withLock { state -> Bool in
                    guard !state.stopped else { return false }
                    state.waiting.append(entry)
                    return true
                }
                if open { arrival.yield() }
            }
            arrival.finish()
        }
        try inbox.start()
    }

    /// The entries waiting, oldest first, at most `limit`; nil once stopped.
    func take(limit: Int) -> [InboxEntry]? {
        state.withLock { state in
            guard !state.stopped else { return nil }
            let end = min(state.waiting.count, state.head + limit)
            let batch = Array(state.waiting[state.head..<end])
            state.head = end
            if state.head == state.waiting.count {
                state.waiting.removeAll(keepingCapacity: true)
                state.head = 0
            } else if state.head > 4096 {
                state.waiting.removeFirst(state.head)
                state.head = 0
            }
            return batch
        }
    }

    /// Puts taken entries back, ahead of those waiting, to be taken again (a batch that was not
    /// taken after all); nothing once stopped.
    func putBack(_ entries: [InboxEntry]) {
        state.withLock { state in
            guard !state.stopped else { return }
            state.waiting.insert(contentsOf: entries, at: state.head)
        }
    }

    /// How many entries wait to be taken.
    var waitingCount: Int { state.withLock { $0.waiting.count - $0.head } }

    /// Tells the inbox these entries were dealt with (taken, or given up on after an error).
    func acknowledge(_ entries: [InboxEntry]) {
        for entry in entries { inbox.acknowledge(entry) }
    }

    /// Wakes the task waiting for `arrivals` although nothing arrived (the root's directories are
    /// back, so the entries waiting may be taken now).
    func nudge() {
        arrival.yield()
    }

    /// Stops watching and handing out entries.
    func stop() {
        state.withLock { $0.stopped = true }
        inbox.stop()
        arrival.finish()
    }
}
