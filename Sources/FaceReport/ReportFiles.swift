import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How the report's files are written: each to a temporary name beside it, then renamed, so a reader
/// (a browser, a web server) sees the old file or the new one, never half of one.
///
/// The report shows every member's photos and names, so its files are the writer's alone (`0600`,
/// in `0700` directories, whatever the umask): a member of the inbox group reads only their own
/// results. Each temporary name is random and created new (`O_EXCL`), so the daemon and a
/// `facewatch report` writing the same directory never truncate each other's file.
enum ReportFiles {
    /// Mode of the report's files and directories.
    static let fileMode: mode_t = 0o600
    static let directoryMode: mode_t = 0o700

    /// A report file could not be written.
    struct WriteError: Error, CustomStringConvertible {
        var description: String
    }

    /// Writes `bytes` to `path` through a temporary file and a rename; with `durable`, the file is
    /// `fsync`ed before the rename (the pages; thumbnails are remade if a crash loses one).
    static func write(_ bytes: [UInt8], to path: String, durable: Bool) throws(WriteError) {
        let random = (0..<6).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        let temporary =
            (path as NSString).deletingLastPathComponent + "/." + (path as NSString).lastPathComponent
            + ".\(random).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw failure("open", temporary) }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                written += n
            }
            return true
        }
        let synced = ok && (!durable || fsync(fd) == 0)
        let error = failure(ok ? "fsync" : "write", temporary)
        let closed = close(fd) == 0
        guard ok, synced, closed else {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let error = failure("rename", path)
            unlink(temporary)
            throw error
        }
    }

    /// Creates `path` (and its missing parents) `0700`, or makes an existing one `0700`.
    static func makePrivateDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(directoryMode)])
        guard chmod(path, directoryMode) == 0 else {
            throw failure("chmod", path)
        }
    }

    /// `fsync`s a directory, making the renames in it durable.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// The path of `target` relative to the directory `base` (both made absolute first), for links
    /// that keep working when the report and the results move together.
    static func relativePath(from base: String, to target: String) -> String {
        let baseParts = absolute(base).split(separator: "/")
        let targetParts = absolute(target).split(separator: "/")
        var common = 0
        while common < baseParts.count, common < targetParts.count, baseParts[common] == targetParts[common] {
            common += 1
        }
        let ups = Array(repeating: "..", count: baseParts.count - common)
        return (ups + targetParts[common...].map(String.init)).joined(separator: "/")
    }

    private static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (full as NSString).standardizingPath
    }

    private static func failure(_ operation: String, _ path: String) -> WriteError {
        WriteError(description: "\(operation) \(path): \(String(cString: strerror(errno)))")
    }
}
