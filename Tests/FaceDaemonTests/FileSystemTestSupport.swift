import FaceRoot
import Foundation
import Glibc
import FaceTestSupport
import Synchronization
import Testing
@testable import FaceDaemon

/// Real files for the DurableFile, Store and Inbox tests: a fresh directory under /tmp, removed at
/// the end, and small helpers that make entries of every kind with plain system calls.
final class FileSystemScratch {
    let path: String

    init(_ label: String = "fs") {
        var template = Array("/tmp/facewatch-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(errno)")
        path = FileSystemTestSupport.string(template)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ relative: String) -> String { "\(path)/\(relative)" }

    /// Creates `relative` (and its parents) as a directory; returns its path.
    @discardableResult
    func directory(_ relative: String) -> String {
        let full = sub(relative)
        try! FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }
}

enum FileSystemTestSupport {
    /// The text of a NUL-terminated C buffer (as `mkdtemp` fills it).
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes `bytes` to `path` in place (open, write, close), like `cp`.
    static func write(_ path: String, _ bytes: [UInt8], append: Bool = false) {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
        precondition(fd >= 0, "open \(path): \(errno)")
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            precondition(n > 0, "write \(path): \(errno)")
            offset += n
        }
        close(fd)
    }

    static func write(_ path: String, _ text: String) { write(path, Array(text.utf8)) }

    static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// Sets a file's mtime (and atime) `secondsAgo` in the past, without following a symlink.
    static func age(_ path: String, secondsAgo: Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var times = [
            timespec(tv_sec: now.tv_sec - secondsAgo, tv_nsec: 0),
            timespec(tv_sec: now.tv_sec - secondsAgo, tv_nsec: 0),
        ]
        precondition(utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0, "utimensat \(path): \(errno)")
    }

    static func lstatOrNil(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    static func kind(_ path: String) -> FileKind? {
        lstatOrNil(path).map { FileKind(mode: $0.st_mode) }
    }

    static func exists(_ path: String) -> Bool { lstatOrNil(path) != nil }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Binds a Unix stream socket at `path` (creating the socket entry), then closes the descriptor;
    /// the entry stays.
    static func makeSocket(_ path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        precondition(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        precondition(result == 0, "bind \(path): \(errno)")
    }

    /// Names in a directory, sorted.
    static func names(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }
}

/// A tmpfs mounted for one test (we run as root), so a move between it and /tmp crosses file
/// systems. Falls back to /dev/shm when mounting is not allowed and /dev/shm is another file system.
final class SecondFileSystem {
    /// A directory on a file system other than /tmp's.
    let path: String
    private let mountPoint: String?

    private init(path: String, mountPoint: String?) {
        self.path = path
        self.mountPoint = mountPoint
    }

    /// Why no second file system is available, or nil if one is.
    static let unavailableReason: String? = {
        guard let probe = make() else {
            return "cannot mount a tmpfs here and /dev/shm is on the same file system as /tmp"
        }
        _ = probe
        return nil
    }()

    static func make() -> SecondFileSystem? {
        var template = Array("/tmp/facewatch-mnt-XXXXXX".utf8CString)
        if template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil {
            let point = FileSystemTestSupport.string(template)
            if mount("tmpfs", point, "tmpfs", 0, "size=64m") == 0 {
                return SecondFileSystem(path: point, mountPoint: point)
            }
            rmdir(point)
        }
        var shm = stat()
        var tmp = stat()
        if stat("/dev/shm", &shm) == 0, stat("/tmp", &tmp) == 0, shm.st_dev != tmp.st_dev {
            var template = Array("/dev/shm/facewatch-XXXXXX".utf8CString)
            if template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil {
                return SecondFileSystem(path: FileSystemTestSupport.string(template), mountPoint: nil)
            }
        }
        return nil
    }

    deinit {
        if let mountPoint {
            umount2(mountPoint, Int32(MNT_DETACH))
            rmdir(mountPoint)
        } else {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

/// Collects what an ``Inbox`` reports, as a consumer would.
final class InboxRecorder: Sendable {
    private let received = Mutex<[InboxEntry]>([])
    private let finished = Mutex(false)

    init(_ inbox: Inbox) {
        let stream = inbox.entries
        Task { [self] in
            for await entry in stream { received.withLock { $0.append(entry) } }
            finished.withLock { $0 = true }
        }
    }

    /// Names of the tests' marker files: reported like any file, left out of `entries`.
    static let markerPrefix = "zz-marker-"

    /// What the inbox reported, markers left out.
    var entries: [InboxEntry] { received.withLock { $0 }.filter { !$0.name.hasPrefix(Self.markerPrefix) } }
    var names: [String] { entries.map(\.name) }
    var isFinished: Bool { finished.withLock { $0 } }

    /// Waits until `condition` holds (checked every 10 ms) or `timeout` passes; returns whether it held.
    @discardableResult
    func wait(timeout: Duration = .seconds(10), until condition: ([InboxEntry]) -> Bool) async -> Bool {
        await eventually(timeout: timeout) { condition(entries) }
    }

    /// Waits until at least `count` entries arrived.
    @discardableResult
    func wait(forCount count: Int, timeout: Duration = .seconds(10)) async -> Bool {
        await wait(timeout: timeout) { $0.count >= count }
    }

    /// Waits for the marker named `name`; returns its entry.
    func wait(forMarker name: String, timeout: Duration) async -> InboxEntry? {
        _ = await eventually(timeout: timeout) { received.withLock { $0 }.contains { $0.name == name } }
        return received.withLock { $0 }.first { $0.name == name }
    }

    /// Waits for an entry named `name`; returns it.
    func wait(for name: String, timeout: Duration = .seconds(10)) async -> InboxEntry? {
        await wait(timeout: timeout) { $0.contains { $0.name == name } }
        return entries.first { $0.name == name }
    }
}
