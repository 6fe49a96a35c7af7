import FaceCore
import FaceRoot
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
    /// What a record of this stored entry is made from, as at intake: its size and, for a regular
    /// file, the image header of its first bytes (opened `O_NOFOLLOW`, never hashed here: the
    /// SHA-256 is that of the bytes the encoder reads). A file that cannot be opened is logged and
    /// gets its `lstat` size: the record must exist, and the encoder meets the same problem and
    /// records it.
    func intakeFacts(logger: Logger) -> (bytes: Int64, image: ImageInfo?) {
        guard kind == .regular else { return (size, nil) }
        do {
            let directory = try DirectoryHandle.open(DurableFile.parentDirectory(of: path))
            let entry = try IntakeEntry(name: DurableFile.baseName(of: path), in: directory, maxBytes: Int.max)
            return (entry.status.size, entry.image)
        } catch {
            logger.error("cannot read stored file: \(error)", metadata: ["path": "\(path)"])
            return (size, nil)
        }
    }
}
