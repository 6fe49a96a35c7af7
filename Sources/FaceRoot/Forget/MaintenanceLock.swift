import FaceCore
import Foundation

/// `flock` on `DB/compact.lock` of an LMDB ledger: shared by writers outside the daemon (`facewatch
/// forget`), exclusive for a compaction (`facewatch ledger compact`, or the daemon's scheduled one),
/// so that no process writes into a `data.mdb` a compaction is replacing. Released by `release()`
/// or when the process ends.
public final class MaintenanceLock: Sendable {
    /// Why the lock was not taken.
    public enum Failure: Error, Sendable {
        /// The lock file cannot be opened (the text says why).
        case cannotOpen(String)
        /// Another process holds it in the other mode.
        case busy(path: String)
    }

    private let descriptor: Int32

    /// Takes the lock without waiting.
    /// - Throws: `Failure.busy` when another process holds it in a conflicting mode; `.cannotOpen`.
    public init(_ configuration: DaemonConfiguration, exclusive: Bool) throws(Failure) {
        let path = Self.path(configuration)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o660)
        guard fd >= 0 else { throw .cannotOpen("cannot open \(path): \(systemErrorText(errno))") }
        if flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            close(fd)
            throw .busy(path: path)
        }
        descriptor = fd
    }

    /// The lock file.
    public static func path(_ configuration: DaemonConfiguration) -> String {
        (configuration.database as NSString).appendingPathComponent("compact.lock")
    }

    public func release() { close(descriptor) }
}
