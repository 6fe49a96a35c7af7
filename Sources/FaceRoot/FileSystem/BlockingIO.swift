import Dispatch

/// Runs blocking work (file-system calls, `fsync`, LMDB commits) on Dispatch threads instead of
/// Swift's cooperative pool, which has one thread per core and must never wait on a disk.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "facewatch.blocking-io", qos: .utility, attributes: .concurrent)

    /// Runs `body` on a Dispatch thread and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }

    /// Runs a throwing `body` on a Dispatch thread and returns its value or its error as a `Result`.
    public static func runCatching<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async
        -> Result<T, E>
    {
        await withCheckedContinuation { continuation in
            queue.async {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
    }

    /// Runs a throwing `body` on a Dispatch thread and returns its result or throws its error.
    ///
    /// - Throws: what `body` throws.
    public static func runThrowing<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E)
        -> T
    {
        try await runCatching(body).get()
    }
}
