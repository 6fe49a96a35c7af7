import FaceCore
import FaceLedger
import Foundation
import PostgresNIO

/// Forgetting on PostgreSQL: one transaction per image, with the LMDB backend's semantics. The
/// record's row, its crash-attribution rows and its labels are deleted, and the counters, the tallies
/// and the counts per person updated, in the transaction that inserts the tombstone.
///
/// The `forgotten` table (`id`, `files_pending`, `body` as `TombstoneCodec` encodes it) is created by
/// the first forget, under an advisory lock, rather than by a schema migration: a ledger that has
/// forgotten nothing has none, and readers treat a missing table as no tombstones. Deleted rows stay
/// in the table files as dead tuples until a VACUUM (FULL) reclaims them: `vacuumFull()`.
extension PostgresLedger {
    /// The advisory lock under which the `forgotten` table is created.
    static let forgetTableLock: Int64 = 0x6661_6365_0022

    @discardableResult
    public func forget(_ id: UUID, reason: String, at: Date) throws(LedgerError) -> Tombstone {
        try write { session throws(LedgerError) in
            try Self.createForgottenTable(session)
            guard
                let (status, body) = try session.first(
                    "SELECT status, body FROM records WHERE id = \(id) FOR UPDATE", as: (Int16, ByteBuffer).self)
            else {
                if let existing = try Self.tombstone(id, session) { return existing }
                throw LedgerError(.notFound, "no record \(id.lowercased)")
            }
            let record = try Self.decode(body)
            guard Self.statusCode(record.status) == status else {
                throw LedgerError.corruptValue(
                    "record \(id.lowercased) has status \(status) but its body says otherwise")
            }
            // Dedup reads `records` (completed rows by digest): the deleted row answers no lookup.
            try session.execute(
                """
                WITH gone AS (DELETE FROM records WHERE id = \(id)),
                marker AS (DELETE FROM attempts WHERE id = \(id)),
                suspicion AS (DELETE FROM suspects WHERE id = \(id))
                DELETE FROM deaths WHERE id = \(id)
                """)
            try Self.updateCounters(session, part: owner) { counters, tallies in
                counters.removeRecord(record)
                if record.status != .created { tallies.remove(record) }
            }
            try Self.forgetLabels(id, session)
            if record.status == .completed, !record.faces.isEmpty { try Self.logRemoval(id, session) }
            let tombstone = TombstoneCodec.tombstone(of: record, at: at, reason: reason)
            let value = TombstoneCodec.encode(tombstone)
            try session.execute(
                "INSERT INTO forgotten (id, files_pending, body) VALUES (\(id), true, \(value.bytea))")
            return tombstone
        }
    }

    public func tombstone(_ id: UUID) throws(LedgerError) -> Tombstone? {
        try read { session throws(LedgerError) in
            guard try Self.hasForgottenTable(session) else { return nil }
            return try Self.tombstone(id, session)
        }
    }

    public func tombstonesWithFiles(limit: Int) throws(LedgerError) -> [Tombstone] {
        let rows = try read { session throws(LedgerError) in
            guard try Self.hasForgottenTable(session) else { return [(UUID, ByteBuffer)]() }
            return try session.all(
                "SELECT id, body FROM forgotten WHERE files_pending ORDER BY id LIMIT \(Int64(limit))",
                as: (UUID, ByteBuffer).self)
        }
        var found: [Tombstone] = []
        for (id, body) in rows { found.append(try Self.decodeTombstone(id, body, filesPending: true)) }
        return found
    }

    public func forgottenFilesRemoved(_ ids: [UUID]) throws(LedgerError) {
        guard !ids.isEmpty else { return }
        try write { session throws(LedgerError) in
            guard try Self.hasForgottenTable(session) else { return }
            for id in ids { try session.execute("UPDATE forgotten SET files_pending = false WHERE id = \(id)") }
        }
    }

    /// Rewrites the ledger's tables (`VACUUM FULL`), so that the dead tuples of forgotten rows leave the
    /// table and index files (`ledger compact`). Runs outside a transaction, as VACUUM must.
    /// - Throws: `LedgerError` when the server refuses (e.g. the role does not own the tables).
    public func vacuumFull() throws(LedgerError) {
        guard !isReadOnly else { throw LedgerError(.readOnly, "the ledger at \(location) is open read-only") }
        try read { session throws(LedgerError) in
            let tables = try session.all(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", as: String.self)
            for table in tables {
                try session.execute(PostgresQuery(unsafeSQL: "VACUUM (FULL, ANALYZE) \"\(table)\""))
            }
        }
    }

    // MARK: - Helpers inside transactions

    static func hasForgottenTable(_ session: PostgresSession) throws(LedgerError) -> Bool {
        try session.first("SELECT to_regclass('forgotten') IS NOT NULL", as: Bool.self) ?? false
    }

    /// Whether `id` has a tombstone (the table must exist: `hasForgottenTable`).
    static func isForgotten(_ id: UUID, _ session: PostgresSession) throws(LedgerError) -> Bool {
        try session.first("SELECT true FROM forgotten WHERE id = \(id)", as: Bool.self) != nil
    }

    private static func createForgottenTable(_ session: PostgresSession) throws(LedgerError) {
        guard try !hasForgottenTable(session) else { return }
        try session.execute("SELECT pg_advisory_xact_lock(\(forgetTableLock))")
        try session.execute(
            "CREATE TABLE IF NOT EXISTS forgotten (id uuid PRIMARY KEY, files_pending boolean NOT NULL, body bytea NOT NULL)"
        )
        try session.execute("CREATE INDEX IF NOT EXISTS forgotten_pending ON forgotten (id) WHERE files_pending")
    }

    private static func tombstone(_ id: UUID, _ session: PostgresSession) throws(LedgerError) -> Tombstone? {
        guard
            let (pending, body) = try session.first(
                "SELECT files_pending, body FROM forgotten WHERE id = \(id)", as: (Bool, ByteBuffer).self)
        else { return nil }
        return try decodeTombstone(id, body, filesPending: pending)
    }

    private static func decodeTombstone(_ id: UUID, _ body: ByteBuffer, filesPending: Bool) throws(LedgerError)
        -> Tombstone
    {
        let bytes = body.bytes
        return try withRawBytes(bytes) { raw throws(LedgerError) in
            try TombstoneCodec.decode(id: id, raw, filesPending: filesPending)
        }
    }

    /// Deletes the labels of a forgotten result and takes its faces out of the counts per person,
    /// under the people lock that `storeLabels` takes (so a label write cannot bring them back).
    private static func forgetLabels(_ id: UUID, _ session: PostgresSession) throws(LedgerError) {
        try session.execute("SELECT pg_advisory_xact_lock(\(peopleLock))")
        guard let buffer = try session.first("DELETE FROM labels WHERE id = \(id) RETURNING body", as: ByteBuffer.self)
        else { return }
        let bytes = buffer.bytes
        let labels = try withRawBytes(bytes) { raw throws(LedgerError) in try PeopleCodec.decodeLabels(raw) }
        var deltas: [String: PersonCount] = [:]
        labels.count(sign: -1, into: &deltas)
        for (name, delta) in deltas where delta != PersonCount() {
            try session.execute(
                """
                UPDATE person_counts SET faces = GREATEST(faces + \(Int64(delta.faces)), 0),
                    results = GREATEST(results + \(Int64(delta.results)), 0)
                WHERE name = \(name)
                """)
        }
        try session.execute("DELETE FROM person_counts WHERE faces <= 0 AND results <= 0")
    }
}
