import FaceCore
import Glibc

/// Tells the next start whether this process died of a fault of its own (a crash in the engine, an
/// abort, the systemd watchdog's SIGABRT) or was killed from outside (`kill -9`, the OOM killer,
/// power loss), which crash attribution charges differently (`Ledger.beginRun`).
///
/// `arm` opens `ROOT/.facewatch.run` (emptied) and installs handlers for SIGSEGV, SIGBUS, SIGILL,
/// SIGFPE and SIGABRT that write `crashed` into it with `write(2)` (async-signal-safe: the descriptor
/// and the bytes are prepared beforehand), then restore the handler that was there before and raise
/// the signal again, so the process still dies as it would have (with the runtime's backtrace).
public enum CrashMarker {
    /// The file's name in the root.
    public static let fileName = ".facewatch.run"
    private static let signals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT]
    private static let message = Array("crashed\n".utf8)

    // Written once by `arm` before any handler is installed, then only read (by the handlers).
    nonisolated(unsafe) private static var descriptor: Int32 = -1
    nonisolated(unsafe) private static var bytes: UnsafeMutablePointer<UInt8>?
    nonisolated(unsafe) private static var previous: UnsafeMutablePointer<sigaction>?

    /// Whether the previous process on `root` died of a fault (read before `arm` empties the file).
    public static func previousRunCrashed(root: String) -> Bool {
        let path = root + "/" + fileName
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return text.contains("crashed")
    }

    /// Prepares the marker for this process and installs the handlers, from the daemon (never from a
    /// client command). Failure to open the file only loses the distinction. A later call (a second
    /// daemon started in the same process, as the tests do) only moves the marker to its root: the
    /// handlers are installed once, so the one they restore is never their own.
    public static func arm(root: String) {
        let path = root + "/" + fileName
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let old = descriptor
        descriptor = fd
        if old >= 0 { close(old) }
        guard previous == nil else { return }
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: message.count)
        buffer.initialize(from: message, count: message.count)
        bytes = buffer
        let saved = UnsafeMutablePointer<sigaction>.allocate(capacity: Int(NSIG))
        saved.initialize(repeating: sigaction(), count: Int(NSIG))
        previous = saved
        for number in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                if CrashMarker.descriptor >= 0, let bytes = CrashMarker.bytes {
                    _ = write(CrashMarker.descriptor, bytes, 8)
                }
                if let previous = CrashMarker.previous {
                    _ = sigaction(number, previous + Int(number), nil)
                }
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            _ = sigaction(number, &action, saved + Int(number))
        }
    }
}
