import Foundation

/// Waiting for an event with a deadline: the tests' only way to wait for something another thread or
/// process does. `condition` is checked at once, then every `interval`, until it holds or `timeout`
/// has passed; the result says whether it held, so a caller's `#expect` fails on a missed event
/// instead of the test hanging. The interval only bounds how late the event is noticed.

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. Blocks the calling
/// thread: for synchronous code only (a Dispatch worker, a synchronous helper). Async code uses
/// `eventually`, which suspends instead; the names differ so that a closure never picks the blocking
/// one by overload resolution.
@discardableResult
public func eventuallyBlocking(
    timeout: Duration = .seconds(120), interval: Duration = .milliseconds(20), _ condition: () throws -> Bool
) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: interval.seconds)
    }
    return try condition()
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. Suspends between
/// checks instead of blocking a thread.
@discardableResult
public func eventually(
    timeout: Duration = .seconds(120), interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    public var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
