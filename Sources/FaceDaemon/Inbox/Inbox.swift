import FaceCore
import Dispatch
import FaceRoot
import Glibc
import Logging

/// Watches the inbox directory with inotify and reports each file once it is ready to be taken.
///
/// Watching: the inbox and, recursively, every directory created or moved into it. A directory that
/// appears is watched first and scanned right after, so files that landed in it before its watch
/// existed are not missed. ``start()`` scans everything; an `IN_Q_OVERFLOW` (the kernel's event
/// queue was full) triggers the same full scan, so a flood loses nothing.
///
/// When a file is ready:
/// - renamed in (`IN_MOVED_TO`): at once;
/// - written in place: at its close (`IN_CLOSE_WRITE`), once it has stayed unchanged (size, mtime,
///   ctime) for ``settleTime``; another close restarts the wait, so writers that close and reopen
///   are not read half-written;
/// - hard-linked in (`IN_CREATE` of a file with more than one link): like a file written in place;
/// - found by a scan: like a file written in place if its mtime is within the settle time, else at once;
///   reported as `.found` (no close seen) unless its close was seen and it is unchanged since, so the
///   daemon checks it for open writers (``InboxEntry/Arrival``).
///
/// Writers' temporary names are ignored until renamed (``isWriterTemporaryName(_:)``), and so is
/// everything under a directory with such a name. A symlink, fifo, socket or device is reported too
/// (``InboxEntry/kind`` is not `.regular`): the consumer fails it `not_a_regular_file` and the
/// ``Store`` moves it itself. Nothing is ever opened or followed here: entries are `lstat`ed only.
/// A name that is not valid UTF-8 is renamed in place, its bad bytes written `%XX`, then taken.
///
/// Delivery: ``entries`` yields each ready entry once. The same path is not reported again until
/// the consumer took it (moved or removed it: inotify tells) or called ``acknowledge(_:)``; after
/// an acknowledgement of a file still there (an error), only a later full scan reports it again.
/// The inbox holds one small record per waiting path and opens no file, so a backlog of tens of
/// thousands costs a few megabytes; the consumer takes entries at its own pace.
///
/// Empty subdirectories left behind are removed (never the inbox itself): after an acknowledgement
/// (after ``settleTime``, giving a writer that fills a directory file by file time to create the
/// next one), on demand with ``removeEmptyDirectories(containing:)``, and by full scans.
///
/// The inbox directory itself is recreated and watched again if it is deleted or moved away.
///
/// Threading: one serial dispatch queue owns all state; a read source on the inotify descriptor
/// (no polling) and the timers run on it. The timers (settling, the rescan, the recreation's retry)
/// sleep on the injected `clock`, then hop onto the queue. ``stop()`` cancels the watching and ends ``entries``.
public final class Inbox: @unchecked Sendable {
    // @unchecked Sendable: every mutable stored property is read and written only on `queue`, a
    // serial DispatchQueue. The public methods hop onto it (`queue.sync`/`queue.async`), as do the
    // inotify read source's handlers and the settle timers. The `let` properties are Sendable values,
    // except `continuation`, which AsyncStream documents as safe to use from any thread.

    /// The inbox directory (absolute).
    public let directory: String
    /// How long a file written in place must stay unchanged before it is reported.
    public let settleTime: Duration
    /// How often the whole inbox is scanned again, whatever inotify says: entries the daemon could
    /// not take are tried again, and directories that could not be watched are listed. Nil: never.
    public let rescanInterval: Duration?
    /// The ready entries, each reported once (see the type's documentation). One consumer.
    /// Finishes when ``stop()`` is called.
    public let entries: AsyncStream<InboxEntry>

    /// What every wait of the inbox is measured on (``after(_:_:)``).
    let clock: any Clock<Duration>
    let continuation: AsyncStream<InboxEntry>.Continuation
    let logger: Logger
    let queue = DispatchQueue(label: "facewatch.inbox")

    enum Lifecycle { case idle, running, stopped }
    enum FileState {
        /// Waiting for the settle time; `generation` tells the current timer from superseded ones.
        case settling(FileStatus, generation: UInt64, arrival: InboxEntry.Arrival)
        /// Reported with `serial`, not yet taken or acknowledged.
        case reported(serial: UInt64)
    }

