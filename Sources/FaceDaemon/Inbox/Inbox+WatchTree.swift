import FaceCore
import Dispatch
import FaceRoot
import Glibc
import Logging

// The watch tree: inotify events read and handled on the inbox's queue, a watch per directory, and
// the bookkeeping when directories go.

extension Inbox {
    func readEvents() {
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

    func handle(_ event: InotifyWatcher.Event) {
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
    func openRoot() -> DirectoryHandle? {
        try? DirectoryHandle.open(directory)
    }

    func startRescanTimer() {
        guard let rescanInterval else { return }
        rescanTimer = Task { [weak self, clock] in
            while true {
                do { try await clock.sleep(for: rescanInterval) } catch { return }  // cancelled by stop()
                guard let self else { return }
                queue.async { [self] in
                    guard lifecycle == .running else { return }
                    logger.debug("inbox: periodic rescan")
                    rescanOnQueue()
                }
            }
        }
    }

    func handleOverflowOnQueue() {
        counters.overflows += 1
        logger.warning("inbox: inotify queue overflowed; rescanning \(directory)")
        rescanOnQueue()
    }

    func rescanOnQueue() {
        guard lifecycle == .running else { return }
        counters.rescans += 1
        do {
            try scanTree(from: "", full: true)
        } catch {
            logger.error("inbox: rescan of \(directory) failed: \(error)")
        }
    }

    /// The inbox directory's watch is gone (deleted, moved, unmounted): recreate and rescan it.
    func reestablishInbox() {
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
            after(.seconds(1)) { $0.reestablishInbox() }
        }
    }

    func forgetWatch(_ watch: Int32) {
        guard let relative = directoriesByWatch.removeValue(forKey: watch) else { return }
        if watchesByDirectory[relative] == watch {
            watchesByDirectory[relative] = nil
            identities[relative] = nil
        }
    }

    /// Drops the watches of `relative` and everything below it, and the files known there.
    func forgetSubtree(_ relative: String) {
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

    func removeEmptyDirectoriesOnQueue(relative: String) {
        var directoryName = Inbox.parent(of: relative)
        while !directoryName.isEmpty {
            guard removeDirectory(directoryName) else { return }  // not empty (or gone): stop
            forgetSubtree(directoryName)
            directoryName = Inbox.parent(of: directoryName)
        }
    }
}
