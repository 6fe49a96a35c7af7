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
/// forgotten nothing has none, and readers treat a missing table as no tombstones. The
/// `forgotten_faces` table (`id`: results whose document still shows faces a faces-only forget
/// removed) is made the same way by the first `forgetFaces`. Deleted rows stay
/// in the table files as dead tuples until a VACUUM (FULL) reclaims them: `vacuumFull()`.
extension PostgresLedger {
    /// The advisory lock under which the `forgotten` table is created.
    static let forgetTableLock: Int64 = 0x6661_6365_0022

    @discardableResult
    public func forget(_ id: UUID, reason: String, at: Date) throws(LedgerError) -> Tombstone {
        try write { session throws(LedgerError) in
            try Self.createForgottenTable(session)
            guard
                let (status, store, body) = try session.first(
                    "SELECT status, store_id, body FROM records WHERE id = \(id) FOR UPDATE",
                    as: (Int16, String, ByteBuffer).self)
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
                "INSERT INTO forgotten (id, files_pending, store_id, body) VALUES (\(id), true, \(store), \(value.bytea))"
            )
            try Self.advanceGeneration(session)
            return tombstone
        }
    }

    @discardableResult
    public func forgetFaces(_ id: UUID, of person: String) throws(LedgerError) -> Int {
        try write { session throws(LedgerError) in
            try Self.createForgottenFacesTable(session)
            guard
                let (status, body) = try session.first(
                    "SELECT status, body FROM records WHERE id = \(id) FOR UPDATE", as: (Int16, ByteBuffer).self)
            else {
                throw LedgerError(.notFound, "no record \(id.lowercased)")
            }
            var record = try Self.decode(body)
            guard Self.statusCode(record.status) == status, record.status == .completed else { return 0 }
            // Under the people lock that `storeLabels` takes: no label write interleaves.
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.peopleLock))")
            guard let buffer = try session.first("SELECT body FROM labels WHERE id = \(id)", as: ByteBuffer.self)
            else { return 0 }
            let bytes = buffer.bytes
            var labels = try withRawBytes(bytes) { raw throws(LedgerError) in try PeopleCodec.decodeLabels(raw) }
            let doomed = FaceForgetting.faces(of: person, in: record, labels)
            guard !doomed.isEmpty else { return 0 }
            var deltas: [String: PersonCount] = [:]
            labels.count(sign: -1, into: &deltas)
            let removed = FaceForgetting.remove(doomed, from: &record, &labels)
            labels.count(sign: 1, into: &deltas)
            let encoded = try RecordCodec.encode(record)
            let value = PeopleCodec.encodeLabels(labels)
            try session.execute("UPDATE records SET body = \(encoded.bytea) WHERE id = \(id)")
            try session.execute("UPDATE labels SET body = \(value.bytea) WHERE id = \(id)")
            try Self.applyPersonDeltas(deltas, session)
            try Self.updateCounters(session, part: owner) { counters, _ in counters.removeFaces(removed) }
            try session.execute("INSERT INTO forgotten_faces (id) VALUES (\(id)) ON CONFLICT (id) DO NOTHING")
            try Self.advanceGeneration(session)
            return removed.count
        }
    }

    public func documentsToRewrite(limit: Int) throws(LedgerError) -> [UUID] {
        try read { session throws(LedgerError) in
            guard try session.first("SELECT to_regclass('forgotten_faces') IS NOT NULL", as: Bool.self) == true else {
                return []
            }
            return try session.all(
                "SELECT id FROM forgotten_faces ORDER BY id LIMIT \(Int64(limit))", as: UUID.self)
        }
    }

    public func documentsRewritten(_ ids: [UUID]) throws(LedgerError) {
        guard !ids.isEmpty else { return }
        try write { session throws(LedgerError) in
            guard try session.first("SELECT to_regclass('forgotten_faces') IS NOT NULL", as: Bool.self) == true else {
                return
            }
            for id in ids { try session.execute("DELETE FROM forgotten_faces WHERE id = \(id)") }
        }
    }

    public func forgetGenerations() throws(LedgerError) -> (forgotten: UInt64, compacted: UInt64) {
        try read { session throws(LedgerError) in
            guard try Self.hasGenerationTable(session),
                let (forgotten, compacted) = try session.first(
                    "SELECT forgotten, compacted FROM forget_generation", as: (Int64, Int64).self)
            else { return (0, 0) }
            return (UInt64(max(forgotten, 0)), UInt64(max(compacted, 0)))
        }
    }

    public func markCompacted(through generation: UInt64) throws(LedgerError) {
        try write { session throws(LedgerError) in
            guard try Self.hasGenerationTable(session) else { return }
            try session.execute(
                "UPDATE forget_generation SET compacted = GREATEST(compacted, \(Int64(clamping: generation)))")
        }
    }

    /// `VACUUM FULL` (`vacuumFull`) unless another daemon of the shared ledger is running one
    /// (a session advisory lock); returns whether it ran.
    /// - Throws: `LedgerError` when the server refuses.
    public func vacuumFullUnlessRunning() throws(LedgerError) -> Bool {
        guard !isReadOnly else { throw LedgerError(.readOnly, "the ledger at \(location) is open read-only") }
        return try read { session throws(LedgerError) in
            guard try session.first("SELECT pg_try_advisory_lock(\(Self.vacuumLock))", as: Bool.self) == true else {
                return false
            }
            defer { _ = try? session.execute("SELECT pg_advisory_unlock(\(Self.vacuumLock))") }
            let tables = try session.all(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", as: String.self)
            for table in tables {
                try session.execute(PostgresQuery(unsafeSQL: "VACUUM (FULL, ANALYZE) \"\(table)\""))
            }
            return true
        }
    }

    /// The advisory lock a scheduled VACUUM FULL holds, so that one daemon at a time runs it.
    static let vacuumLock: Int64 = 0x6661_6365_0023

    static func hasGenerationTable(_ session: PostgresSession) throws(LedgerError) -> Bool {
        try session.first("SELECT to_regclass('forget_generation') IS NOT NULL", as: Bool.self) ?? false
    }

    /// Counts one more forget (`forget_generation`, one row, made by the first forget).
    private static func advanceGeneration(_ session: PostgresSession) throws(LedgerError) {
        if try !hasGenerationTable(session) {
            try session.execute("SELECT pg_advisory_xact_lock(\(forgetTableLock))")
            try session.execute(
                """
                CREATE TABLE IF NOT EXISTS forget_generation (one boolean PRIMARY KEY DEFAULT true CHECK (one),
                    forgotten bigint NOT NULL, compacted bigint NOT NULL)
                """)
        }
        try session.execute(
            """
            INSERT INTO forget_generation (one, forgotten, compacted) VALUES (true, 1, 0)
            ON CONFLICT (one) DO UPDATE SET forgotten = forget_generation.forgotten + 1
            """)
    }

    public func tombstone(_ id: UUID) throws(LedgerError) -> Tombstone? {
        try read { session throws(LedgerError) in
            if !forgottenTableSeen.load(ordering: .relaxed) {
                guard try Self.hasForgottenTable(session) else { return nil }
                forgottenTableSeen.store(true, ordering: .relaxed)
            }
            var binds = PreparedBinds()
            binds.append(id)
            let rows: [PostgresRow]
            do throws(LedgerError) {
                rows = try session.prepared(TombstoneRead.self, binds)
            } catch {
                // A table dropped by hand since: no tombstones, and the next check asks again.
                forgottenTableSeen.store(false, ordering: .relaxed)
                guard try Self.hasForgottenTable(session) else { return nil }
                throw error
            }
            guard let row = rows.first else { return nil }
            let (pending, body) = try PostgresSession.decoding { try row.decode((Bool, ByteBuffer).self) }
            return try Self.decodeTombstone(id, body, filesPending: pending)
        }
    }

    /// With a store (`Options.storeID`: a daemon, or a command that read its root's marker), only the
    /// tombstones of images whose original went to that store (or to an unknown one): each host
    /// removes its own store's files.
    public func tombstonesWithFiles(limit: Int) throws(LedgerError) -> [Tombstone] {
        let rows = try read { session throws(LedgerError) in
            guard try Self.hasForgottenTable(session) else { return [(UUID, ByteBuffer)]() }
            guard try Self.hasStoreColumn(session) else {
                return try session.all(
                    "SELECT id, body FROM forgotten WHERE files_pending ORDER BY id LIMIT \(Int64(limit))",
                    as: (UUID, ByteBuffer).self)
            }
            let store = storeID ?? ""
            return try session.all(
                """
                SELECT id, body FROM forgotten WHERE files_pending AND (store_id = '' OR \(store) = '' OR store_id = \(store))
                ORDER BY id LIMIT \(Int64(limit))
                """,
                as: (UUID, ByteBuffer).self)
        }
        var found: [Tombstone] = []
        for (id, body) in rows { found.append(try Self.decodeTombstone(id, body, filesPending: true)) }
        return found
    }

    /// With a store, only the marks of that store's (or an unknown store's) tombstones are cleared:
    /// another host's files are removed by that host (`tombstonesWithFiles`).
    public func forgottenFilesRemoved(_ ids: [UUID]) throws(LedgerError) {
        guard !ids.isEmpty else { return }
        try write { session throws(LedgerError) in
            guard try Self.hasForgottenTable(session) else { return }
            guard try Self.hasStoreColumn(session) else {
                for id in ids { try session.execute("UPDATE forgotten SET files_pending = false WHERE id = \(id)") }
                return
            }
            let store = storeID ?? ""
            for id in ids {
                try session.execute(
                    """
                    UPDATE forgotten SET files_pending = false
                    WHERE id = \(id) AND (store_id = '' OR \(store) = '' OR store_id = \(store))
                    """)
            }
        }
    }

    public func tombstones(after: UUID?, limit: Int) throws(LedgerError) -> [Tombstone] {
        let rows = try read { session throws(LedgerError) in
            guard try Self.hasForgottenTable(session) else { return [(UUID, Bool, ByteBuffer)]() }
            if let after {
                return try session.all(
                    "SELECT id, files_pending, body FROM forgotten WHERE id > \(after) ORDER BY id LIMIT \(Int64(limit))",
                    as: (UUID, Bool, ByteBuffer).self)
            }
            return try session.all(
                "SELECT id, files_pending, body FROM forgotten ORDER BY id LIMIT \(Int64(limit))",
                as: (UUID, Bool, ByteBuffer).self)
        }
        var found: [Tombstone] = []
        for (id, pending, body) in rows { found.append(try Self.decodeTombstone(id, body, filesPending: pending)) }
        return found
    }

    public func importTombstones(_ tombstones: [Tombstone]) throws(LedgerError) {
        guard !tombstones.isEmpty else { return }
        try write { session throws(LedgerError) in
            try Self.createForgottenTable(session)
            for tombstone in tombstones {
                let id = tombstone.id
                if try session.first("SELECT true FROM records WHERE id = \(id)", as: Bool.self) != nil {
                    throw LedgerError(
                        .alreadyExists, "record \(id.lowercased) exists: it cannot be forgotten by an import")
                }
                let value = TombstoneCodec.encode(tombstone)
                try session.execute(
                    """
                    INSERT INTO forgotten (id, files_pending, body) VALUES (\(id), \(tombstone.filesPending), \(value.bytea))
                    ON CONFLICT (id) DO NOTHING
                    """)
            }
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

    /// Whether the `forgotten` table has its `store_id` column (a table made by the first forgets of an
    /// older version has not, until the next forget adds it). Without it the files are any host's to
    /// remove, as they were then.
    static func hasStoreColumn(_ session: PostgresSession) throws(LedgerError) -> Bool {
        try session.first(
            "SELECT true FROM pg_attribute WHERE attrelid = 'forgotten'::regclass AND attname = 'store_id' AND NOT attisdropped",
            as: Bool.self) != nil
    }

    /// Creates the `forgotten` table, or adds `store_id` (the store that holds the files) to one made
    /// before that column existed (its tombstones' store is unknown: `''`, any host's).
    private static func createForgottenTable(_ session: PostgresSession) throws(LedgerError) {
        if try hasForgottenTable(session) {
            guard
                try session.first(
                    "SELECT true FROM pg_attribute WHERE attrelid = 'forgotten'::regclass AND attname = 'store_id' AND NOT attisdropped",
                    as: Bool.self) == nil
            else { return }
        }
        try session.execute("SELECT pg_advisory_xact_lock(\(forgetTableLock))")
        try session.execute(
            """
            CREATE TABLE IF NOT EXISTS forgotten (id uuid PRIMARY KEY, files_pending boolean NOT NULL,
                store_id text NOT NULL DEFAULT '', body bytea NOT NULL)
            """
        )
        try session.execute("ALTER TABLE forgotten ADD COLUMN IF NOT EXISTS store_id text NOT NULL DEFAULT ''")
        try session.execute("CREATE INDEX IF NOT EXISTS forgotten_pending ON forgotten (id) WHERE files_pending")
    }

    private static func createForgottenFacesTable(_ session: PostgresSession) throws(LedgerError) {
        guard try session.first("SELECT to_regclass('forgotten_faces') IS NOT NULL", as: Bool.self) != true else {
            return
        }
        try session.execute("SELECT pg_advisory_xact_lock(\(forgetTableLock))")
        try session.execute("CREATE TABLE IF NOT EXISTS forgotten_faces (id uuid PRIMARY KEY)")
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
        try applyPersonDeltas(deltas, session)
    }

    /// Applies changes of the counts per person that only take away (a forget): a person left with
    /// no face and no result loses their row.
    private static func applyPersonDeltas(_ deltas: [String: PersonCount], _ session: PostgresSession)
        throws(LedgerError)
    {
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

/// A tombstone: $1 the image.
enum TombstoneRead: PreparedSQL {
    static let sql = "SELECT files_pending, body FROM forgotten WHERE id = $1::uuid"
}