    var lifecycle = Lifecycle.idle
    var watcher: InotifyWatcher?
    /// The inbox directory, opened for each use (see ``openRoot()``): every entry below it is reached
    /// from that descriptor, one component at a time, never through a symlink (`DirectoryHandle`).
    var root: DirectoryHandle? { openRoot() }
    /// Device and inode of each watched directory when its watch was added, by relative name: an
    /// event is used only while its directory is still that one.
    var identities: [String: (device: UInt64, inode: UInt64)] = [:]
    /// The periodic full rescan (``rescanInterval``): a task sleeping on ``clock``.
    var rescanTimer: Task<Void, Never>?
    var source: DispatchSourceRead?
    var readingSuspended = false
    /// Watch descriptor -> directory relative to the inbox ("" is the inbox).
    var directoriesByWatch: [Int32: String] = [:]
    var watchesByDirectory: [String: Int32] = [:]
    /// Relative path -> state, for files settling or reported.
    var files: [String: FileState] = [:]
    /// Files whose writer was seen done (closed or renamed in) and that are still in the inbox, with
    /// their status then: a scan that finds one unchanged reports it as such, not as `.found`.
    var seenDone: [String: (status: FileStatus, arrival: InboxEntry.Arrival)] = [:]
    /// Relative paths this inbox gave to non-UTF-8 names, until their IN_MOVED_TO is seen.
    var renamedHere: Set<String> = []
    var nextSerial: UInt64 = 0
    var nextGeneration: UInt64 = 0
    var counters = InboxStatistics()

    static let eventMask: Int32 =
        Int32(IN_CLOSE_WRITE) | Int32(IN_MOVED_TO) | Int32(IN_MOVED_FROM)
        | Int32(IN_CREATE) | Int32(IN_DELETE) | Int32(IN_DELETE_SELF) | Int32(IN_MOVE_SELF)
        | Int32(IN_EXCL_UNLINK) | Int32(IN_ONLYDIR)
    /// Subdirectories are opened beneath the inbox without following a symlink and watched through
    /// their descriptor's `/proc/self/fd/N`, a link inotify must follow to reach the directory.
    static let subdirectoryMask: Int32 = eventMask

