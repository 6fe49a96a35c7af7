import Dispatch
import FaceRoot
import Glibc

/// Watches the known folder and its subfolders with inotify and says, through `changes`, that
/// something in them changed; what changed is found by reading the folder again (`KnownFolder.scan`),
/// which is small. Unlike the inbox, nothing is taken: the folder is only read.
final class KnownFolderWatcher: @unchecked Sendable {
    // @unchecked Sendable: `watcher` and `source` are created in `init` and then used only on `queue`
    // (the read source's handler runs there, and `stop` hops onto it), so no two threads touch them.
    private let directory: String
    private let queue = DispatchQueue(label: "facewatch.known-folder")
    private let watcher: InotifyWatcher
    private var source: DispatchSourceRead?
    private let continuation: AsyncStream<Void>.Continuation
    /// One element per burst of events (older ones are merged: only "something changed" matters).
    let changes: AsyncStream<Void>

    static let mask: Int32 =
        Int32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB)
        | Int32(IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

    /// Starts watching `directory` (which must exist) and its subfolders.
    ///
    /// - Throws: `FileSystemError` when inotify cannot be set up.
    init(directory: String) throws(FileSystemError) {
        self.directory = directory
        watcher = try InotifyWatcher()
        (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        _ = try watcher.addWatch(directory, mask: Self.mask)
        addSubfolderWatches()
        let source = DispatchSource.makeReadSource(fileDescriptor: watcher.descriptor, queue: queue)
        source.setEventHandler { [weak self] in self?.drain() }
        self.source = source
        source.resume()
    }

    /// Stops watching; `changes` ends.
    func stop() {
        queue.sync {
            source?.cancel()
            source = nil
            watcher.close()
        }
        continuation.finish()
    }

    private func drain() {
        guard let (events, _) = try? watcher.readEvents(), !events.isEmpty else { return }
        // The folder itself again (removed and made anew, its watch is gone), and a new subfolder,
        // a new person with several pictures: watch them too (adding a watch is idempotent).
        _ = try? watcher.addWatch(directory, mask: Self.mask)
        addSubfolderWatches()
        continuation.yield()
    }

    private func addSubfolderWatches() {
        for name in KnownFolder.subfolders(directory) {
            _ = try? watcher.addWatch(directory + "/" + name, mask: Self.mask)
        }
    }
}
