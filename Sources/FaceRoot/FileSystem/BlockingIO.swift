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

    /// Runs a throwing `body` on a Dispatch thread and returns its result or throws its error.
    public static func runThrowing<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E)
        -> T
    {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
