import CLMDB
import FaceCore
import Foundation

/// One open LMDB environment (`MDB_env`) with the ledger's named databases, and the only place that
/// begins transactions.
///
/// - Every write is one write transaction: `write` begins it, runs the body, commits. If LMDB reports
///   `MDB_MAP_FULL` (from a put or from the commit), the transaction is aborted, the map is doubled
///   (`mdb_env_set_mapsize`, up to `maxMapSize`) and the whole body runs again, so callers never see it.
/// - Reads run in short read-only transactions (`read`). With `MDB_NOTLS` they are not tied to a thread.
/// - If another process grew the map, `mdb_txn_begin` returns `MDB_MAP_RESIZED`; the new size is adopted
///   (`mdb_env_set_mapsize(env, 0)`) and the transaction begun again.
final class LMDBEnvironment: @unchecked Sendable {
    // @unchecked Sendable: the two `var`s are set by `open` before it returns the object, and nothing
    // changes afterwards. The `MDB_env` is thread-safe for this usage (lmdb.h): it is opened with
    // MDB_NOTLS, so a read transaction may be used by any thread (each lives inside one `read` call, on
    // one thread at a time); write transactions are serialised by LMDB's own writer mutex and each begins
    // and commits within one synchronous `write` call, hence on one thread; the DBI handles are opened
    // once, before the object is shared; and `mdb_env_set_mapsize`, the one call that needs no other
    // transaction active in the process, runs only inside `gate.exclusively`, which every transaction
    // excludes. `pointer` changes once more only in `compactInPlace`, inside `gate.exclusively` too: no
    // transaction of this process runs while the environment is closed and opened again on the copy.
    var pointer: OpaquePointer
    let readOnly: Bool
    let maxMapSize: Int
    let directory: String
    /// Set once by `open`, before the object is shared.
    private(set) var databases = Databases(records: 0, byTime: 0, bySHA: 0, queue: 0, meta: 0)
    /// The known-people databases (`PeopleDatabases`), set once by `open`; nil for a read-only open of
    /// a ledger no people-aware daemon has opened yet.
    private(set) var people: PeopleDatabases?
    /// Set by `open` once the registry knows this environment, before the object is shared.
    private var registered = false
    private let identity: EnvironmentRegistry.DirectoryIdentity
    let gate = ResizeGate()

    private init(
        pointer: OpaquePointer, readOnly: Bool, maxMapSize: Int, directory: String,
        identity: EnvironmentRegistry.DirectoryIdentity
    ) {
        self.pointer = pointer
        self.readOnly = readOnly
        self.maxMapSize = maxMapSize
        self.directory = directory
        self.identity = identity
    }

    deinit {
        let pointer = self.pointer
        if registered {
            EnvironmentRegistry.shared.closed(identity) { mdb_env_close(pointer) }
        } else {
            // Setup failed inside the registry's lock; nothing else knows this environment.
            mdb_env_close(pointer)
        }
    }

