import FaceCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The on-disk form of a `FaceTable`: a 64-byte header (`FWFTABL1`, rows, the stamp), the rows'
/// float32 components (little-endian, contiguous), then per row the result's UUID (16 bytes) and the
/// face's index (u32). Written whole to a temporary name, fsynced and renamed, so a reader sees a
/// whole table or none.
public enum FaceTableFile {
    /// The table's file name inside the ledger directory.
    public static let fileName = "face-table.f32"
    static let magic = Array("FWFTABL1".utf8)
    static let headerSize = 64

    /// What can go wrong reading or writing the file.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The file of the table of a ledger shared by several hosts (PostgreSQL), kept by each host in
    /// its cache directory: named by a digest of `ledger` (its location without a password), so
    /// that a root that changes ledgers never catches one's table up from another's log.
    public static func cachePath(directory: String, ledger: String) -> String {
        let key = SHA256.hex(Array(ledger.utf8)).prefix(16)
        return (directory as NSString).appendingPathComponent("face-table-\(key).f32")
    }

    /// Removes every cached table in `directory` (`cachePath`), made durable; the error, if any.
    /// A forget calls it: the tables hold every completed face, the forgotten ones' bytes too.
    public static func removeCached(in directory: String) -> String? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        var removed = false
        for name in names where name.hasPrefix("face-table-") && name.hasSuffix(".f32") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard unlink(path) == 0 || errno == ENOENT else {
                return "cannot remove \(path): \(String(cString: strerror(errno)))"
            }
            removed = true
        }
        guard removed else { return nil }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return "cannot open \(directory): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        return fsync(fd) == 0 ? nil : "cannot sync \(directory): \(String(cString: strerror(errno)))"
    }

    /// The table at `path`, mapped into memory (`MappedFaceTable`), or nil when there is none or it
    /// is not a whole table.
    public static func read(_ path: String) -> FaceTable? {
        // Non-blocking: a fifo planted at the name is refused below, not waited on.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        // The mapping outlives the descriptor.
        defer { close(fd) }
        var status = stat()
        var header = [UInt8](repeating: 0, count: headerSize)
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size >= headerSize,
            readFully(fd, &header, headerSize) == headerSize, Array(header.prefix(8)) == magic
        else { return nil }
        // The header's row count is checked against the file's size before anything is sized from
        // it: a corrupt count must give "no table", not an overflow trap or a mapping read past the
        // file's end.
        let rowBytes = UInt64(FaceTable.dimensions * 4 + 20)
        let declared = header.loadLE(at: 8)
        let body = UInt64(status.st_size) - UInt64(headerSize)
        guard declared <= body / rowBytes, declared * rowBytes == body, let length = Int(exactly: status.st_size),
            let mapped = MappedFaceTable(descriptor: fd, length: length, headerSize: headerSize, rows: Int(declared))
        else { return nil }
        let stamp = FaceTable.Stamp(faces: header.loadLE(at: 16), logPosition: header.loadLE(at: 24))
        return FaceTable(mapped: mapped, stamp: stamp)
    }

    /// Writes `table` to `path` atomically (temporary file in the same directory, fsync, rename).
    /// The temporary name is random and created new (`O_EXCL | O_NOFOLLOW`): nothing already at a
    /// name, a symlink planted there included, is ever opened or truncated.
    ///
    /// - Throws: `Failure` when the file cannot be written (e.g. a read-only ledger directory).
    public static func write(_ table: FaceTable, to path: String) throws(Failure) {
        let temporary = path + ".\(Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var ok = true
        var header = [UInt8](repeating: 0, count: headerSize)
        header.replaceSubrange(0..<8, with: magic)
        header.storeLE(UInt64(table.count), at: 8)
        header.storeLE(table.stamp.faces, at: 16)
        header.storeLE(table.stamp.logPosition, at: 24)
        ok = ok && header.withUnsafeBytes { writeFully(fd, $0.baseAddress!, $0.count) }
        ok = ok && table.withComponents { $0.isEmpty || writeFully(fd, $0.baseAddress!, $0.count * 4) }
        var tail = [UInt8]()
        tail.reserveCapacity(table.count * 20)
        for row in 0..<table.count {
            let reference = table.reference(at: row)
            withUnsafeBytes(of: reference.id.uuid) { tail.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(reference.face).littleEndian) { tail.append(contentsOf: $0) }
        }
        ok = ok && tail.withUnsafeBytes { $0.count == 0 || writeFully(fd, $0.baseAddress!, $0.count) }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(description: "cannot write \(path): \(message)")
        }
    }

    private static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        var done = 0
        while done < count {
            let n = Glibc.read(fd, buffer + done, count - done)
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return done
    }

    private static func writeFully(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Bool {
        var done = 0
        while done < count {
            let n = Glibc.write(fd, buffer + done, count - done)
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}

extension [UInt8] {
    fileprivate func loadLE(at offset: Int) -> UInt64 {
        withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }

    fileprivate mutating func storeLE(_ value: UInt64, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { replaceSubrange(offset..<(offset + 8), with: $0) }
    }
}
