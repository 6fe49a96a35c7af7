import Foundation
import Logging

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

extension StoredFile {
    /// Size, SHA-256 and image header of the stored entry, for its record: read for a regular file
    /// (never through a link); the empty digest for anything else. A file that cannot be read is
    /// logged and gets its size with the empty digest: the record must exist, and the encoder meets
    /// the same problem and records it.
    func digest(logger: Logger) -> FileDigest {
        guard kind == .regular else { return .empty }
        do {
            return try FileDigest(regularFileAt: path)
        } catch {
            logger.error("cannot read stored file \(LogField.pair("path", path)): \(error)")
            return FileDigest(bytes: size, sha256: FileDigest.empty.sha256)
        }
    }
}
