import CLMDB
import FaceCore
import Foundation

/// Compaction of an environment this process has open and goes on using (the daemon's scheduled
/// compaction, `compact_every`).
///
/// With every transaction of this process excluded (`ResizeGate.exclusively`, as for a map resize),
/// the live pages are copied (`mdb_env_copyfd2` with `MDB_CP_COMPACT`, as `LMDBLedger.compact`
/// does) into `data.mdb.compacting`, which is synced; then the environment is closed, the copy renamed
/// over `data.mdb`, `lock.mdb` removed (the copy starts its transaction ids again), and the
/// environment opened again on the copy with the same flags, map size and reader slots, its named
/// databases opened in the same order so that their handles are the same ones every `Databases`
/// value of this process holds (checked). Other processes must not write meanwhile: the caller holds
/// the maintenance lock that every writing command takes (`MaintenanceLock`); a read-only command
/// that has the old file open reads it as it was until it closes it. `lock.mdb` is removed after the
/// rename, not before: a process opening the ledger in between could otherwise make a lock file from
/// the old `data.mdb` that this process would then share with the copy (its transaction ids are the
/// old file's); this way the writer always has a lock file made from the copy, and only a read-only
/// command that opens the ledger in the instant between the rename and the removal may read without
/// being seen by the writer (it is a short-lived command: it may fail, it writes nothing).
extension LMDBEnvironment {
    /// `pause` is called with `copied` (the copy synced, the environment still open) and `renamed` (the
    /// copy renamed over `data.mdb`, the old `lock.mdb` still there): test hooks that stop there.
    func compactInPlace(pause: (String) -> Void = { _ in }) throws(LedgerError) -> LMDBLedger.Compaction {
        guard !readOnly else { throw LedgerError(.readOnly, "the ledger at \(directory) is open read-only") }
        return try gate.exclusively { () throws(LedgerError) in
            let dataFile = directory + "/data.mdb"
            let lockFile = directory + "/lock.mdb"
            let temporary = directory + "/data.mdb.compacting"
            var original = stat()
            var lockStatus = stat()
            guard stat(dataFile, &original) == 0, stat(lockFile, &lockStatus) == 0 else {
                throw LedgerError(
                    .lmdb, "cannot stat the ledger in \(directory): \(systemErrorText(errno))", status: errno)
            }
            unlink(temporary)  // a previous compaction cut short
            let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                throw LedgerError(.lmdb, "cannot create \(temporary): \(systemErrorText(errno))", status: errno)
            }
            var renamed = false
            defer { if !renamed { unlink(temporary) } }
            do {
                defer { close(fd) }
                try check(mdb_env_copyfd2(pointer, fd, UInt32(MDB_CP_COMPACT)), "mdb_env_copyfd2")
                _ = fchmod(fd, original.st_mode & 0o7777)
                if getuid() == 0 { _ = fchown(fd, original.st_uid, original.st_gid) }
                guard fsync(fd) == 0 else {
                    throw LedgerError(.lmdb, "cannot sync \(temporary): \(systemErrorText(errno))", status: errno)
                }
            }
            pause("copied")
            var flags: UInt32 = 0
            var readers: UInt32 = 0
            try check(mdb_env_get_flags(pointer, &flags), "mdb_env_get_flags")
            try check(mdb_env_get_maxreaders(pointer, &readers), "mdb_env_get_maxreaders")
            let size = mapSize
            let mode = lockStatus.st_mode & 0o777
            mdb_env_close(pointer)
            // From here this process has no environment: it must have one again before the gate opens,
            // on the copy or (the rename failed) on the original. Neither can fail short of the disk
            // or the memory failing; if it does, this process cannot go on with a closed environment,
            // and stopping is what keeps the ledger whole (the next start opens it).
            let moved = rename(temporary, dataFile) == 0
            let renameError = errno
            if moved {
                renamed = true
                pause("renamed")
                unlink(lockFile)
                let directoryFD = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if directoryFD >= 0 {
                    _ = fsync(directoryFD)
                    close(directoryFD)
                }
            }
            do throws(LedgerError) {
                pointer = try reopen(flags: flags, mapSize: size, readers: readers, mode: mode)
            } catch {
                fatalError("cannot open the ledger at \(directory) again after compacting it: \(error)")
            }
            guard moved else {
                throw LedgerError(
                    .lmdb, "cannot rename \(temporary): \(systemErrorText(renameError))", status: renameError)
            }
            if getuid() == 0 { _ = chown(lockFile, lockStatus.st_uid, lockStatus.st_gid) }
            var compacted = stat()
            _ = stat(dataFile, &compacted)
            return LMDBLedger.Compaction(bytesBefore: Int(original.st_size), bytesAfter: Int(compacted.st_size))
        }
    }

    /// Opens the environment in `directory` again and its named databases in the order `open` did;
    /// their handles must be the ones this process holds.
    private func reopen(flags: UInt32, mapSize: Int, readers: UInt32, mode: mode_t) throws(LedgerError)
        -> OpaquePointer
    {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LedgerError(.lmdb, "mdb_env_create returned no environment") }
        var handedOver = false
        defer { if !handedOver { mdb_env_close(env) } }
        try check(mdb_env_set_maxdbs(env, Databases.count + PeopleDatabases.count + 3), "mdb_env_set_maxdbs")
        try check(mdb_env_set_maxreaders(env, readers), "mdb_env_set_maxreaders")
        try check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
        try check(mdb_env_open(env, directory, flags, mode), "mdb_env_open \(directory)")
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin (write)")
        guard let txn else { throw LedgerError(.lmdb, "mdb_txn_begin returned no transaction") }
        var handles: [MDB_dbi] = []
        let names = Databases.names
        var all = [names.records, names.byTime, names.bySHA, names.queue, names.meta]
        if people != nil {
            all += [PeopleDatabases.names.known, PeopleDatabases.names.labels, PeopleDatabases.names.people]
        }
        for name in all {
            var dbi: MDB_dbi = 0
            let rc = mdb_dbi_open(txn, name, UInt32(MDB_CREATE), &dbi)
            guard rc == 0 else {
                mdb_txn_abort(txn)
                throw LedgerError.lmdb(rc, "mdb_dbi_open \(name)")
            }
            handles.append(dbi)
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit (open databases)")
        let d = databases
        var expected = [d.records, d.byTime, d.bySHA, d.queue, d.meta]
        if let p = people { expected += [p.known, p.labels, p.people] }
        guard handles == expected else {
            throw LedgerError(.lmdb, "the compacted ledger's databases have other handles: \(handles), not \(expected)")
        }
        handedOver = true
        return env
    }
}
