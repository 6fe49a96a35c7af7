#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceCore
import Foundation

/// One daemon per root: an exclusive `flock` on `ROOT/.facewatch.lock`, held for the life of the
/// process, with the holder's pid written in the file.
///
/// The kernel drops the lock when the process exits, however it exits (`kill -9` included), so a stale
/// file never blocks a restart. The lock is taken without waiting: a second daemon learns at once that
/// the root is busy, and from whom (`RootLockError.held`).
public final class RootLock: Sendable {
    /// The lock file's name inside the root.
    public static let fileName = ".facewatch.lock"

    /// The lock file of a root.
    public static func path(inRoot root: String) -> String {
        (root as NSString).appendingPathComponent(fileName)
    }

    /// The lock file.
    public let path: String
    private let descriptor: Int32

    /// Takes the lock of `root` (creating the directory and the file if needed) and writes this
    /// process's pid into it.
    ///
    /// Throws `.held(pid:)` when another process holds it, naming that process when its pid can be
    /// read, and `.system` when the file cannot be created or locked.
    public init(root: String) throws(RootLockError) {
        let path = Self.path(inRoot: root)
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw RootLockError.system(
                path: root, operation: "create directory: \(error.localizedDescription)", code: 0)
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw RootLockError.system(path: path, operation: "open", code: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            defer { close(fd) }
            guard code == EWOULDBLOCK else { throw RootLockError.system(path: path, operation: "flock", code: code) }
            // The holder writes its pid right after locking: give it a moment if the file is still empty.
            var holder = Self.readPID(fd: fd)
            for _ in 0..<20 where holder == nil {
                usleep(5_000)
                holder = Self.readPID(fd: fd)
            }
            throw RootLockError.held(path: path, pid: holder)
        }
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0,
            text.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == text.count
        else {
            let code = errno
            close(fd)
            throw RootLockError.system(path: path, operation: "write pid", code: code)
        }
        self.path = path
        self.descriptor = fd
    }

    /// Releases the lock now (it is also released when the process exits). The pid is left in the
    /// file; it means nothing without the lock.
    public func release() {
        flock(descriptor, LOCK_UN)
    }

    deinit {
        close(descriptor)
    }

    /// The pid of the process holding the lock of `root`, or nil when no process holds it.
    ///
    /// Does not take the lock, not even for a moment (a daemon starting at that instant must not be
    /// refused). It asks the kernel through `/proc/locks` which process holds a `flock` on the file.
    /// Where `/proc/locks` cannot be read (a restricted `/proc`), it takes the pid written in the file
    /// if that process is alive and has the file open (`/proc/PID/fd`), or, without any `/proc`, if it
    /// is alive.
    public static func holder(root: String) -> Int32? {
        let path = path(inRoot: root)
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let written: Int32? = {
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            return readPID(fd: fd)
        }()
        if let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) {
            guard let pid = lockHolder(in: locks, device: UInt64(status.st_dev), inode: UInt64(status.st_ino)) else {
                return nil
            }
            return pid > 0 ? pid : written
        }
        guard let written, written > 0, kill(written, 0) == 0 || errno == EPERM else { return nil }
        let descriptors = "/proc/\(written)/fd"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: descriptors) else {
            return FileManager.default.fileExists(atPath: "/proc/self/fd") ? nil : written
        }
        let resolved = (path as NSString).resolvingSymlinksInPath
        for entry in entries {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/" + entry),
                target == path || target == resolved
            {
                return written
            }
        }
        return nil
    }

    /// Finds the pid holding a `FLOCK` on the file (`device`, `inode`) in the text of `/proc/locks`
    /// (0 when the holder is outside this pid namespace).
    package static func lockHolder(in locks: String, device: UInt64, inode: UInt64) -> Int32? {
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF": the device as major:minor in hex.
        let major = ((device & 0x0000_0000_000f_ff00) >> 8) | ((device & 0xffff_f000_0000_0000) >> 32)
        let minor = (device & 0x0000_0000_0000_00ff) | ((device & 0x0000_0fff_fff0_0000) >> 12)
        for line in locks.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.contains("FLOCK"),
                let fileIndex = fields.firstIndex(where: { $0.split(separator: ":").count == 3 }),
                fileIndex > 0
            else { continue }
            let parts = fields[fileIndex].split(separator: ":")
            guard let lockMajor = UInt64(parts[0], radix: 16), let lockMinor = UInt64(parts[1], radix: 16),
                let lockInode = UInt64(parts[2]),
                lockMajor == major, lockMinor == minor, lockInode == inode,
                let pid = Int32(fields[fileIndex - 1])
            else { continue }
            return pid
        }
        return nil
    }

    private static func readPID(fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text)
    }
}

/// Why the root lock could not be taken.
public enum RootLockError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another process holds the lock; `pid` is its process id when it could be read.
    case held(path: String, pid: Int32?)
    /// A system call failed (`code` is its errno, or 0 when `operation` says it all).
    case system(path: String, operation: String, code: Int32)

    public var description: String {
        switch self {
        case .held(let path, let pid):
            let who = pid.map { "pid \($0)" } ?? "another process (its pid is not known)"
            return "another facewatch daemon is running on this root: \(path) is held by \(who)"
        case .system(let path, let operation, let code):
            return "cannot lock \(path): \(operation)" + (code != 0 ? ": \(systemErrorText(code))" : "")
        }
    }
}