    /// Creates an inbox on `directory` (made absolute against the current directory; created at
    /// ``start()`` if missing). Nothing is watched before ``start()``.
    ///
    /// - Parameters:
    ///   - settleTime: how long a file written in place must stay unchanged (default 200 ms).
    ///   - rescanInterval: time between two periodic full scans (nil: none).
    ///   - clock: what the settle times, the rescans and the other waits are measured on (a test
    ///     passes a clock it moves itself).
    ///   - logger: where watch problems, overflows and renamed names are logged.
    public init(
        directory: String, settleTime: Duration = .milliseconds(200), rescanInterval: Duration? = nil,
        clock: any Clock<Duration> = ContinuousClock(), logger: Logger = Logger(label: "facewatch.inbox")
    ) {
        var path = directory
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                path = path == "." ? cwd : "\(cwd)/\(path.hasPrefix("./") ? String(path.dropFirst(2)) : path)"
            }
        }
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.directory = path
        self.settleTime = settleTime
        self.rescanInterval = rescanInterval
        self.clock = clock
        self.logger = logger
        (entries, continuation) = AsyncStream.makeStream(of: InboxEntry.self, bufferingPolicy: .unbounded)
    }

    deinit {
        // Handlers hold `self` weakly, so this can run while the source is live: cancel it (its
        // cancel handler closes the descriptor) and end the stream.
        if readingSuspended { source?.resume() }
        source?.cancel()
        rescanTimer?.cancel()
        continuation.finish()
    }

    /// Creates the inbox directory if needed, starts watching it, and scans it fully: every file
    /// already there is reported (or settles first if it was modified within the settle time).
    /// Returns when the first scan is done. Calling it again, or after ``stop()``, does nothing.
    public func start() throws(FileSystemError) {
        let result: Result<Void, FileSystemError> = queue.sync {
            guard lifecycle == .idle else { return .success(()) }
            do throws(FileSystemError) {
                try DurableFile.createDirectories(directory)
                let watcher = try InotifyWatcher()
                self.watcher = watcher
                let source = DispatchSource.makeReadSource(fileDescriptor: watcher.descriptor, queue: queue)
                source.setEventHandler { [weak self] in self?.readEvents() }
                source.setCancelHandler { watcher.close() }
                self.source = source
                lifecycle = .running
                try scanTree(from: "", full: true)
                source.resume()
                startRescanTimer()
                return .success(())
            } catch {
                lifecycle = .idle
                watcher?.close()
                watcher = nil
                source = nil
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Stops watching: cancels the inotify reader and every settle timer, closes the descriptor and
    /// finishes ``entries`` (a consumer's `for await` loop ends). Entries already yielded stay in the
    /// stream for the consumer to drain or drop. Idempotent.
    public func stop() {
        queue.sync {
            guard lifecycle != .stopped else { return }
            let wasIdle = lifecycle == .idle
            lifecycle = .stopped
            if readingSuspended {
                source?.resume()
                readingSuspended = false
            }
            source?.cancel()
            source = nil
            rescanTimer?.cancel()
            rescanTimer = nil
            if wasIdle { watcher?.close() }
            watcher = nil
            files.removeAll()
            seenDone.removeAll()
            directoriesByWatch.removeAll()
            watchesByDirectory.removeAll()
            continuation.finish()
        }
    }

    /// Tells the inbox the consumer is done with `entry` (taken, or given up on after an error).
    /// Clears its report so a later full scan may report the path again if the file is still there,
    /// and, after ``settleTime``, removes the entry's directories inside the inbox that are now empty.
    public func acknowledge(_ entry: InboxEntry) {
        queue.async { [self] in
            if case .reported(let serial) = files[entry.name], serial == entry.serial {
                files[entry.name] = nil
            }
            guard entry.name.contains("/") else { return }
            after(settleTime) { inbox in
                guard inbox.lifecycle == .running else { return }
                inbox.removeEmptyDirectoriesOnQueue(relative: entry.name)
            }
        }
    }

    /// Removes, now, the directories containing `path` (absolute, inside the inbox) that are empty,
    /// from the innermost up; never the inbox itself. Stops at the first one that is not empty.
    public func removeEmptyDirectories(containing path: String) {
        guard path.hasPrefix(directory + "/") else { return }
        let relative = String(path.dropFirst(directory.count + 1))
        queue.sync { removeEmptyDirectoriesOnQueue(relative: relative) }
    }

    /// Scans the whole inbox as after an `IN_Q_OVERFLOW`: watches every directory, reports every
    /// ready file not already reported, and forgets watches and reports of entries that are gone.
    /// Returns when the scan is done.
    public func rescan() {
        queue.sync { rescanOnQueue() }
    }

    /// A snapshot of the counters.
    public var statistics: InboxStatistics {
        queue.sync {
            var snapshot = counters
            snapshot.watchedDirectories = directoriesByWatch.count
            snapshot.settling = 0
            snapshot.awaitingConsumer = 0
            for state in files.values {
                switch state {
                case .settling: snapshot.settling += 1
                case .reported: snapshot.awaitingConsumer += 1
                }
            }
            return snapshot
        }
    }

    /// True for a writer's temporary name, which the inbox ignores until the file is renamed:
    /// a dotfile (rsync's `.photo.jpg.XXXXXX`), `*.part` (browsers, curl), `*.tmp`, `*~` (editors).
    /// The suffixes are matched without regard to case.
    public static func isWriterTemporaryName(_ name: String) -> Bool { WriterTemporaryName.matches(name) }

    // MARK: - Test hooks

    /// Stops reading inotify events until ``resumeEventReading()`` (events queue up in the kernel,
    /// which is how a test makes the queue overflow).
    func suspendEventReading() {
        queue.sync {
            guard let source, !readingSuspended else { return }
            source.suspend()
            readingSuspended = true
        }
    }

    func resumeEventReading() {
        queue.sync {
            guard let source, readingSuspended else { return }
            source.resume()
            readingSuspended = false
        }
    }

    /// What the inbox does on `IN_Q_OVERFLOW`.
    func handleQueueOverflow() {
        queue.sync { handleOverflowOnQueue() }
    }
}
