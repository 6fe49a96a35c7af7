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
/// link is copied into the store, so that link keeps no handle on what is stored).
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

    /// Largest prefix read for the extension and the image header.
    static let prefixLimit = 1 << 20

    /// Inspects `name` in `directory`. A regular file is opened (`O_NOFOLLOW | O_NONBLOCK`) and its
    /// `fstat` compared with the entry's `lstat`, so a swap in between is refused (`ESTALE`).
    /// - Throws: ``FileSystemError`` (`ENOENT` gone, `EISDIR` a directory, `EACCES`/`EPERM` not
    ///   readable by the daemon...).
    init(name: String, in directory: DirectoryHandle, maxBytes: Int) throws(FileSystemError) {
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
            descriptor = fd
            status = opened
            isTooLarge = opened.size > Int64(maxBytes)
            prefix = isTooLarge ? [] : Self.readPrefix(fd, count: Int(min(opened.size, Int64(Self.prefixLimit))))
        default:
            descriptor = nil
            status = entry
            isTooLarge = false
            prefix = []
        }
    }

    deinit {
        if let descriptor { _ = close(descriptor) }
    }

    /// The image's format and size from its header, if the prefix holds it.
    var image: ImageInfo? {
        prefix.withUnsafeBytes { ImageHeader.info(ofPrefix: $0) }
    }

    /// True when another name (a hard link) shares the inode.
    var hasOtherLinks: Bool { status.linkCount > 1 }

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
