import CLMDB
import Foundation

/// Handles of the named databases of one environment; opened once, valid for the environment's life.
struct Databases: Sendable {
    /// UUID -> record (`RecordCodec`).
    let records: MDB_dbi
    /// creation time + UUID -> empty, every record (`Keys`).
    let byTime: MDB_dbi
    /// SHA-256 bytes -> UUID of a completed record with that content.
    let bySHA: MDB_dbi
    /// creation time + UUID -> empty, exactly the records in `created` status.
    let queue: MDB_dbi
    /// `MetaKey` -> value.
    let meta: MDB_dbi

    static let names = (records: "records", byTime: "by_time", bySHA: "by_sha", queue: "queue", meta: "meta")
    static let count: UInt32 = 5
}

/// Keys of the `meta` database.
enum MetaKey {
    /// u32 little-endian schema version. Absent in a schema-0 database.
    static let schemaVersion = Array("schema_version".utf8)
    /// `Counters`.
    static let counters = Array("counters".utf8)
    /// u64 incarnation of the last run started, u8 1 while it runs (`Ledger.beginRun`).
    static let runState = Array("run_state".utf8)
    /// + UUID: u64 incarnation, u8 solo, of an attempt not yet final.
    static let attemptPrefix = Array("attempt/".utf8)
    /// + UUID: empty; the record runs alone.
    static let suspectPrefix = Array("suspect/".utf8)
    /// + UUID: u32 crashes, u32 kills charged (`Ledger.Deaths`).
    static let deathsPrefix = Array("deaths/".utf8)
    /// + UUID: str name, i64 bytes, f64 time, of a file about to be renamed into the store.
    static let intentPrefix = Array("intent/".utf8)
    /// `DaemonFigures`: what the running daemon publishes for `facewatch status`. Optional: a ledger no
    /// daemon has served yet has none, and no schema version depends on it.
    static let daemonFigures = Array("daemon_figures".utf8)
    /// `[InboxRefusal]` as JSON: inbox entries the daemon cannot take, for `facewatch status`.
    /// Optional, like `daemon_figures`.
    static let inboxRefusals = Array("inbox_refusals".utf8)
    /// Empty; present when the last run ended gracefully with every final record's document written
    /// (`Ledger.endRun`), so the next start need not check them. `beginRun` removes it.
    static let documentsComplete = Array("documents_complete".utf8)
    /// `FinalTallies`: failures by code and engine runs of the final records (schema version 2).
    static let finalTallies = Array("final_tallies".utf8)
    /// UTF-8 location of the ledger this one is an unfinished copy of (`Ledger.unfinishedCopy`).
    /// Optional: present only while a copy is under way or was interrupted.
    static let unfinishedCopy = Array("unfinished_copy".utf8)
}

/// One step of the schema history: turns a database at version `from` into version `from + 1`. It runs
/// inside the write transaction that opens the database, together with every later step and the new
/// version number, so an upgrade is all or nothing.
struct SchemaMigration: Sendable {
    let from: UInt32
    let summary: String
    let apply: @Sendable (Transaction, Databases) throws(LedgerError) -> Void
}

/// Schema versions of the ledger and the migrations between them.
///
/// - Version 0: facewatch before versioning: `records` only (record format 1); the indices may be
///   missing or stale and `meta` holds neither a version nor counters.
/// - Version 1: `records`, `by_time`, `by_sha`, `queue` and `meta` (`schema_version`, `counters`), all
///   kept consistent by every transition.
/// - Version 2: `meta` also holds `final_tallies` (failures by code, engine runs and their times),
///   updated with each record made final, so that a start reads them instead of every record.
///
/// Known people live in three more databases, `known`, `labels` and `people` (`PeopleDatabases`),
/// outside this versioned history on purpose: every writable open creates them with `MDB_CREATE`,
/// empty, and nothing in them is derived from or rewrites existing data (known pictures come from
/// the known folder, labels are recomputed by a relabel). So a ledger of any version gains them
/// without a migration and without a version change, and a read-only open of a ledger without them
/// sees no known people.
public enum LedgerSchema {
    /// The version this build writes and reads.
    public static let currentVersion: UInt32 = 2

    /// Migrations in order; `migrations[i].from == i`.
    static let migrations: [SchemaMigration] = [
        SchemaMigration(from: 0, summary: "rebuild by_time, by_sha, queue and counters from records") {
            txn, dbs throws(LedgerError) in
            try rebuildDerivedState(txn, dbs)
        },
        SchemaMigration(from: 1, summary: "count failures by code and engine runs into final_tallies") {
            txn, dbs throws(LedgerError) in
            try FinalTallies.recount(txn, dbs).store(txn, dbs)
        },
    ]

    /// Reads the version stored in `meta` (0 when absent).
    static func storedVersion(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> UInt32 {
        guard let value = try txn.get(dbs.meta, MetaKey.schemaVersion) else { return 0 }
        var r = ByteReader(value, what: "schema version")
        let version = try r.u32()
        try r.expectEnd()
        return version
    }

    /// Refuses versions newer than this build's; runs every migration from the stored version up to the
    /// current one (writable) or refuses to (read-only).
    static func prepare(_ txn: Transaction, _ dbs: Databases, writable: Bool, directory: String) throws(LedgerError) {
        let version = try storedVersion(txn, dbs)
        if version > currentVersion {
            throw LedgerError(
                .newerSchema,
                "the ledger at \(directory) has schema version \(version), but this facewatch supports "
                    + "version \(currentVersion) at most; upgrade facewatch to open it")
        }
        guard version < currentVersion else { return }
        guard writable else {
            throw LedgerError(
                .olderSchema,
                "the ledger at \(directory) has schema version \(version) and needs a migration to "
                    + "version \(currentVersion); open it read-write once (start the daemon) to migrate")
        }
        for step in version..<currentVersion {
            guard let migration = migrations.first(where: { $0.from == step }) else {
                throw LedgerError(.lmdb, "no migration from schema version \(step)")
            }
            try migration.apply(txn, dbs)
        }
        var w = ByteWriter()
        w.u32(currentVersion)
        try txn.put(dbs.meta, MetaKey.schemaVersion, w.bytes)
    }

    /// Recomputes everything derived from `records`: empties and refills the indices and rewrites the
    /// counters.
    static func rebuildDerivedState(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) {
        try txn.empty(dbs.byTime)
        try txn.empty(dbs.queue)
        try txn.empty(dbs.bySHA)
        var counters = Counters()
        try txn.withCursor(dbs.records) { cursor throws(LedgerError) in
            var entry = try cursor.first()
            while let (_, value) = entry {
                let record = try RecordCodec.decode(value)
                let timeKey = Keys.timeKey(createdAt: record.createdAt, id: record.id)
                try txn.put(dbs.byTime, timeKey, [])
                switch record.status {
                case .created:
                    try txn.put(dbs.queue, timeKey, [])
                case .completed:
                    if let sha = SHA256Hex.bytes(record.source.sha256) {
                        try txn.put(dbs.bySHA, sha, record.id.bytes, noOverwrite: true)
                    }
                case .failed:
                    break
                }
                counters.addRecord(record)
                entry = try cursor.next()
            }
        }
        try counters.store(txn, dbs)
    }

    /// Counters recomputed from `records` without writing anything (consistency checks).
    static func recount(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> Counters {
        var counters = Counters()
        try txn.withCursor(dbs.records) { cursor throws(LedgerError) in
            var entry = try cursor.first()
            while let (_, value) = entry {
                counters.addRecord(try RecordCodec.decode(value))
                entry = try cursor.next()
            }
        }
        return counters
    }
}