    /// Opens (or shares, see `EnvironmentRegistry`) the environment in `directory`, creating it and its
    /// databases when writable, checking the schema version and running migrations.
    static func open(directory: URL, options: LMDBLedger.Options) throws(LedgerError) -> LMDBEnvironment {
        let path = directory.path
        if !options.readOnly {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw LedgerError(.lmdb, "cannot create the ledger directory \(path): \(error.localizedDescription)")
            }
        }
        var st = stat()
        guard stat(path, &st) == 0 else {
            let e = errno
            if e == ENOENT {
                throw LedgerError(.notFound, "no ledger at \(path) (the directory does not exist)", status: e)
            }
            throw LedgerError(.lmdb, "cannot open the ledger at \(path): \(systemErrorText(e))", status: e)
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw LedgerError(.invalidArgument, "the ledger path \(path) is not a directory", status: ENOTDIR)
        }
        let identity = EnvironmentRegistry.DirectoryIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        return try EnvironmentRegistry.shared.environment(for: identity, readOnly: options.readOnly, directory: path) {
            () throws(LedgerError) in
            try openNew(path: path, identity: identity, options: options)
        }
    }

    private static func openNew(
        path: String, identity: EnvironmentRegistry.DirectoryIdentity, options: LMDBLedger.Options
    ) throws(LedgerError) -> LMDBEnvironment {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LedgerError(.lmdb, "mdb_env_create returned no environment") }
        var handedOver = false
        defer { if !handedOver { mdb_env_close(env) } }

        try check(mdb_env_set_maxdbs(env, Databases.count + PeopleDatabases.count + 3), "mdb_env_set_maxdbs")
        try check(mdb_env_set_maxreaders(env, UInt32(clamping: max(options.maxReaders, 1))), "mdb_env_set_maxreaders")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let configured = max(roundUp(options.mapSize, to: page), page)
        let dataFile = path + "/data.mdb"
        let existing = (try? FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int) ?? 0
        // A new environment starts at the configured size. An existing one keeps the size recorded in
        // its meta page (possibly grown earlier) and is raised to the configured size below.
        if !options.readOnly && existing == 0 {
            try check(mdb_env_set_mapsize(env, configured), "mdb_env_set_mapsize")
        }
        var flags = UInt32(MDB_NOTLS)
        if options.readOnly { flags |= UInt32(MDB_RDONLY) }
        let rc = mdb_env_open(env, path, flags, options.fileMode)
        if rc == ENOENT {
            throw LedgerError(.notFound, "no ledger at \(path) (no data.mdb)", status: rc)
        }
        if rc == EACCES {
            throw LedgerError(
                .lmdb,
                "permission denied opening the ledger at \(path): even a read-only reader needs write "
                    + "access to lock.mdb", status: rc)
        }
        try check(rc, "mdb_env_open \(path)")
        if !options.readOnly {
            var info = MDB_envinfo()
            try check(mdb_env_info(env, &info), "mdb_env_info")
            if info.me_mapsize < configured {
                try check(mdb_env_set_mapsize(env, configured), "mdb_env_set_mapsize")
            }
            // Free the reader slots of processes that died inside a read transaction.
            var dead: Int32 = 0
            _ = mdb_reader_check(env, &dead)
        }

        handedOver = true
        let environment = LMDBEnvironment(
            pointer: env, readOnly: options.readOnly, maxMapSize: max(options.maxMapSize, configured),
            directory: path, identity: identity)
        // On a throw the environment is released here and its deinit closes it.
        environment.databases = try options.readOnly ? environment.openReadOnly() : environment.openWritable()
        environment.people = try environment.openPeopleDatabases()
        environment.registered = true
        return environment
    }

    // MARK: - Transactions

    /// Runs `body` in a read-only transaction (a consistent snapshot) and ends it. Values `body` sees
    /// must be copied out before it returns.
    func read<T>(_ body: (Transaction) throws(LedgerError) -> T) throws(LedgerError) -> T {
        while true {
            gate.enter()
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(pointer, nil, UInt32(MDB_RDONLY), &txn)
            if rc == MDB_MAP_RESIZED {
                gate.leave()
                try adoptMapSize()
                continue
            }
            defer {
                if rc == 0 { mdb_txn_abort(txn) }
                gate.leave()
            }
            try check(rc, "mdb_txn_begin (read)")
            return try body(Transaction(txn: txn!))
        }
    }

    /// Runs `body` in a write transaction and commits it: one call, one durable commit (unless `body`
    /// throws, which aborts). `body` may run more than once (after growing a full map), so it must not
    /// have effects outside the transaction.
    @discardableResult
    func write<T>(_ body: (Transaction) throws(LedgerError) -> T) throws(LedgerError) -> T {
        guard !readOnly else {
            throw LedgerError(.readOnly, "the ledger at \(directory) is open read-only")
        }
        while true {
            gate.enter()
            let observedMapSize = mapSize
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(pointer, nil, 0, &txn)
            if rc == MDB_MAP_RESIZED {
                gate.leave()
                try adoptMapSize()
                continue
            }
            guard rc == 0, let txn else {
                gate.leave()
                throw LedgerError.lmdb(rc, "mdb_txn_begin (write)")
            }
            let outcome: Result<T, LedgerError>
            do throws(LedgerError) {
                let value = try body(Transaction(txn: txn))
                // mdb_txn_commit frees the transaction whether it succeeds or not.
                let commit = mdb_txn_commit(txn)
                outcome = commit == 0 ? .success(value) : .failure(LedgerError.lmdb(commit, "mdb_txn_commit"))
            } catch {
                mdb_txn_abort(txn)
                outcome = .failure(error)
            }
            gate.leave()
            switch outcome {
            case .success(let value):
                return value
            case .failure(let error) where error.isMapFull:
                try grow(from: observedMapSize)
            case .failure(let error):
                throw error
            }
        }
    }

    /// The current size of this process's memory map, in bytes.
    var mapSize: Int {
        var info = MDB_envinfo()
        _ = mdb_env_info(pointer, &info)
        return Int(info.me_mapsize)
    }

    /// Frees the reader slots of processes that died inside a read transaction (`mdb_reader_check`);
    /// returns how many were freed.
    func clearStaleReaders() throws(LedgerError) -> Int {
        var dead: Int32 = 0
        try check(mdb_reader_check(pointer, &dead), "mdb_reader_check")
        return Int(dead)
    }

    // MARK: - Map size

    /// Doubles the map (up to `maxMapSize`) unless another thread already grew it past `observed`.
    private func grow(from observed: Int) throws(LedgerError) {
        try gate.exclusively { () throws(LedgerError) in
            let current = mapSize
            if current > observed { return }
            guard current < maxMapSize else {
                throw LedgerError(
                    .mapFull,
                    "the ledger at \(directory) is full: its map reached the limit of \(maxMapSize) bytes",
                    status: MDB_MAP_FULL)
            }
            try check(mdb_env_set_mapsize(pointer, min(current * 2, maxMapSize)), "mdb_env_set_mapsize")
        }
    }

    /// Adopts the map size another process grew the environment to.
    private func adoptMapSize() throws(LedgerError) {
        try gate.exclusively { () throws(LedgerError) in
            try check(mdb_env_set_mapsize(pointer, 0), "mdb_env_set_mapsize")
        }
    }

    // MARK: - Setup

    /// Creates (if needed) and opens the named databases, checks the schema version and runs the
    /// migrations, all in one write transaction.
    private func openWritable() throws(LedgerError) -> Databases {
        try write { txn throws(LedgerError) in
            func open(_ name: String) throws(LedgerError) -> MDB_dbi {
                var dbi: MDB_dbi = 0
                try check(mdb_dbi_open(txn.txn, name, UInt32(MDB_CREATE), &dbi), "mdb_dbi_open \(name)")
                return dbi
            }
            let names = Databases.names
            let dbs = Databases(
                records: try open(names.records), byTime: try open(names.byTime), bySHA: try open(names.bySHA),
                queue: try open(names.queue), meta: try open(names.meta))
            try LedgerSchema.prepare(txn, dbs, writable: true, directory: directory)
            return dbs
        }
    }

    /// Opens the named databases of an existing ledger and checks its schema version, in a read
    /// transaction that is committed: read-only DBI handles persist only then (lmdb.h, mdb_dbi_open).
    /// Runs before the environment is shared, so it needs no gate.
    private func openReadOnly() throws(LedgerError) -> Databases {
        var txn: OpaquePointer?
        var rc = mdb_txn_begin(pointer, nil, UInt32(MDB_RDONLY), &txn)
        if rc == MDB_MAP_RESIZED {
            try check(mdb_env_set_mapsize(pointer, 0), "mdb_env_set_mapsize")
            rc = mdb_txn_begin(pointer, nil, UInt32(MDB_RDONLY), &txn)
        }
        try check(rc, "mdb_txn_begin (read)")
        guard let txn else { throw LedgerError(.lmdb, "mdb_txn_begin returned no transaction") }
        let dbs: Databases
        do throws(LedgerError) {
            dbs = try openExisting(Transaction(txn: txn))
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit (open databases)")
        return dbs
    }

    private func openExisting(_ txn: Transaction) throws(LedgerError) -> Databases {
        func open(_ name: String) throws(LedgerError) -> MDB_dbi? {
            var dbi: MDB_dbi = 0
            let rc = mdb_dbi_open(txn.txn, name, 0, &dbi)
            if rc == MDB_NOTFOUND { return nil }
            try check(rc, "mdb_dbi_open \(name)")
            return dbi
        }
        let names = Databases.names
        guard let records = try open(names.records) else {
            throw LedgerError(.notFound, "no ledger has been initialised at \(directory) (start the daemon once)")
        }
        guard let meta = try open(names.meta) else {
            throw LedgerError(
                .olderSchema,
                "the ledger at \(directory) has schema version 0 and needs a migration to version "
                    + "\(LedgerSchema.currentVersion); open it read-write once (start the daemon) to migrate")
        }
        // Check the version before requiring the databases that version 1 introduced.
        let partial = Databases(records: records, byTime: 0, bySHA: 0, queue: 0, meta: meta)
        try LedgerSchema.prepare(txn, partial, writable: false, directory: directory)
        guard let byTime = try open(names.byTime), let bySHA = try open(names.bySHA),
            let queue = try open(names.queue)
        else { throw LedgerError.corrupt("the ledger at \(directory) lacks an index database") }
        return Databases(records: records, byTime: byTime, bySHA: bySHA, queue: queue, meta: meta)
    }
}

private func roundUp(_ value: Int, to multiple: Int) -> Int {
    (value + multiple - 1) / multiple * multiple
}
