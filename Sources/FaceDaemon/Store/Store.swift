import FaceCore
import FaceRoot
import Foundation
import Glibc
import Synchronization

/// The originals, one per UUID: `store/ab/<uuid>.<ext>`, sharded by the first two hex digits of the
/// lowercase UUID text.
///
/// The store is written by one daemon (the root lock guarantees it). ``adopt(_:as:ext:syncDirectories:)`` is step (1)
/// of the crash-safety order (docs/ARCHITECTURE.md, "A file's journey"): when it returns, the file is in the store under its UUID and both
/// directories are `fsync`ed; the caller then commits the `created` record (step 2). ``scan()`` lists
/// what is stored so startup can give orphans (files without a record) one.
///
/// Entries are never followed: a symlink, fifo, socket or device is moved itself.
public struct Store: Sendable {
    /// The store directory (`ROOT/store`).
    public let directory: String
    /// The store and its shards, open: files are moved in through these descriptors.
    let handles: StoreHandles

    /// Opens the store at `directory`, creating it (and its parents) durably if needed and `create`
    /// (not while its identity marker is missing: see `DirectoryIdentity`).
    public init(directory: String, create: Bool = true) throws(FileSystemError) {
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.directory = trimmed
        if create { try DurableFile.createDirectories(trimmed) }
        handles = StoreHandles(directory: trimmed)
    }

    /// The two lowercase hex digits that name `id`'s shard.
    public static func shard(of id: UUID) -> String { StoreLocation.shard(of: id) }

    /// `store/ab` for a UUID `ab…`.
    public func shardDirectory(for id: UUID) -> String {
        "\(directory)/\(Store.shard(of: id))"
    }

    /// `store/ab/<uuid>.<ext>` (lowercase UUID text; `ext` as given).
    public func path(for id: UUID, ext: String) -> String {
        "\(shardDirectory(for: id))/\(id.uuidString.lowercased()).\(ext)"
    }

    /// Moves the inbox entry `source` into the store as `<id>.<ext>`: step (1) of the crash-safety order.
    ///
    /// The path form of ``adopt(_:as:ext:)-(IntakeEntry,_,_)``: `source`'s directory is opened by its
    /// path, the entry inspected without limit, moved, and both directories `fsync`ed unless
    /// `syncDirectories` is false (the caller then syncs each distinct directory once for a batch).
    ///
    /// - Throws: ``FileSystemError``; `EEXIST` when `store/ab/<id>.<ext>` exists (choose another
    ///   UUID), `ENOENT` when the source is gone, `EISDIR` for a directory. On error the source is
    ///   where it was.
    public func adopt(_ source: String, as id: UUID, ext: String, syncDirectories: Bool = true) throws(FileSystemError)
        -> StoredFile
    {
        let directory = try DirectoryHandle.open(DurableFile.parentDirectory(of: source))
        let entry = try IntakeEntry(name: DurableFile.baseName(of: source), in: directory, maxBytes: Int.max)
        let (stored, shard) = try adopt(entry, as: id, ext: ext)
        if syncDirectories {
            try shard.sync()
            try directory.sync()
        }
        return stored
    }

    /// Moves an inspected inbox entry into the store as `<id>.<ext>`: step (1) of the crash-safety
    /// order. Returns the stored file and its shard directory; neither directory is `fsync`ed here
    /// after a same-file-system rename (the caller syncs each distinct directory once per batch); a
    /// copy is fully synced.
    ///
    /// - a regular file with one link that nobody else has open, or any entry too large to read, is
    ///   renamed (`renameat2` between the two directory descriptors, never replacing); if, by the end
    ///   of the rename, someone opened it or linked it (the entry's lease broke, or it has another
    ///   link), the stored name is replaced by a copy made from the daemon's descriptor while the
    ///   lease still holds the opener off, so no descriptor but the daemon's reaches what is stored;
    /// - a regular file with another hard link or another open descriptor (or whose sharing cannot be
    ///   known) is copied from its open descriptor (at most the size seen at open), `fsync`ed, renamed
    ///   into place, and only then unlinked from the inbox; if the unlink is refused the copy is
    ///   removed again and the error thrown, so a file the daemon cannot take is never stored twice;
    /// - across file systems (`EXDEV`) a regular file is first claimed: renamed inside its own
    ///   directory to a hidden name (refused at once if the daemon may not remove it, before any
    ///   byte is copied), announced by a journal `store/.moving-<uuid>`, copied from its descriptor,
    ///   and the claimed name unlinked (``finishInterruptedMoves()`` completes this after a crash).
    ///   A file too large to read is not copied: it is unlinked and returned with `isInStore == false`.
    ///   A symlink is recreated from its target text and a fifo with `mkfifo`; a socket or a device
    ///   cannot be (a socket means something only to the process bound to it; device nodes in the
    ///   store would give whoever reads the store access to hardware): it is unlinked from the inbox
    ///   and returned with `isInStore == false`.
    ///
    /// - Throws: ``FileSystemError``; `EEXIST` when `store/ab/<id>.<ext>` exists (choose another
    ///   UUID), `ENOENT` when the source is gone. On error the source is where it was.
    func adopt(_ entry: IntakeEntry, as id: UUID, ext: String) throws(FileSystemError) -> (StoredFile, DirectoryHandle)
    {
        let ext = FileExtension.sanitized(ext) ?? "bin"
        let shard = try handles.shard(Store.shard(of: id))
        let name = "\(id.uuidString.lowercased()).\(ext)"
        var stored = StoredFile(
            id: id, fileExtension: ext, path: path(for: id, ext: ext), kind: entry.status.kind, size: entry.status.size)
        if entry.descriptor != nil, entry.mustBeCopied, !entry.isTooLarge {
            try adoptByCopy(entry, into: shard, as: name, stored: stored)
            return (stored, shard)
        }
        do throws(FileSystemError) {
            try entry.directory.rename(entry.name, to: shard, as: name, replacing: false)
        } catch  where error.code == EXDEV {
            stored.isInStore = try adoptAcrossFileSystems(entry, into: shard, as: name, stored: stored)
            return (stored, shard)
        }
        if let descriptor = entry.descriptor, !entry.isTooLarge, !entry.isStillUnshared {
            // Opened or linked during the move: keep a copy only the daemon has a handle on. If the
            // copy fails, the inode stays stored (its record is made as usual): nothing is lost.
            try? Store.copy(descriptor, size: entry.status, into: shard, as: name, replacing: true)
        }
        return (stored, shard)
    }

