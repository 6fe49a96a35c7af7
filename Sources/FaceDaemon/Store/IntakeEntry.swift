import FaceCore
import FaceImage
import FaceEncoding
import FaceRoot
import Glibc

/// One inbox entry as the daemon sees it just before taking it: the directory that holds it (a
/// handle, reached from the inbox without following any symlink), its name there, what it is, and,
/// for a regular file, an open descriptor and the size seen through it.
///
/// Everything about the file is decided from that descriptor, never from a path: its size (a file
/// larger than `max_bytes` is failed `too_large` here and never read), its first bytes (the stored
/// extension and the image header for the memory budget), its link count (a file with another hard
/// link is copied into the store, so that link keeps no handle on what is stored), and who else has
/// it open (``FileSharing``, a lease held until this entry is released):
/// - nobody, and the daemon owns it: it is renamed into the store; if anyone opens it or links it
///   before the move is over, the store keeps a copy made from this descriptor instead (``Store``);
/// - nobody, and another user owns it: copied. Its owner may hold a descriptor no lease sees
///   (`O_PATH`) and reopen it for writing through `/proc/self/fd`, or `chmod` it: only a copy the
///   daemon owns is out of their reach;
/// - readers only: copied (a reader's descriptor could be linked back out and opened for writing);
/// - a writer: not taken (`EBUSY`, left in the inbox until its close), unless it was renamed in (its
///   writer said it is complete): then copied, so the writer's descriptor has no handle on the store;
/// - unknown (no `CAP_LEASE` for another user's file, a network file system): copied, and a file no
///   close was seen for waits until it has been unchanged for the writer quiet time.
final class IntakeEntry {
    /// The directory holding the entry.
    let directory: DirectoryHandle
    /// The entry's name in `directory`.
    let name: String
    /// `fstat` of the open file (regular files), else `lstat` of the entry.
    let status: FileStatus
    /// The open file (regular files only); closed once, when this is released.
    let descriptor: Int32?
    /// More bytes than `max_bytes` when opened: never read, hashed or copied.
    let isTooLarge: Bool
    /// Up to 1 MiB of the file's first bytes (none when too large or not regular).
    let prefix: [UInt8]
    /// Who else had the file open when it was inspected (regular files; `.unknown(0)` otherwise).
    let sharing: FileSharing

    /// Largest prefix read for the extension and the image header.
    static let prefixLimit = 1 << 20

    /// Inspects `name` in `directory`. A regular file is opened (`O_NOFOLLOW | O_NONBLOCK`) and its
    /// `fstat` compared with the entry's `lstat`, so a swap in between is refused (`ESTALE`).
    /// - Parameters:
    ///   - arrival: how the inbox saw the file become ready (decides what an open writer means).
    ///   - writerQuiet: with no way to see writers, how long a file no close was seen for must have
    ///     been unchanged (mtime and ctime) before it is taken.
    /// - Throws: ``FileSystemError`` (`ENOENT` gone, `EISDIR` a directory, `EACCES`/`EPERM` not
    ///   readable by the daemon, `EBUSY` still open for writing or not quiet yet...).
    init(
        name: String, in directory: DirectoryHandle, maxBytes: Int, arrival: InboxEntry.Arrival = .closed,
        writerQuiet: Duration = .zero
    ) throws(FileSystemError) {
        self.directory = directory
        self.name = name
        let entry = try directory.status(of: name)
        switch entry.kind {
        case .directory:
            throw FileSystemError(operation: "take", path: directory.display(name), code: EISDIR)
        case .regular:
            let (fd, opened) = try directory.openRegularFile(name)
            guard opened.isSameFile(as: entry) else {
                _ = close(fd)
                throw FileSystemError(operation: "open", path: directory.display(name), code: ESTALE)
            }
            let sharing = FileSharing.probe(fd)
            if let busy = Self.busy(
                sharing, opened, arrival: arrival, tooLarge: opened.size > Int64(maxBytes),
                writerQuiet: writerQuiet)
            {
                _ = close(fd)
                throw FileSystemError(operation: busy, path: directory.display(name), code: EBUSY)
            }
            self.sharing = sharing
            descriptor = fd
            status = opened
            isTooLarge = opened.size > Int64(maxBytes)
            prefix = isTooLarge ? [] : Self.readPrefix(fd, count: Int(min(opened.size, Int64(Self.prefixLimit))))
        default:
            descriptor = nil
            status = entry
            isTooLarge = false
            prefix = []
            sharing = .unknown(0)
        }
    }

    /// Why the file must wait in the inbox (the error's operation text), or nil when it may be taken.
    private static func busy(
        _ sharing: FileSharing, _ status: FileStatus, arrival: InboxEntry.Arrival, tooLarge: Bool,
        writerQuiet: Duration
    ) -> String? {
        switch sharing {
        case .alone, .readers:
            return nil
        case .writers:
            // Renamed in: complete by its writer's word, and copied. A file too large to read is
            // never copied, so it waits like the others.
            return arrival == .renamed && !tooLarge ? nil : "still open for writing: take"
        case .unknown:
            guard arrival == .found else { return nil }
            let quiet = Inbox.nanoseconds(writerQuiet)
            let lastChange = max(status.modified, status.changed)
            return FileStatus.nowNanoseconds() - lastChange < quiet ? "written within the writer quiet time: take" : nil
        }
    }

    deinit {
        if let descriptor { _ = close(descriptor) }
    }

    /// The image's format and size from its header: from the prefix, else (a JPEG whose frame
    /// header lies past it, or whose metadata the prefix cuts) from the frame header found by
    /// walking the file's segments through the descriptor; nil when neither says.
    var image: ImageInfo? {
        if let info = prefix.withUnsafeBytes({ ImageHeader.info(ofPrefix: $0) }) { return info }
        guard let descriptor, !isTooLarge else { return nil }
        if let info = FrameHeader.png(prefix: Array(prefix.prefix(24))) { return info }
        return FrameHeader.jpeg(fileSize: status.size) { offset, count in
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            return n > 0 ? Array(bytes[0..<n]) : []
        }
    }

    /// True when another name (a hard link) shares the inode.
    var hasOtherLinks: Bool { status.linkCount > 1 }

    /// True when the store must keep a copy made from this descriptor rather than the inode itself:
    /// another link, another open descriptor, no way to know, or another owner.
    var mustBeCopied: Bool {
        hasOtherLinks || sharing != .alone || status.owner != geteuid()
    }

    /// True when, since it was inspected, nobody opened or linked the file: the lease taken then is
    /// intact and the inode still has one link. Checked after the rename into the store.
    var isStillUnshared: Bool {
        guard let descriptor, sharing.isIntact(descriptor) else { return false }
        return (try? FileStatus.of(fd: descriptor, path: "")).map { $0.linkCount == 1 } ?? false
    }

    private static func readPrefix(_ fd: Int32, count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, count - filled, off_t(filled)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            filled += n
        }
        return Array(bytes[0..<filled])
    }
}
