import FaceCore
import FaceRoot
import Foundation
import Glibc
import Synchronization

/// The store's directory and its shard directories, opened when first needed and kept open.
///
/// The store directory is opened again whenever its path names another directory than the one open:
/// a file system mounted over an empty mount point after the start (`DirectoryIdentity` pauses the
/// daemon until its marker is back), or a store an administrator replaced. Files are then never moved
/// into a directory the path no longer shows. The check is one `lstat` per move.
final class StoreHandles: Sendable {
    private let directory: String
    private let state = Mutex<(store: DirectoryHandle?, shards: [String: DirectoryHandle])>((nil, [:]))

    init(directory: String) {
        self.directory = directory
    }

    /// The shard `name` (two hex digits) of the store the path names now, created if missing.
    func shard(_ name: String) throws(FileSystemError) -> DirectoryHandle {
        let current = state.withLock { state -> DirectoryHandle? in
            if let store = state.store, store.isStill(configuredAt: directory) { return store }
            state = (nil, [:])
            return nil
        }
        let store: DirectoryHandle
        if let current {
            store = current
        } else {
            store = try DirectoryHandle.open(directory)
            state.withLock { $0 = (store, [:]) }
        }
        if let open = state.withLock({ $0.store === store ? $0.shards[name] : nil }) { return open }
        let opened = try store.openDirectory(beneath: name, create: true)
        state.withLock { if $0.store === store { $0.shards[name] = opened } }
        return opened
    }
}