    /// The stored entry for `id`, whatever its extension, or nil.
    public func find(_ id: UUID) -> StoredFile? {
        for ext in ["jpg", "png"] {
            if let found = stored(id: id, ext: ext) { return found }
        }
        let prefix = id.uuidString.lowercased() + "."
        guard let names = try? DirectoryReader.stringNames(in: shardDirectory(for: id)) else { return nil }
        for name in names where name.hasPrefix(prefix) {
            let ext = String(name.dropFirst(prefix.count))
            if FileExtension.sanitized(ext) == ext, let found = stored(id: id, ext: ext) { return found }
        }
        return nil
    }

    /// Every stored `(uuid, path)`, for startup reconciliation (store files without a record get one).
    ///
    /// First finishes cross-file-system moves a crash interrupted (see ``adopt(_:as:ext:syncDirectories:)``) and
    /// deletes leftover temporary files (`.…tmp`) in the store. Call it at startup, before the inbox
    /// is watched and while nothing else adopts. Names that are not `<uuid>.<ext>` in the right shard
    /// are left alone and not listed. The result is sorted by path.
    public func scan() throws(FileSystemError) -> [StoredFile] {
        try finishInterruptedMoves()
        var found: [StoredFile] = []
        for shard in try DirectoryReader.stringNames(in: directory, followSymlink: true) {
            guard shard.utf8.count == 2, shard.utf8.allSatisfy(Store.isLowercaseHexDigit) else { continue }
            let shardPath = "\(directory)/\(shard)"
            guard FileStatus.lstat(shardPath)?.kind == .directory else { continue }
            for name in try DirectoryReader.stringNames(in: shardPath) {
                if DurableFile.isTemporaryName(name) {
                    // A copy a crash interrupted before its rename: the source is still in the inbox.
                    unlink("\(shardPath)/\(name)")
                    continue
                }
                guard let dot = name.firstIndex(of: "."), name.hasPrefix(shard) else { continue }
                let uuidText = String(name[..<dot])
                let ext = String(name[name.index(after: dot)...])
                guard uuidText.count == 36, let id = UUID(uuidString: uuidText), id.uuidString.lowercased() == uuidText,
                    FileExtension.sanitized(ext) == ext, let stored = stored(id: id, ext: ext)
                else { continue }
                found.append(stored)
            }
        }
        return found.sorted { $0.path < $1.path }
    }

    // MARK: - Naming helpers

    /// The extension to store a file under: `jpg` or `png` from the content's magic bytes, otherwise
    /// the original name's extension, sanitized (see ``FileExtension.sanitized(_:)``), otherwise `bin`.
    /// Only a regular file is opened (`O_NOFOLLOW | O_NONBLOCK`, at most 8 bytes read); any other
    /// kind is named from its original name alone.
    public static func fileExtension(forContentAt path: String, originalName: String) -> String {
        fileExtension(magic: leadingBytes(of: path, count: 8), originalName: originalName)
    }

    /// The extension for content starting with `magic`: `jpg` (FF D8 FF), `png` (89 'PNG' 0D 0A 1A 0A),
    /// else the sanitized extension of `originalName`, else `bin`.
    public static func fileExtension(magic: [UInt8], originalName: String) -> String {
        if magic.starts(with: [0xFF, 0xD8, 0xFF]) { return "jpg" }
        if magic.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "png" }
        let base = DurableFile.baseName(of: originalName)
        if let dot = base.lastIndex(of: "."), dot != base.startIndex,
            let ext = FileExtension.sanitized(String(base[base.index(after: dot)...]))
        {
            return ext
        }
        return "bin"
    }

    /// The UUID a file asks for by its name: `<uuid>` or `<uuid>.<ext>` (any case; only the last
    /// path component counts). The caller keeps it only if the ledger does not have it yet.
    public static func requestedID(fromName name: String) -> UUID? {
        let base = DurableFile.baseName(of: name)
        let stem = base.firstIndex(of: ".").map { String(base[..<$0]) } ?? base
        guard stem.utf8.count == 36 else { return nil }
        return UUID(uuidString: stem)
    }

    // MARK: - Internals

    static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)
    }

    func stored(id: UUID, ext: String) -> StoredFile? {
        let path = path(for: id, ext: ext)
        guard let status = FileStatus.lstat(path) else { return nil }
        return StoredFile(id: id, fileExtension: ext, path: path, kind: status.kind, size: status.size)
    }

    /// Up to `count` leading bytes of a regular file; empty for anything else or on error.
    static func leadingBytes(of path: String, count: Int) -> [UInt8] {
        // Never open anything but a regular file (a fifo would block without O_NONBLOCK); the
        // fstat after opening catches an entry swapped in between.
        guard FileStatus.lstat(path)?.kind == .regular else { return [] }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        guard let status = try? FileStatus.of(fd: fd, path: path), status.kind == .regular else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            filled += n
        }
        return Array(bytes[0..<filled])
    }
}
