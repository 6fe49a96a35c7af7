#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch

/// Delivers Unix signals as an async sequence instead of running code in a signal handler.
///
/// The signals are ignored at the process level (so their default action — termination — does not
/// happen) and watched with Dispatch signal sources, which read them safely outside handler context.
public enum SignalHandling {
    /// A stream of the given signals as they arrive. Finishing the stream stops watching them (their
    /// disposition stays "ignored").
    public static func signals(_ numbers: [Int32]) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .unbounded)
        let queue = DispatchQueue(label: "facewatch.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in numbers {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        let retained = SignalSources(sources)
        continuation.onTermination = { _ in retained.cancel() }
        return stream
    }

    /// A signal's usual name (`SIGTERM`), for logs.
    public static func name(_ number: Int32) -> String {
        switch number {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGHUP: "SIGHUP"
        case SIGQUIT: "SIGQUIT"
        case SIGUSR1: "SIGUSR1"
        case SIGUSR2: "SIGUSR2"
        default: "signal \(number)"
        }
    }
}

/// Keeps the Dispatch sources alive as long as the stream and cancels them when it ends.
private final class SignalSources: @unchecked Sendable {
    // @unchecked Sendable: Dispatch's source types are not marked Sendable, but the array is never
    // mutated after init and the only call made on the sources, `cancel()`, is thread-safe in Dispatch.
    private let sources: [any DispatchSourceSignal]

    init(_ sources: [any DispatchSourceSignal]) {
        self.sources = sources
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
