import FaceCore
import FaceRoot
import Logging

/// The inbox directory as the ingestor reaches it: opened by its configured path once per batch,
/// and every entry of the batch reached from that descriptor (`DirectoryHandle`).
///
/// Not held open between batches: an open descriptor would keep a deleted inbox alive, and inotify
/// reports a watched directory's removal only once its last reference is gone, so the inbox could
/// not notice it and make a new one. The configured path is the administrator's (inside the
/// daemon's own root by default); what members control starts below it.
public struct InboxDirectory: Sendable {
    /// The configured path.
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The inbox, open (nil, logged, if it cannot be opened now).
    func current(logger: Logger) -> DirectoryHandle? {
        do {
            return try DirectoryHandle.open(path)
        } catch {
            logger.error("cannot open the inbox: \(error)", metadata: ["path": "\(path)"])
            return nil
        }
    }
}
