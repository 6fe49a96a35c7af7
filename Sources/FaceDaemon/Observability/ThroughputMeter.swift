import Foundation
import Synchronization

/// Counts events (final results) per second over the last minute and reports a rate per minute.
///
/// Sixty one-second buckets in a ring: constant memory however many events. Before a minute has
/// passed since `start`, the rate is scaled from the time elapsed (at least one second), so a daemon
/// that finished 100 images in its first 5 seconds reports 1,200 per minute, not 100.
public final class ThroughputMeter: Sendable {
    private struct State {
        var buckets = [Int](repeating: 0, count: 60)
        var bucketSeconds = [Int64](repeating: -1, count: 60)
        var total = 0
    }

    private let state = Mutex(State())
    private let start: Date

    /// A meter whose window starts at `start`.
    public init(start: Date = Date()) {
        self.start = start
    }

    /// Counts `count` events at `date`.
    public func record(_ count: Int = 1, at date: Date = Date()) {
        let second = Int64(date.timeIntervalSince1970.rounded(.down))
        let index = Int(second % 60)
        state.withLock { state in
            if state.bucketSeconds[index] != second {
                state.bucketSeconds[index] = second
                state.buckets[index] = 0
            }
            state.buckets[index] += count
            state.total += count
        }
    }

    /// Events since the meter was made.
    public var total: Int { state.withLock { $0.total } }

    /// Events per minute over the last 60 seconds before `now`.
    public func perMinute(at now: Date = Date()) -> Double {
        let nowSecond = Int64(now.timeIntervalSince1970.rounded(.down))
        let counted = state.withLock { state in
            var sum = 0
            for index in 0..<60
            where state.bucketSeconds[index] > nowSecond - 60 && state.bucketSeconds[index] <= nowSecond {
                sum += state.buckets[index]
            }
            return sum
        }
        let window = min(60, max(1, now.timeIntervalSince(start)))
        return Double(counted) * 60 / window
    }
}
