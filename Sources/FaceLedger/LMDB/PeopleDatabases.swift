import CLMDB

/// The named databases of known people, beside the ledger's own (`Databases`). They are created with
/// `MDB_CREATE` when a writable ledger opens, empty at first, and derived data is rebuilt from them, so
/// they need no schema migration: a ledger of any version gains them as it is, and a read-only open
/// of a ledger that lacks them sees no known people.
struct PeopleDatabases: Sendable {
    /// Path relative to the known folder -> `KnownPicture` (person, size, mtime, first encoding).
    let known: MDB_dbi
    /// Result UUID -> `StoredLabels` (the generation they were computed at, the matches per face).
    let labels: MDB_dbi
    /// `PeopleKey` -> value: the state of known people and the relabel, and counts per person.
    let people: MDB_dbi

    static let names = (known: "known", labels: "labels", people: "people")
    static let count: UInt32 = 3
}

/// Keys of the `people` database.
enum PeopleKey {
    /// `PeopleState`.
    static let state = Array("state".utf8)
    /// + person's name: u64 faces, u64 results labelled with that person.
    static let countPrefix = Array("count/".utf8)
    /// u64: entries in the face log.
    static let faceLogCount = Array("face_log_count".utf8)
    /// + u64 big-endian position: the UUID of a result with faces, in the order their labels were
    /// first stored (each such result once): what the face table appends since it was built.
    static let faceLogPrefix = Array("face_log/".utf8)
}

extension LMDBEnvironment {
    /// Opens the people databases: created if missing when writable; nil when read-only and absent.
    func openPeopleDatabases() throws(LedgerError) -> PeopleDatabases? {
        if !readOnly {
            return try write { txn throws(LedgerError) in
                func open(_ name: String) throws(LedgerError) -> MDB_dbi {
                    var dbi: MDB_dbi = 0
                    try check(mdb_dbi_open(txn.txn, name, UInt32(MDB_CREATE), &dbi), "mdb_dbi_open \(name)")
                    return dbi
                }
                let names = PeopleDatabases.names
                return PeopleDatabases(
                    known: try open(names.known), labels: try open(names.labels), people: try open(names.people))
            }
        }
        // Read-only DBI handles persist only when their transaction commits (lmdb.h, mdb_dbi_open).
        var txn: OpaquePointer?
        try check(mdb_txn_begin(pointer, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin (read)")
        guard let txn else { throw LedgerError(.lmdb, "mdb_txn_begin returned no transaction") }
        func open(_ name: String) throws(LedgerError) -> MDB_dbi? {
            var dbi: MDB_dbi = 0
            let rc = mdb_dbi_open(txn, name, 0, &dbi)
            if rc == MDB_NOTFOUND { return nil }
            try check(rc, "mdb_dbi_open \(name)")
            return dbi
        }
        let names = PeopleDatabases.names
        let found: PeopleDatabases?
        do throws(LedgerError) {
            if let known = try open(names.known), let labels = try open(names.labels),
                let people = try open(names.people)
            {
                found = PeopleDatabases(known: known, labels: labels, people: people)
            } else {
                found = nil
            }
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try check(mdb_txn_commit(txn), "mdb_txn_commit (open people databases)")
        return found
    }
}
