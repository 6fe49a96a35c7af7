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
/// (no polling) and the settle timers run on it. ``stop()`` cancels the watching and ends ``entries``.
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

    private let continuation: AsyncStream<InboxEntry>.Continuation
    private let logger: Logger
    private let queue = DispatchQueue(label: "facewatch.inbox")

    private enum Lifecycle { case idle, running, stopped }
    private enum FileState {
        /// Waiting for the settle time; `generation` tells the current timer from superseded ones.
        case settling(FileStatus, generation: UInt64, arrival: InboxEntry.Arrival)
        /// Reported with `serial`, not yet taken or acknowledged.
        case reported(serial: UInt64)
    }

    private var lifecycle = Lifecycle.idle
    private var watcher: InotifyWatcher?
    /// The inbox directory, opened for each use (see ``openRoot()``): every entry below it is reached
    /// from that descriptor, one component at a time, never through a symlink (`DirectoryHandle`).
    private var root: DirectoryHandle? { openRoot() }
    /// Device and inode of each watched directory when its watch was added, by relative name: an
    /// event is used only while its directory is still that one.
    private var identities: [String: (device: UInt64, inode: UInt64)] = [:]
    /// The periodic full rescan (``rescanInterval``).
    private var rescanTimer: DispatchSourceTimer?
    private var source: DispatchSourceRead?
    private var readingSuspended = false
    /// Watch descriptor -> directory relative to the inbox ("" is the inbox).
    private var directoriesByWatch: [Int32: String] = [:]
    private var watchesByDirectory: [String: Int32] = [:]
    /// Relative path -> state, for files settling or reported.
    private var files: [String: FileState] = [:]
    /// Files whose writer was seen done (closed or renamed in) and that are still in the inbox, with
    /// their status then: a scan that finds one unchanged reports it as such, not as `.found`.
    private var seenDone: [String: (status: FileStatus, arrival: InboxEntry.Arrival)] = [:]
    /// Relative paths this inbox gave to non-UTF-8 names, until their IN_MOVED_TO is seen.
    private var renamedHere: Set<String> = []
    private var nextSerial: UInt64 = 0
    private var nextGeneration: UInt64 = 0
    private var counters = InboxStatistics()

    private static let eventMask: Int32 =
        Int32(IN_CLOSE_WRITE) | Int32(IN_MOVED_TO) | Int32(IN_MOVED_FROM)
        | Int32(IN_CREATE) | Int32(IN_DELETE) | Int32(IN_DELETE_SELF) | Int32(IN_MOVE_SELF)
        | Int32(IN_EXCL_UNLINK) | Int32(IN_ONLYDIR)
    /// Subdirectories are opened beneath the inbox without following a symlink and watched through
    /// their descriptor's `/proc/self/fd/N`, a link inotify must follow to reach the directory.
    private static let subdirectoryMask: Int32 = eventMask

    /// Creates an inbox on `directory` (made absolute against the current directory; created at
    /// ``start()`` if missing). Nothing is watched before ``start()``.
    ///
    /// - Parameters:
    ///   - settleTime: how long a file written in place must stay unchanged (default 200 ms).
    ///   - rescanInterval: time between two periodic full scans (nil: none).
    ///   - logger: where watch problems, overflows and renamed names are logged.
    public init(
        directory: String, settleTime: Duration = .milliseconds(200), rescanInterval: Duration? = nil,
        logger: Logger = Logger(label: "facewatch.inbox")
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
            queue.asyncAfter(deadline: .now() + Inbox.dispatchInterval(settleTime)) { [weak self] in
                guard let self, lifecycle == .running else { return }
                removeEmptyDirectoriesOnQueue(relative: entry.name)
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

    // MARK: - Event handling (on `queue`)

    private func readEvents() {
        guard lifecycle == .running, let watcher else { return }
        do {
            let (events, _) = try watcher.readEvents()
            for event in events {
                guard lifecycle == .running else { return }
                handle(event)
            }
        } catch {
            logger.error("inbox: reading inotify events failed: \(error)")
        }
    }

    private func handle(_ event: InotifyWatcher.Event) {
        if event.has(Int32(IN_Q_OVERFLOW)) {
            handleOverflowOnQueue()
            return
        }
        guard let directoryName = directoriesByWatch[event.watch] else { return }  // a watch we dropped
        if event.has(Int32(IN_IGNORED)) {
            forgetWatch(event.watch)
            if directoryName.isEmpty { reestablishInbox() }
            return
        }
        if event.name.isEmpty {
            // On the watched directory itself. A subdirectory's moves and removals are handled
            // through its parent's IN_MOVED_FROM/IN_DELETE; the inbox's own move needs a new watch.
            if directoryName.isEmpty && event.has(Int32(IN_MOVE_SELF)) {
                logger.warning("inbox: \(directory) was moved away; recreating it")
                watcher?.removeWatch(event.watch)  // IN_IGNORED follows, which re-establishes it
            }
            return
        }
        // The temp-name rule on the raw bytes, before anything else: a writer's temporary name that
        // is not UTF-8 is left alone, never renamed under its writer.
        if WriterTemporaryName.matches(bytes: event.name) { return }
        let isGone = event.has(Int32(IN_MOVED_FROM)) || event.has(Int32(IN_DELETE))
        let isDirectory = event.has(Int32(IN_ISDIR))
        let name: String
        if let valid = String(validating: event.name, as: UTF8.self) {
            name = valid
        } else {
            if isGone { return }
            // A file being created: rename it only once it is complete (at its close).
            if event.has(Int32(IN_CREATE)), !isDirectory, let status = rawStatus(event.name, in: directoryName),
                status.kind == .regular, status.linkCount == 1
            {
                return
            }
            guard let repaired = usableName(event.name, in: directoryName) else { return }
            name = repaired
        }
        if Inbox.isWriterTemporaryName(name) { return }
        let relative = Inbox.join(directoryName, name)
        if event.has(Int32(IN_MOVED_TO)), renamedHere.remove(relative) != nil {
            return  // our own rename of a non-UTF-8 name, already handled when it was made
        }

        if isGone {
            if isDirectory {
                // Deleted: the kernel drops its watches (IN_IGNORED). Moved: it may be outside the
                // inbox now; forget its watches and files (a move within arrives as IN_MOVED_TO).
                if event.has(Int32(IN_MOVED_FROM)) { forgetSubtree(relative) }
            } else {
                files[relative] = nil
                seenDone[relative] = nil
            }
            return
        }
        if isDirectory {
            if event.has(Int32(IN_CREATE)) || event.has(Int32(IN_MOVED_TO)) { scanNewDirectory(relative) }
            return
        }
        guard let status = statusOfEvent(relative, in: directoryName) else { return }
        if status.kind == .directory {
            scanNewDirectory(relative)
            return
        }
        if event.has(Int32(IN_MOVED_TO)) {
            reportUnlessKnown(relative, status, .renamed)  // renamed in: complete, whatever its kind
        } else if event.has(Int32(IN_CLOSE_WRITE)) {
            if status.kind.isRegular {
                settle(relative, status, .closed)
            } else {
                reportUnlessKnown(relative, status, .closed)
            }
        } else if event.has(Int32(IN_CREATE)) {
            if !status.kind.isRegular {
                reportUnlessKnown(relative, status, .renamed)
            } else if status.linkCount > 1 {
                settle(relative, status, .found)  // a hard link: no close will come
            }
            // A new regular file: wait for its IN_CLOSE_WRITE.
        }
    }

    /// The inbox, open, or nil. Never held between two uses: a descriptor kept open would keep a
    /// deleted inbox alive, and inotify would report its removal (`IN_IGNORED`) only after the last
    /// reference is gone, so the inbox would never be made again.
    private func openRoot() -> DirectoryHandle? {
        try? DirectoryHandle.open(directory)
    }

    private func startRescanTimer() {
        guard let rescanInterval else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = Inbox.dispatchInterval(rescanInterval)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in
            guard let self, lifecycle == .running else { return }
            logger.debug("inbox: periodic rescan")
            rescanOnQueue()
        }
        timer.resume()
        rescanTimer = timer
    }

    private func handleOverflowOnQueue() {
        counters.overflows += 1
        logger.warning("inbox: inotify queue overflowed; rescanning \(directory)")
        rescanOnQueue()
    }

    private func rescanOnQueue() {
        guard lifecycle == .running else { return }
        counters.rescans += 1
        do {
            try scanTree(from: "", full: true)
        } catch {
            logger.error("inbox: rescan of \(directory) failed: \(error)")
        }
    }

    /// The inbox directory's watch is gone (deleted, moved, unmounted): recreate and rescan it.
    private func reestablishInbox() {
        guard lifecycle == .running else { return }
        for watch in directoriesByWatch.keys { watcher?.removeWatch(watch) }
        directoriesByWatch.removeAll()
        watchesByDirectory.removeAll()
        files.removeAll()
        seenDone.removeAll()
        do {
            try DurableFile.createDirectories(directory)
            identities.removeAll()
            counters.rescans += 1
            try scanTree(from: "", full: true)
            logger.notice("inbox: watching \(directory) again")
        } catch {
            logger.error("inbox: cannot recreate \(directory): \(error); retrying in 1 s")
            queue.asyncAfter(deadline: .now() + 1) { [weak self] in self?.reestablishInbox() }
        }
    }

    // MARK: - Settling and reporting (on `queue`)

    private func settle(_ relative: String, _ status: FileStatus, _ arrival: InboxEntry.Arrival) {
        if case .reported = files[relative] { return }
        nextGeneration += 1
        let generation = nextGeneration
        files[relative] = .settling(status, generation: generation, arrival: arrival)
        queue.asyncAfter(deadline: .now() + Inbox.dispatchInterval(settleTime)) { [weak self] in
            self?.settleTimerFired(relative, generation: generation)
        }
    }

    private func settleTimerFired(_ relative: String, generation: UInt64) {
        guard lifecycle == .running, case .settling(let before, let current, let arrival) = files[relative],
            current == generation
        else { return }
        guard let now = status(of: relative) else {
            files[relative] = nil  // gone meanwhile
            return
        }
        if now == before || !now.kind.isRegular {
            report(relative, now, arrival)
        } else {
            files[relative] = nil
            settle(relative, now, arrival)  // changed: wait again
        }
    }

    private func reportUnlessKnown(_ relative: String, _ status: FileStatus, _ arrival: InboxEntry.Arrival) {
        if case .reported = files[relative] { return }
        report(relative, status, arrival)
    }

    private func report(_ relative: String, _ status: FileStatus, _ arrival: InboxEntry.Arrival) {
        if arrival != .found { seenDone[relative] = (status, arrival) }
        nextSerial += 1
        files[relative] = .reported(serial: nextSerial)
        counters.reported += 1
        continuation.yield(
            InboxEntry(
                path: absolute(relative), name: relative, kind: status.kind, size: status.size, serial: nextSerial,
                arrival: arrival))
    }

    // MARK: - Scanning (on `queue`)

    private func scanNewDirectory(_ relative: String) {
        do {
            try scanTree(from: relative, full: false)
        } catch {
            logger.warning("inbox: cannot scan \(absolute(relative)): \(error)")
        }
    }

    /// Watches `start` and every directory below it, each before it is listed, and reports the files
    /// found. A full scan (`start == ""`, `full`) also forgets watches and reports of entries no
    /// longer there (events lost to an overflow) and removes empty subdirectories older than the
    /// settle time. Throws only if the inbox itself cannot be watched or listed.
    private func scanTree(from start: String, full: Bool) throws(FileSystemError) {
        guard let watcher else { return }
        let now = FileStatus.nowNanoseconds()
        let settleNanoseconds = Inbox.nanoseconds(settleTime)
        var seenWatches: Set<Int32> = []
        var seenFiles: Set<String> = []
        var pending = [start]
        let top = try DirectoryHandle.open(directory)
        while let relative = pending.popLast() {
            let path = absolute(relative)
            // Reached from the inbox's descriptor without following a symlink: a directory a member
            // swapped for a link (to db/, say) is not listed, watched or emptied.
            let handle: DirectoryHandle
            do {
                handle = try top.openDirectory(beneath: relative)
            } catch {
                if relative.isEmpty { throw error }
                continue  // gone, or now a symlink or not a directory
            }
            // Watch first, list second: whatever lands after the watch exists produces an event,
            // whatever landed before is listed.
            do {
                let watch = try watcher.addWatch(
                    relative.isEmpty ? path : Inbox.procPath(handle),
                    mask: relative.isEmpty ? Inbox.eventMask : Inbox.subdirectoryMask)
                if let previous = directoriesByWatch[watch], previous != relative, watchesByDirectory[previous] == watch
                {
                    watchesByDirectory[previous] = nil  // the same directory, moved
                }
                directoriesByWatch[watch] = relative
                watchesByDirectory[relative] = watch
                identities[relative] = (handle.device, handle.inode)
                seenWatches.insert(watch)
            } catch {
                if relative.isEmpty { throw error }
                if error.code == ENOENT || error.code == ENOTDIR { continue }  // gone
                // ENOSPC: fs.inotify.max_user_watches is exhausted. Still list it so its files are
                // taken once; later arrivals in it wait for the next (periodic) full scan.
                logger.error("inbox: cannot watch \(path): \(error)")
            }
            let names: [[UInt8]]
            do {
                names = try DirectoryReader.names(in: handle)
            } catch {
                if relative.isEmpty { throw error }
                continue
            }
            if full && !relative.isEmpty && names.isEmpty {
                if let status = FileStatus.of(handle), now - status.modified >= settleNanoseconds,
                    removeDirectory(relative)
                {
                    forgetSubtree(relative)
                }
                continue
            }
            for raw in names {
                guard !WriterTemporaryName.matches(bytes: raw), let name = usableName(raw, in: relative) else {
                    continue
                }
                let child = Inbox.join(relative, name)
                guard let status = try? handle.status(of: name) else { continue }
                if status.kind == .directory {
                    pending.append(child)
                    continue
                }
                seenFiles.insert(child)
                if files[child] != nil { continue }  // settling or reported already
                // Unless its close was seen and it has not changed since, the daemon checks for
                // open writers before taking it (a writer may have paused mid-file).
                let done = seenDone[child].flatMap { $0.status == status ? $0.arrival : nil }
                if status.kind.isRegular && now - status.modified < settleNanoseconds {
                    settle(child, status, done ?? .found)
                } else {
                    report(child, status, done ?? .found)
                }
            }
        }
        guard full && start.isEmpty else { return }
        renamedHere.removeAll()  // their events may have been lost; the files are known now
        for watch in directoriesByWatch.keys where !seenWatches.contains(watch) {
            watcher.removeWatch(watch)  // a directory that left the inbox while events were lost
            forgetWatch(watch)
        }
        for relative in files.keys where !seenFiles.contains(relative) {
            files[relative] = nil
        }
        for relative in seenDone.keys where !seenFiles.contains(relative) {
            seenDone[relative] = nil
        }
    }

    /// The name as a String. A name that is not UTF-8 is renamed in place with its invalid bytes
    /// written `%XX`, and the new name returned; nil if that fails (logged).
    private func usableName(_ raw: [UInt8], in directoryName: String) -> String? {
        if let name = String(validating: raw, as: UTF8.self) { return name }
        let repaired = Inbox.escapingInvalidUTF8(raw)
        let directoryPath = absolute(directoryName)
        let target = "\(directoryPath)/\(repaired)"
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        if (try? handle.status(of: repaired)) != nil {
            logger.warning("inbox: cannot rename a non-UTF-8 name in \(directoryPath) to \(repaired): it exists")
            return nil
        }
        let from = raw + [0]
        let renamed = from.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                renameat(handle.descriptor, $0.baseAddress!, handle.descriptor, repaired)
            }
        }
        if renamed != 0 {
            if errno != ENOENT {
                logger.warning(
                    "inbox: cannot rename a non-UTF-8 name to \(target): \(FileSystemError.current("rename", target))")
            }
            return nil
        }
        logger.notice("inbox: renamed a name that is not UTF-8 to \(target)")
        renamedHere.insert(Inbox.join(directoryName, repaired))
        return repaired
    }

    /// `lstat` of a raw (non-UTF-8) name in a watched directory, reached beneath the inbox.
    private func rawStatus(_ raw: [UInt8], in directoryName: String) -> FileStatus? {
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        return (raw + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { FileStatus.at(handle.descriptor, name: $0.baseAddress!) }
        }
    }

    /// `lstat` of `relative`, reached beneath the inbox without following a symlink; nil if gone.
    private func status(of relative: String) -> FileStatus? {
        let (directoryName, name) = DirectoryHandle.split(relative)
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        return try? handle.status(of: name)
    }

    /// `lstat` of an event's entry, used only while the watched directory `directoryName` is still
    /// the directory its watch was added to (device, inode). A directory replaced under its name is
    /// scanned again (which watches the new one) instead.
    private func statusOfEvent(_ relative: String, in directoryName: String) -> FileStatus? {
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        if let known = identities[directoryName], known.device != handle.device || known.inode != handle.inode {
            logger.debug("inbox: \(absolute(directoryName)) is another directory now; scanning it again")
            scanNewDirectory(directoryName)
            return nil
        }
        return try? handle.status(of: DirectoryHandle.split(relative).name)
    }

    /// Removes the empty directory `relative` (never the inbox), through its parent's descriptor.
    private func removeDirectory(_ relative: String) -> Bool {
        guard !relative.isEmpty else { return false }
        let (parent, name) = DirectoryHandle.split(relative)
        guard let handle = try? root?.openDirectory(beneath: parent) else { return false }
        return (try? handle.remove(name, directory: true)) != nil
    }

    /// `/proc/self/fd/N`: the path inotify is given to watch a directory opened beneath the inbox,
    /// so that the watch is on that very directory, whatever symlinks its path may hold by then.
    static func procPath(_ handle: DirectoryHandle) -> String {
        "/proc/self/fd/\(handle.descriptor)"
    }

    /// `raw` with every byte that is not part of a valid UTF-8 sequence written `%XX`.
    static func escapingInvalidUTF8(_ raw: [UInt8]) -> String {
        var output = ""
        var index = 0
        while index < raw.count {
            let lead = raw[index]
            let length =
                lead < 0x80
                ? 1
                : (0xC2...0xDF).contains(lead)
                    ? 2 : (0xE0...0xEF).contains(lead) ? 3 : (0xF0...0xF4).contains(lead) ? 4 : 0
            if length > 0, index + length <= raw.count,
                let scalar = String(validating: raw[index..<index + length], as: UTF8.self)
            {
                output += scalar
                index += length
            } else {
                output += "%" + String(lead, radix: 16, uppercase: true).leftPadded(to: 2)
                index += 1
            }
        }
        return output
    }

    // MARK: - Bookkeeping (on `queue`)

    private func forgetWatch(_ watch: Int32) {
        guard let relative = directoriesByWatch.removeValue(forKey: watch) else { return }
        if watchesByDirectory[relative] == watch {
            watchesByDirectory[relative] = nil
            identities[relative] = nil
        }
    }

    /// Drops the watches of `relative` and everything below it, and the files known there.
    private func forgetSubtree(_ relative: String) {
        let prefix = relative + "/"
        for (watch, directoryName) in directoriesByWatch
        where directoryName == relative || directoryName.hasPrefix(prefix) {
            watcher?.removeWatch(watch)
            forgetWatch(watch)
        }
        for name in files.keys where name.hasPrefix(prefix) {
            files[name] = nil
        }
        for name in seenDone.keys where name.hasPrefix(prefix) {
            seenDone[name] = nil
        }
    }

    private func removeEmptyDirectoriesOnQueue(relative: String) {
        var directoryName = Inbox.parent(of: relative)
        while !directoryName.isEmpty {
            guard removeDirectory(directoryName) else { return }  // not empty (or gone): stop
            forgetSubtree(directoryName)
            directoryName = Inbox.parent(of: directoryName)
        }
    }

    // MARK: - Paths and time

    private func absolute(_ relative: String) -> String {
        relative.isEmpty ? directory : "\(directory)/\(relative)"
    }

    private static func join(_ directoryName: String, _ name: String) -> String {
        directoryName.isEmpty ? name : "\(directoryName)/\(name)"
    }

    private static func parent(of relative: String) -> String {
        guard let slash = relative.lastIndex(of: "/") else { return "" }
        return String(relative[..<slash])
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    private static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        .nanoseconds(Int(max(0, nanoseconds(duration))))
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
