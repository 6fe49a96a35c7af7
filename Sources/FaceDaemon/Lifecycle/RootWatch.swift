import FaceRoot
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Whether the root's directories are the ones the ledger describes (`DirectoryIdentity`), and so
/// whether the daemon may take and encode files: the pause switch the ingest loop and the pipeline
/// consult.
///
/// `RootWatchService` reads the markers once a second; the pipeline reads them at once when a file
/// cannot be opened (`recheck`), so that a file in a store that just went away is not failed.
public final class RootWatch: Sendable {
    private struct State {
        /// Why the daemon is paused; nil while it works.
        var reason: String?
        /// Tasks waiting for the directories to come back (`waitUntilWorking`), by waiter number.
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let identity: DirectoryIdentity?
    private let state: Mutex<State>

    /// A watch over `identity`'s directories, paused from the start when `problems` is not empty.
    /// Without an identity (tests of the pipeline alone) it never pauses.
    public init(identity: DirectoryIdentity?, problems: [DirectoryIdentity.Problem] = []) {
        self.identity = identity
        state = Mutex(State(reason: problems.isEmpty ? nil : DirectoryIdentity.describe(problems)))
    }

    /// Why the daemon takes and encodes nothing now, or nil when it works.
    public var pausedReason: String? { state.withLock { $0.reason } }

    /// Reads the markers now and returns why the daemon must pause (nil: it may work). A reading
    /// that finds the directories back resumes every `waitUntilWorking`.
    @discardableResult
    public func recheck() -> String? {
        guard let identity else { return nil }
        let problems = identity.check()
        let reason = problems.isEmpty ? nil : DirectoryIdentity.describe(problems)
        let resumed = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.reason = reason
            guard reason == nil else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in resumed { waiter.resume() }
        return reason
    }

    /// Returns once a reading (`recheck`, the service's or anyone's) finds the directories back, at
    /// once when the daemon is not paused, or when the calling task is cancelled.
    public func waitUntilWorking() async {
        let number = state.withLock { state -> UInt64 in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    guard state.reason != nil, !Task.isCancelled else { return true }
                    state.waiters[number] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: number) }?.resume()
        }
    }
}

/// Reads the root's markers once a second while the daemon runs and acts on each change: logs it,
/// tells the hooks (systemd `STATUS=`, `facewatch status`), wakes the pipeline when the directories
/// are back; and, while all is well, writes the result documents the pipeline owes.
struct RootWatchService: Service {
    let daemon: Daemon
    let parts: Daemon.Parts

    /// How often the markers are read.
    static let interval = Duration.seconds(1)

    func run() async {
        let (watch, pipeline, logger, hooks) = (parts.watch, parts.pipeline, daemon.logger, daemon.hooks)
        let stats = parts.stats
        if let reason = watch.pausedReason {
            logger.warning("paused: taking and encoding no files until this is fixed: \(reason)")
            hooks.paused(reason)
            stats.markDirty()
        }
        await cancelWhenGracefulShutdown {
            var announced = watch.pausedReason
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.interval)
                let reason = await BlockingIO.run { watch.recheck() }
                if reason != announced {
                    if let reason {
                        logger.warning("paused: taking and encoding no files until this is fixed: \(reason)")
                    } else {
                        logger.notice("resumed: the store, results and db directories are back")
                        pipeline.wake()
                    }
                    announced = reason
                    hooks.paused(reason)
                    // stats.json, metrics.prom and the figures of `facewatch status` say it too.
                    stats.markDirty()
                }
                if reason == nil { await pipeline.writeOwedDocuments() }
                // Stored files whose commit failed are committed again as soon as the ledger takes them.
                let ingestor = parts.ingestor
                if ingestor.unrecorded.count > 0, !(await BlockingIO.run { ingestor.recordPending() }).isEmpty {
                    pipeline.wake()
                }
            }
        }
    }
}
