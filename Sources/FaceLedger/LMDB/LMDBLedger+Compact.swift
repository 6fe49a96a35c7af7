import CLMDB
import FaceCore
import Foundation

/// `facewatch ledger compact` on LMDB: a copy of the live pages only.
///
/// LMDB never shrinks `data.mdb` and never clears a page it frees: after a forget, the deleted
/// record's bytes (its encodings) stay in free pages until a later write reuses them. `mdb_env_copyfd2`
/// with `MDB_CP_COMPACT` walks the live B-trees and writes each live page, skipping free ones; a page
/// is written from its used parts only (`mdb_page_copy` leaves out the gap between a page's node
/// pointers and its nodes, where a deleted node's bytes could linger), into a buffer that starts
/// zeroed. The copy replaces `data.mdb` by `rename(2)`, so the old file, free pages and all, is no
/// longer any file's content.
extension LMDBLedger {
    /// What a compaction did.
    public struct Compaction: Sendable, Equatable {
        /// `data.mdb`'s size before and after, in bytes.
        public var bytesBefore: Int
        public var bytesAfter: Int
    }

    /// Rewrites the environment in `directory` without its free pages.
    ///
    /// The caller must make sure no other process has the environment open for writing (the daemon
    /// stopped, no other writing command), and must not use a `Ledger` of this directory opened
    /// before the call: its map is of the old file. `lock.mdb` is made anew (the copy starts its
    /// transaction ids again), owned like `data.mdb`.
    /// - Throws: `LedgerError` when the copy, its sync or the rename fails (then `data.mdb` is unchanged).
    public static func compact(directory: URL) throws(LedgerError) -> Compaction {
        let dataFile = directory.appendingPathComponent("data.mdb").path
        let lockFile = directory.appendingPathComponent("lock.mdb").path
        let temporary = directory.appendingPathComponent("data.mdb.compacting").path
        var original = stat()
        guard stat(dataFile, &original) == 0 else {
            throw LedgerError(.notFound, "no ledger at \(directory.path) (no data.mdb)", status: errno)
        }
        unlink(temporary)  // a previous compaction cut short
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw LedgerError(.lmdb, "cannot create \(temporary): \(systemErrorText(errno))", status: errno)
        }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            // The environment is closed again before the rename: no map of the old file stays open here.
            defer { close(fd) }
            let ledger = try LMDBLedger(directory: directory)
            try check(mdb_env_copyfd2(ledger.environment.pointer, fd, UInt32(MDB_CP_COMPACT)), "mdb_env_copyfd2")
            _ = fchmod(fd, original.st_mode & 0o7777)
            if getuid() == 0 { _ = fchown(fd, original.st_uid, original.st_gid) }
            guard fsync(fd) == 0 else {
                throw LedgerError(.lmdb, "cannot sync \(temporary): \(systemErrorText(errno))", status: errno)
            }
        }
        guard rename(temporary, dataFile) == 0 else {
            throw LedgerError(.lmdb, "cannot rename \(temporary): \(systemErrorText(errno))", status: errno)
        }
        renamed = true
        unlink(lockFile)
        let directoryFD = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
        // The first open makes the new lock file from the new meta pages.
        _ = try LMDBLedger(directory: directory)
        if getuid() == 0 { _ = chown(lockFile, original.st_uid, original.st_gid) }
        var compacted = stat()
        _ = stat(dataFile, &compacted)
        return Compaction(bytesBefore: Int(original.st_size), bytesAfter: Int(compacted.st_size))
    }

    /// Compacts this ledger's environment in place while this process goes on using it
    /// (`LMDBEnvironment.compactInPlace`): the daemon's scheduled compaction. The caller holds the
    /// maintenance lock, so that no other process writes meanwhile.
    /// - Throws: `LedgerError` when the copy, its sync or the rename fails (then `data.mdb` is unchanged).
    /// `pause` is a test hook: called at `copied` and `renamed` (see `LMDBEnvironment.compactInPlace`).
    public func compactInPlace(pause: (String) -> Void = { _ in }) throws(LedgerError) -> Compaction {
        try environment.compactInPlace(pause: pause)
    }
}
