import FaceCore
import Dispatch
import FaceRoot
import Glibc
import Logging

// Scanning: the full scan at start, after an overflow or on the rescan timer, and the scan of a
// directory that appears.

extension Inbox {
    func scanNewDirectory(_ relative: String) {
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
    func scanTree(from start: String, full: Bool) throws(FileSystemError) {
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

    /// `lstat` of a raw (non-UTF-8) name in a watched directory, reached beneath the inbox.
    func rawStatus(_ raw: [UInt8], in directoryName: String) -> FileStatus? {
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        return (raw + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { FileStatus.at(handle.descriptor, name: $0.baseAddress!) }
        }
    }

    /// `lstat` of `relative`, reached beneath the inbox without following a symlink; nil if gone.
    func status(of relative: String) -> FileStatus? {
        let (directoryName, name) = DirectoryHandle.split(relative)
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        return try? handle.status(of: name)
    }

    /// `lstat` of an event's entry, used only while the watched directory `directoryName` is still
    /// the directory its watch was added to (device, inode). A directory replaced under its name is
    /// scanned again (which watches the new one) instead.
    func statusOfEvent(_ relative: String, in directoryName: String) -> FileStatus? {
        guard let handle = try? root?.openDirectory(beneath: directoryName) else { return nil }
        if let known = identities[directoryName], known.device != handle.device || known.inode != handle.inode {
            logger.debug("inbox: \(absolute(directoryName)) is another directory now; scanning it again")
            scanNewDirectory(directoryName)
            return nil
        }
        return try? handle.status(of: DirectoryHandle.split(relative).name)
    }

    /// Removes the empty directory `relative` (never the inbox), through its parent's descriptor.
    func removeDirectory(_ relative: String) -> Bool {
        guard !relative.isEmpty else { return false }
        let (parent, name) = DirectoryHandle.split(relative)
        guard let handle = try? root?.openDirectory(beneath: parent) else { return false }
        return (try? handle.remove(name, directory: true)) != nil
    }
}
