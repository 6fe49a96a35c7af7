import FaceCore
import FaceRoot
import Foundation
import Glibc
import Synchronization

// Moving a file into the store across file systems: a journal, a copy made from the daemon's own
// descriptor (sparse files stay sparse), a rename into place, then the source unlinked.

extension Store {
    /// The cross-file-system part of ``adopt(_:as:ext:)-(IntakeEntry,_,_)``; returns whether the entry
    /// is now in the store.
    func adoptAcrossFileSystems(
        _ entry: IntakeEntry, into shard: DirectoryHandle, as name: String, stored: StoredFile
    ) throws(FileSystemError) -> Bool {
        let source = entry.directory
        switch entry.status.kind {
        case .socket, .characterDevice, .blockDevice, .unknown:
            try source.remove(entry.name)
            try source.sync()
            return false
        case .regular where entry.isTooLarge:
            // Never copied: its record says too_large, which is all there is to keep of it.
            try source.remove(entry.name)
            try source.sync()
            return false
        case .regular:
            try adoptByCopy(entry, into: shard, as: name, stored: stored)
            return true
        case .symlink:
            let target = try Store.readSymlink(entry.name, in: source)
            let temporary = Store.temporaryName()
            if symlinkat(target, shard.descriptor, temporary) != 0 {
                throw .current("symlink", shard.display(temporary))
            }
            try Store.place(temporary, as: name, in: shard)
        case .fifo:
            let temporary = Store.temporaryName()
            if mkfifoat(shard.descriptor, temporary, entry.status.mode & 0o777) != 0 {
                throw .current("mkfifo", shard.display(temporary))
            }
            try Store.place(temporary, as: name, in: shard)
        case .directory:
            throw FileSystemError(operation: "adopt", path: source.display(entry.name), code: EISDIR)
        }
        try source.remove(entry.name)
        try source.sync()
        return true
    }

    /// Stores a copy of a regular file made from the entry's descriptor and removes the entry: the
    /// entry is first claimed (renamed inside its own directory to a hidden name: a file the daemon
    /// may not remove fails there, before any byte is copied), announced by a journal
    /// `store/.moving-<uuid>` (``finishInterruptedMoves()`` completes it after a crash), copied, and
    /// the claimed name unlinked. If that unlink fails, the copy is removed and the entry given its
    /// name back: a file is never stored without being taken.
    func adoptByCopy(_ entry: IntakeEntry, into shard: DirectoryHandle, as name: String, stored: StoredFile)
        throws(FileSystemError)
    {
        let source = entry.directory
        guard let descriptor = entry.descriptor else {
            throw FileSystemError(operation: "copy", path: name, code: EBADF)
        }
        let claimed = ".facewatch-taking-\(stored.id.uuidString.lowercased())"
        try source.rename(entry.name, to: source, as: claimed, replacing: false)
        let journal = journalPath(for: stored.id)
        let record = MoveJournal(
            device: entry.status.device, inode: entry.status.inode, source: source.display(claimed),
            destination: stored.path, originalName: entry.name)
        var copied = false
        do throws(FileSystemError) {
            try DurableFile.writeAtomically(record.encoded(), to: journal, permissions: 0o600)
            try Store.copy(descriptor, size: entry.status, into: shard, as: name)
            copied = true
            try TestHooks.failClaimedUnlinkIfAsked(entry.name)
            try source.remove(claimed)
        } catch {
            if copied {
                try? shard.remove(name)
                try? shard.sync()
            }
            try? source.rename(claimed, to: source, as: entry.name, replacing: false)
            unlink(journal)
            throw error
        }
        try source.sync()
        // The move is complete and durable; a journal that survives a crash is harmless.
        unlink(journal)
    }

    /// A fresh temporary name for the store (`.facewatch-<random>.tmp`; ``scan()`` deletes leftovers).
    static func temporaryName() -> String {
        ".facewatch-\(Hex.encode((0..<12).map { _ in UInt8.random(in: 0...255) })).tmp"
    }

    /// Renames `temporary` to `name` in `directory` (replacing only when asked) and syncs it; removes the
    /// temporary on failure.
    static func place(
        _ temporary: String, as name: String, in directory: DirectoryHandle, replacing: Bool = false
    ) throws(FileSystemError) {
        do throws(FileSystemError) {
            try directory.rename(temporary, to: directory, as: name, replacing: replacing)
        } catch {
            try? directory.remove(temporary)
            throw error
        }
        try directory.sync()
    }

    /// Copies at most `size.size` bytes of the open file into a new file `name` in `directory`, holes
    /// as holes (``SparseCopy``), through a temporary name, `fsync`ed, renamed without replacing
    /// unless `replacing`, directory synced. The mode (permission bits) and mtime are the source's.
    static func copy(
        _ input: Int32, size: FileStatus, into directory: DirectoryHandle, as name: String, replacing: Bool = false
    ) throws(FileSystemError) {
        let temporary = temporaryName()
        let output = openat(
            directory.descriptor, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .current("open", directory.display(temporary)) }
        var outputIsOpen = true
        do throws(FileSystemError) {
            _ = try SparseCopy.copy(
                input, output, size: size.size, inputName: directory.display(name),
                outputName: directory.display(temporary))
            if fchmod(output, size.mode & 0o777) != 0 { throw .current("fchmod", directory.display(temporary)) }
            var times = [
                timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2),
                timespec(tv_sec: Int(size.modified / 1_000_000_000), tv_nsec: Int(size.modified % 1_000_000_000)),
            ]
            _ = futimens(output, &times)
            if fsync(output) != 0 { throw .current("fsync", directory.display(temporary)) }
            // Closed once, even when close fails: the descriptor is released either way on Linux.
            outputIsOpen = false
            if close(output) != 0 { throw .current("close", directory.display(temporary)) }
        } catch {
            if outputIsOpen { _ = close(output) }
            try? directory.remove(temporary)
            throw error
        }
        try place(temporary, as: name, in: directory, replacing: replacing)
    }

    static func readSymlink(_ name: String, in directory: DirectoryHandle) throws(FileSystemError) -> String {
        var capacity = Int(PATH_MAX) + 1
        while true {
            var buffer = [CChar](repeating: 0, count: capacity)
            let count = readlinkat(directory.descriptor, name, &buffer, capacity)
            if count < 0 { throw .current("readlink", directory.display(name)) }
            if count < capacity {
                return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            capacity *= 2
        }
    }
}
