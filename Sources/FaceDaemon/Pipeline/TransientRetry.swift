#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceCore
import Foundation

/// Errors that pass, and how long to wait before trying again.
///
/// An `io_error` whose `errno` is transient is never recorded as a file's final result: the record
/// stays `created` and is tried again after a backoff (1 s, doubling, at most 60 s), for as long as
/// it takes. Transient are the errors that say something about the machine at this moment rather
/// than about the file:
/// - `EMFILE`, `ENFILE`: out of file descriptors (this process, the system);
/// - `ENOMEM`, `EAGAIN`, `EINTR`, `EBUSY`: out of memory or a resource busy for now (`ENOMEM` a few
///   times only: a file that makes a library fail an allocation on `outOfMemoryTries` tries in a
///   row, about two minutes, is failed `out_of_memory`, so that one that always does is not tried
///   for ever);
/// - `EIO`: the device failed the read (a disk or network hiccup; a really bad sector keeps the
///   file waiting, with a log line per try, rather than failing it for good);
/// - `ESTALE`, `ETIMEDOUT`, `ENOTCONN`, `EHOSTDOWN`, `EHOSTUNREACH`, `ENETDOWN`, `ENETUNREACH`,
///   `ENOLINK`, `ECOMM`, `EREMOTEIO`: a network file system that lost its server;
/// - `ENOSPC`, `EDQUOT`: a full disk or quota (facewatch writes nothing into the file it reads, but
///   a full disk stops the result and the ledger as well);
/// - `ENODEV`, `ENXIO` on a regular file: a device gone away (an unplugged disk).
/// Any other `errno` (`EACCES`, `EPERM`, `ELOOP`, `ENAMETOOLONG`...) describes the file and is
/// recorded. `ENOENT` is transient only while a root directory is away (see `DirectoryIdentity`):
/// a store file missing from a store that is in place is final.
public enum TransientRetry {
    /// The `errno` values retried.
    public static let transientErrors: Set<Int32> = [
        EMFILE, ENFILE, ENOMEM, EAGAIN, EINTR, EBUSY, EIO, ESTALE, ETIMEDOUT, ENOTCONN, EHOSTDOWN, EHOSTUNREACH,
        ENETDOWN, ENETUNREACH, ENOLINK, ECOMM, EREMOTEIO, ENOSPC, EDQUOT, ENODEV, ENXIO,
    ]

    /// Whether `failure` is one to retry rather than record.
    public static func isTransient(_ failure: Failure) -> Bool {
        guard failure.code == .ioError, let code = failure.systemError else { return false }
        return transientErrors.contains(code)
    }

    /// Tries in a row that may end in `ENOMEM` before the file is failed `out_of_memory`: with the
    /// waits between them (1, 2, 4... 60 s) about two minutes.
    public static let outOfMemoryTries = 8

    /// The final failure of a file whose try `tries` (counting the first) ended in `failure`, when
    /// that is an `ENOMEM` on the last try allowed; nil otherwise.
    public static func outOfMemoryFailure(_ failure: Failure, tries: Int) -> Failure? {
        guard failure.code == .ioError, failure.systemError == ENOMEM, tries >= outOfMemoryTries else { return nil }
        return Failure(.outOfMemory, "\(failure.message) (on each of \(tries) tries)")
    }

    /// First wait, in seconds.
    static let firstDelay: Double = 1
    /// Longest wait, in seconds.
    static let maxDelay: Double = 60

    /// The wait before try `retry` (1 for the first retry): 1 s, 2 s, 4 s... at most 60 s.
    public static func delay(retry: Int) -> Double {
        min(maxDelay, firstDelay * pow(2, Double(max(0, min(retry - 1, 16)))))
    }
}

/// `ENOMEM` failures in a row, by record: what `TransientRetry.outOfMemoryTries` is counted against.
struct OutOfMemoryTries {
    private var counts: [UUID: Int] = [:]

    /// `result` as the file's result: an `ENOMEM` on the last try allowed becomes `out_of_memory`
    /// (final); anything but an `ENOMEM` ends the count.
    mutating func settle<Success>(_ id: UUID, _ result: Result<Success, Failure>) -> Result<Success, Failure> {
        guard case .failure(let failure) = result, failure.code == .ioError, failure.systemError == ENOMEM else {
            counts[id] = nil
            return result
        }
        let tries = counts[id, default: 0] + 1
        counts[id] = tries
        guard let final = TransientRetry.outOfMemoryFailure(failure, tries: tries) else { return result }
        counts[id] = nil
        return .failure(final)
    }
}
