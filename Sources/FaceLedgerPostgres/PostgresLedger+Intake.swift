import FaceCore
import FaceLedger
import Foundation
import PostgresNIO

/// Intake intents, inbox refusals, the daemons' figures and the publisher role.
extension PostgresLedger {
    /// Records intents stamped with this process's run, so that another daemon's orphan scan
    /// leaves the files of a batch in flight alone (`intents()` hides them while the run lives),
    /// and with this daemon's store, whose daemons alone can see the files they name; except those
    /// whose id is in `ids` and names a record: not recorded, and returned. The lookup is in the
    /// insert's own statement (no round trip of its own).
    public func recordIntents(_ intents: [IntakeIntent], refusingRecorded ids: Set<UUID>) throws(LedgerError)
        -> Set<UUID>
    {
        guard !intents.isEmpty else { return [] }
        let run = Int64(bitPattern: currentRun.load(ordering: .relaxed))
        let store = storeID ?? ""
        let refusing = Array(ids)
        // One statement per 1000 intents (arrays unnested into rows); a single one is sent alone.
        let batch = { (session: PostgresSession) throws(LedgerError) -> Set<UUID> in
            var refused: Set<UUID> = []
            for start in stride(from: 0, to: intents.count, by: 1000) {
                let chunk = intents[start..<min(start + 1000, intents.count)]
                var binds = PreparedBinds()
                binds.append(chunk.map(\.id))
                binds.append(chunk.map(\.name))
                binds.append(chunk.map(\.bytes))
                binds.append(chunk.map(\.takenAt.timeIntervalSinceReferenceDate))
                binds.append(run)
                binds.append(store)
                binds.append(refusing)
                var kept: Set<UUID> = []
                for row in try session.prepared(IntentsInsert.self, binds) {
                    kept.insert(try PostgresSession.decoding { try row.decode(UUID.self) })
                }
                for intent in chunk where !kept.contains(intent.id) { refused.insert(intent.id) }
            }
            return refused
        }
        return intents.count <= 1000 ? try writeAlone(batch) : try write(batch)
    }

    /// The intents of this run and of runs that are not live (ended, dead), of this daemon's store
    /// (or of none: the command line, intents recorded before schema 2): another live daemon's batch
    /// in flight is not this daemon's to settle, and neither is a batch bound for a store on another
    /// host, whose files only that host can see.
    public func intents() throws(LedgerError) -> [UUID: IntakeIntent] {
        let me = Int64(bitPattern: currentRun.load(ordering: .relaxed))
        let store = storeID ?? ""
        let rows = try read { session throws(LedgerError) in
            try session.all(
                """
                SELECT i.id, i.name, i.bytes, i.taken_at FROM intents i
                WHERE (i.store_id = '' OR \(store) = '' OR i.store_id = \(store)) AND (i.incarnation = \(me) OR NOT EXISTS (
                    SELECT 1 FROM runs u WHERE u.incarnation = i.incarnation AND u.state = 0 AND u.lease_until >= now()))
                """, as: (UUID, String, Int64, Double).self)
        }
        var found: [UUID: IntakeIntent] = [:]
        for (id, name, bytes, takenAt) in rows {
            found[id] = IntakeIntent(
                id: id, name: name, bytes: bytes, takenAt: Date(timeIntervalSinceReferenceDate: takenAt))
        }
        return found
    }

    public func dropIntents(_ ids: [UUID]) throws(LedgerError) {
        guard !ids.isEmpty else { return }
        try writeAlone { session throws(LedgerError) in
            try session.execute("DELETE FROM intents WHERE id = ANY(\(ids))")
        }
    }

    /// This owner's inbox refusals (each daemon watches its own inbox).
    public func publishRefusals(_ refusals: [InboxRefusal]) throws(LedgerError) {
        let value = try InboxRefusal.encode(refusals)
        let owner = self.owner
        try writeAlone { session throws(LedgerError) in
            try session.execute(
                """
                INSERT INTO refusals (owner, body) VALUES (\(owner), \(value.bytea))
                ON CONFLICT (owner) DO UPDATE SET body = EXCLUDED.body
                """)
        }
    }

