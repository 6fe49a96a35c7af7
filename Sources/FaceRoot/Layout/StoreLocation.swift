import Foundation

/// Where stored originals are, and how the ledger names them.
///
/// A record's `storePath` is relative to the root when the store is inside the root (the default:
/// `store/ab/<uuid>.jpg`), absolute otherwise. A record whose file is not at its recorded place (the
/// store was moved and the config changed) is looked up in the configured store by its UUID.
public struct StoreLocation: Sendable, Equatable {
    /// The state root.
    public let root: String
    /// The store directory.
    public let store: String

    public init(root: String, store: String) {
        self.root = root
        self.store = store
    }

    /// The shard directory's name of a UUID `ab…`: `ab`.
    public static func shard(of id: UUID) -> String {
        String(id.uuidString.lowercased().prefix(2))
    }

    /// The name the ledger records for an absolute store path.
    public func recordedPath(for absolutePath: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return absolutePath.hasPrefix(prefix) ? String(absolutePath.dropFirst(prefix.count)) : absolutePath
    }

    /// The absolute path of a recorded store path.
    public func absolutePath(forRecorded recorded: String) -> String {
        recorded.hasPrefix("/") ? recorded : (root as NSString).appendingPathComponent(recorded)
    }

    /// The file of record `id` recorded as `recorded`: the recorded place if something is there,
    /// else an entry `<uuid>` or `<uuid>.*` in the id's shard of the configured store, else the
    /// recorded place (which then fails to open, and says so).
    public func locate(id: UUID, recorded: String) -> String {
        let path = absolutePath(forRecorded: recorded)
        var status = stat()
        if lstat(path, &status) == 0 { return path }
        let shardDirectory = (store as NSString).appendingPathComponent(Self.shard(of: id))
        let name = id.uuidString.lowercased()
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: shardDirectory),
            let match = entries.first(where: { $0 == name || $0.hasPrefix(name + ".") })
        {
            return (shardDirectory as NSString).appendingPathComponent(match)
        }
        return path
    }
}
