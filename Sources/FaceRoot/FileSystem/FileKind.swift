import Glibc

/// What kind of directory entry a path names, from `lstat` (a symlink is never followed).
public enum FileKind: String, Sendable, Hashable, CaseIterable {
    case regular
    case directory
    case symlink
    case fifo
    case socket
    case characterDevice = "character_device"
    case blockDevice = "block_device"
    case unknown

    /// The kind encoded in a `st_mode`.
    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        default: self = .unknown
        }
    }

    /// True for a regular file: the only kind facewatch ever opens to read.
    public var isRegular: Bool { self == .regular }

    /// The kind of the entry at `path` without following a symlink, or nil when there is none.
    public static func of(path: String) -> FileKind? {
        FileStatus.lstat(path).map(\.kind)
    }
}