    public func refusals() throws(LedgerError) -> [InboxRefusal] {
        let owner = self.owner
        guard
            let buffer = try read({ session throws(LedgerError) in
                try session.first("SELECT body FROM refusals WHERE owner = \(owner)", as: ByteBuffer.self)
            })
        else { return [] }
        do {
            return try JSONDecoder().decode([InboxRefusal].self, from: Data(buffer.bytes))
        } catch {
            throw LedgerError.corruptValue("refusals of \(owner): \(error)")
        }
    }

    /// This owner's figures (one row per daemon).
    public func publish(_ figures: DaemonFigures) throws(LedgerError) {
        let owner = self.owner
        let value = figures.encoded()
        try writeAlone { session throws(LedgerError) in
            try session.execute(
                """
                INSERT INTO daemon_figures (owner, body) VALUES (\(owner), \(value.bytea))
                ON CONFLICT (owner) DO UPDATE SET body = EXCLUDED.body, updated_at = now()
                """)
        }
    }

    /// This owner's figures, else the most recently published ones.
    public func daemonFigures() throws(LedgerError) -> DaemonFigures? {
        let owner = self.owner
        guard
            let buffer = try read({ session throws(LedgerError) in
                try session.first(
                    "SELECT body FROM daemon_figures ORDER BY (owner = \(owner)) DESC, updated_at DESC LIMIT 1",
                    as: ByteBuffer.self)
            })
        else { return nil }
        let bytes = buffer.bytes
        return try withRawBytes(bytes) { raw throws(LedgerError) in try DaemonFigures(decoding: raw) }
    }

    /// Tries to take (or checks it still holds) the session-level advisory lock of the publisher
    /// role, on a connection of its own: the lock lives as long as that session, so a daemon that
    /// dies or loses its connection lets another take the role at its next try.
    public func holdsPublisherRole() throws(LedgerError) -> Bool {
        if let held = publisher.withLock({ $0 }), !held.isClosed { return true }
        let now = ContinuousClock.now
        if let refused = publisherRefusedAt.withLock({ $0 }), now - refused < Self.publisherRetry { return false }
        let connection = try pool.connect()
        let session = PostgresSession(connection: connection, logger: logger, location: location)
        let taken: Bool
        do {
            taken = try session.first("SELECT pg_try_advisory_lock(\(Self.publisherLock))", as: Bool.self) ?? false
        } catch {
            connection.closeQuietly()
            throw error
        }
        guard taken else {
            connection.closeQuietly()
            publisherRefusedAt.withLock { $0 = now }
            return false
        }
        let previous = publisher.withLock { held in
            let previous = held
            held = connection
            return previous
        }
        if let previous { previous.closeQuietly() }
        return true
    }

    /// Gives the publisher role up (a graceful stop).
    func releasePublisherRole() {
        if let connection = publisher.withLock({ held in
            let connection = held
            held = nil
            return connection
        }) {
            connection.closeQuietly()
        }
    }
}

/// Intents of files about to be moved into the store: $1 ids, $2 inbox names, $3 sizes, $4 times
/// taken, $5 this run, $6 this daemon's store ('' none), $7 ids refused when a record has them. A
/// row (the id) for each intent recorded. The refusal is a condition inside the lookup, not beside
/// it: so written, the server keeps one generic plan after five calls (an anti-join with the records
/// that $7 names) instead of planning every call anew (0.28 ms of its time for one intent).
enum IntentsInsert: PreparedSQL {
    static let sql = """
        INSERT INTO intents (id, name, bytes, taken_at, incarnation, store_id)
        SELECT i.id, i.name, i.bytes, i.taken_at, $5::int8, $6::text
        FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::float8[]) AS i(id, name, bytes, taken_at)
        WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.id = i.id AND r.id = ANY($7::uuid[]))
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, bytes = EXCLUDED.bytes, taken_at = EXCLUDED.taken_at,
            incarnation = EXCLUDED.incarnation, store_id = EXCLUDED.store_id
        RETURNING id
        """
}
