import Foundation

/// An entry in the store: `store/ab/<uuid>.<ext>`.
public struct StoredFile: Sendable, Hashable {
    /// The UUID the file is stored under.
    public var id: UUID
    /// The extension it is stored with (`jpg`, `png`, a sanitized original one, or `bin`).
    public var fileExtension: String
    /// The absolute (or store-relative, if the store was given a relative path) path in the store.
    public var path: String
    /// What the entry is. Anything but `.regular` is failed `not_a_regular_file` by the pipeline.
    public var kind: FileKind
    /// `st_size` from `lstat` (for a symlink, the length of its target text).
    public var size: Int64
    /// False only for a socket or device adopted from another file system: such an entry cannot be
    /// recreated there, so the source was unlinked and nothing exists at `path` (see ``Store/adopt(_:as:ext:syncDirectories:)``).
    public var isInStore: Bool

    public init(id: UUID, fileExtension: String, path: String, kind: FileKind, size: Int64, isInStore: Bool = true) {
        self.id = id
        self.fileExtension = fileExtension
        self.path = path
        self.kind = kind
        self.size = size
        self.isInStore = isInStore
    }
}
