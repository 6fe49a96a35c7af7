import Dispatch

/// Holds a value a test hands to one Dispatch thread and waits for: `@unchecked Sendable` because
/// the test does not touch it until `offTheCooperativePool` has returned, so no two threads use it
/// at once.
public final class TestOwned<Value>: @unchecked Sendable {
    public let value: Value

    public init(_ value: Value) { self.value = value }
}

/// Runs CPU-heavy synchronous work (a detector, a network) on a Dispatch thread and waits for it, so
/// that the two cooperative threads every other test shares are not held for the seconds it takes.
/// Issues are recorded by the caller afterwards, in the test's task, where they are attributed.
public func offTheCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
