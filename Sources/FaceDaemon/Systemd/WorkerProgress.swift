import Foundation

/// The watchdog's question, "are the workers making progress?", answered from what the pipeline
/// reports (`PipelineActivity`).
///
/// Yes when:
/// - nothing is being encoded (an idle daemon is a healthy one), or
/// - some record was made final since the previous check (work flows, even if one worker is slow), or
/// - the longest-running encode started less than `stuckAfter` ago.
///
/// So the answer turns to no only when files are on the workers, none has finished since the last
/// check, and the oldest has been running for `stuckAfter` or more: the workers are stuck (a hung
/// decoder, a deadlock), or one file takes longer than the watchdog allows, which the service
/// treats the same way. Before the pipeline runs (`nil` activity) the answer is yes: startup and
/// shutdown have their own timeouts.
public struct WorkerProgress: Sendable {
    /// How long one encode may run, with nothing else finishing, before the workers count as stuck.
    public let stuckAfter: TimeInterval
    private var lastFinished: Int?

    /// A check that calls encodes running `stuckAfter` seconds or more without progress stuck.
    public init(stuckAfter: TimeInterval) {
        self.stuckAfter = stuckAfter
    }

    /// Whether the workers made progress, given what the pipeline reports `now`. Remembers the
    /// number of finished records for the next check.
    public mutating func check(_ activity: PipelineActivity?, now: Date = Date()) -> Bool {
        guard let activity else { return true }
        let previous = lastFinished
        lastFinished = activity.finished
        if activity.encoding == 0 { return true }
        if let previous, activity.finished > previous { return true }
        guard let oldest = activity.oldestEncodingStart else { return true }
        return now.timeIntervalSince(oldest) < stuckAfter
    }
}
