import FaceCore
import FaceRoot
import Foundation

/// Waits for the result documents of submitted images (`facewatch submit --wait`).
///
/// Polls `results/<uuid>.json` (written atomically by the daemon after the final commit, so a file
/// that exists is whole). Polling keeps the client independent of inotify limits and works on any
/// file system the results directory may be on.
public struct ResultWaiter: Sendable {
    /// The results directory.
    public let directory: String
    /// Time between two looks.
    public let pollInterval: Duration

    public init(directory: String, pollInterval: Duration = .milliseconds(100)) {
        self.directory = directory
        self.pollInterval = pollInterval
    }

    /// Calls `found` for each id's document as it appears (in the order they appear) and `progress`
    /// with (done, total) whenever the count changes. Returns the ids still without a document when
    /// `timeout` (seconds, nil = forever) ran out, or an empty array when all were found.
    public func wait(
        for ids: [UUID], timeout: Double?,
        progress: (Int, Int) -> Void = { _, _ in },
        found: (UUID, ResultDocument) -> Void
    ) async -> [UUID] {
        var pending = ids
        let deadline = timeout.map { ContinuousClock.now + .milliseconds(Int($0 * 1000)) }
        var lastReported = -1
        while true {
            var stillPending: [UUID] = []
            for id in pending {
                if let document = ResultFiles.read(id: id, in: directory), document.status != .created {
                    found(id, document)
                } else {
                    stillPending.append(id)
                }
            }
            pending = stillPending
            let done = ids.count - pending.count
            if done != lastReported {
                progress(done, ids.count)
                lastReported = done
            }
            if pending.isEmpty { return [] }
            if let deadline, ContinuousClock.now >= deadline { return pending }
            try? await Task.sleep(for: pollInterval)
        }
    }
}
