import FaceCore
import FaceLedger
import Foundation
import PostgresNIO

/// Known people, labels, the people state and the face log; changes are serialised by an
/// advisory transaction lock (several daemons label results at once).
extension PostgresLedger {
    public func knownPictures() throws(LedgerError) -> [KnownPicture] {
        let rows = try read { session throws(LedgerError) in
            try session.all("SELECT path, body FROM known_pictures ORDER BY path", as: (String, ByteBuffer).self)
        }
        var pictures: [KnownPicture] = []
        for (path, buffer) in rows {
            let key = Array(path.utf8)
            let value = buffer.bytes
            let picture = try withRawBytes(key) { keyBytes throws(LedgerError) in
                try withRawBytes(value) { valueBytes throws(LedgerError) in
                    try PeopleCodec.decodePicture(key: keyBytes, valueBytes)
                }
            }
            pictures.append(picture)
        }
        return pictures
    }

    public func peopleState(defaultTolerance: Double) throws(LedgerError) -> PeopleState {
        try read { session throws(LedgerError) in try Self.loadState(session, defaultTolerance: defaultTolerance) }
    }

    public func labels(_ id: UUID) throws(LedgerError) -> StoredLabels? {
        guard
            let buffer = try read({ session throws(LedgerError) in
                try session.first("SELECT body FROM labels WHERE id = \(id)", as: ByteBuffer.self)
            })
        else { return nil }
        let bytes = buffer.bytes
        return try withRawBytes(bytes) { raw throws(LedgerError) in try PeopleCodec.decodeLabels(raw) }
    }

    public func personCounts() throws(LedgerError) -> [String: PersonCount] {
        let rows = try read { session throws(LedgerError) in
            try session.all("SELECT name, faces, results FROM person_counts", as: (String, Int64, Int64).self)
        }
        var counts: [String: PersonCount] = [:]
        for (name, faces, results) in rows { counts[name] = PersonCount(faces: Int(faces), results: Int(results)) }
        return counts
    }

    public func updateKnownPictures(upserting: [KnownPicture], removing: [String], tolerance: Double)
        throws(LedgerError) -> PeopleState
    {
        var encoded: [(String, [UInt8])] = []
        for picture in upserting { encoded.append((picture.path, try PeopleCodec.encodePicture(picture).value)) }
        return try write { session throws(LedgerError) in
            try session.execute("SELECT pg_advisory_xact_lock(\(Self.peopleLock))")
            var state = try Self.loadState(session, defaultTolerance: tolerance)
            var changed = state.tolerance != tolerance
            for (path, value) in encoded {
                if let old = try session.first(
                    "SELECT body FROM known_pictures WHERE path = \(path)", as: ByteBuffer.self), old.bytes == value
                {
                    continue
                }
                try session.execute(
                    """
                    INSERT INTO known_pictures (path, body) VALUES (\(path), \(value.bytea))
                    ON CONFLICT (path) DO UPDATE SET body = EXCLUDED.body
                    """)
                changed = true
            }
            for path in removing where try session.execute("DELETE FROM known_pictures WHERE path = \(path)") > 0 {
                changed = true
            }
            if changed {
                state.beginGeneration(tolerance: tolerance)
                try Self.storeState(state, session)
            }
            return state
        }
    }

    /// The reads are sent together and waited for once, then the writes are (`PostgresSession.send`):
    /// a result's labels cost the daemon a few waits rather than one per statement.
    public func storeLabels(_ entries: [(UUID, StoredLabels)], progress: RelabelProgress?) throws(LedgerError) {
        let ids = entries.map(\.0)
        try write { session throws(LedgerError) in
            let lock = session.send("SELECT pg_advisory_xact_lock(\(Self.peopleLock))")
            let log = session.send("SELECT coalesce(max(position) + 1, 0) FROM face_log")
            let table = session.send("SELECT to_regclass('forgotten') IS NOT NULL")
            let stored = session.send("SELECT id, body FROM labels WHERE id = ANY(\(ids))")
            try lock.rows()
            let next = try log.rows().first.map { row throws(LedgerError) in
                try PostgresSession.decoding { try row.decode(Int64.self) }
            }
            var logCount = UInt64(max(0, next ?? 0))
            let forgetting = try table.rows().first.map { row throws(LedgerError) in
                try PostgresSession.decoding { try row.decode(Bool.self) }
            }
            var current: [UUID: StoredLabels] = [:]
            for row in try stored.rows() {
                let (id, buffer) = try PostgresSession.decoding { try row.decode((UUID, ByteBuffer).self) }
                let bytes = buffer.bytes
                current[id] = try withRawBytes(bytes) { raw throws(LedgerError) in try PeopleCodec.decodeLabels(raw) }
            }
            // A result forgotten since its labels were computed gets none (nor counts, nor a log entry).
            let forgotten =
                forgetting == true
                ? Set(try session.all("SELECT id FROM forgotten WHERE id = ANY(\(ids))", as: UUID.self)) : []
            var deltas: [String: PersonCount] = [:]
            var writes: [PostgresSession.Pending] = []
            for (id, labels) in entries where !forgotten.contains(id) {
                let old = current[id]
                if let old, old.generation > labels.generation { continue }
                // Computed from the record as it was before a faces-only forget took faces away.
                if let old, old.faces.count != labels.faces.count { continue }
                if old == nil && !labels.faces.isEmpty {
                    writes.append(
                        session.send("INSERT INTO face_log (position, id) VALUES (\(Int64(logCount)), \(id))"))
                    logCount += 1
                }
                if let old { Self.count(old, sign: -1, into: &deltas) }
                Self.count(labels, sign: 1, into: &deltas)
                current[id] = labels
                let value = PeopleCodec.encodeLabels(labels)
                writes.append(
                    session.send(
                        "INSERT INTO labels (id, body) VALUES (\(id), \(value.bytea)) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body"
                    ))
            }
            for (name, delta) in deltas where delta != PersonCount() {
                writes.append(
                    session.send(
                        """
                        INSERT INTO person_counts (name, faces, results) VALUES (\(name), \(Int64(delta.faces)), \(Int64(delta.results)))
                        ON CONFLICT (name) DO UPDATE SET faces = GREATEST(person_counts.faces + EXCLUDED.faces, 0),
                            results = GREATEST(person_counts.results + EXCLUDED.results, 0)
                        """))
            }
            writes.append(session.send("DELETE FROM person_counts WHERE faces <= 0 AND results <= 0"))
            for write in writes { try write.rows() }
            if let progress {
                var state = try Self.loadState(session, defaultTolerance: 0.6)
                if state.generation == progress.generation {
                    state.cursor = progress.cursor ?? state.cursor
                    state.visited += progress.visited
                    if progress.finished { state.relabelledThrough = progress.generation }
                    try Self.storeState(state, session)
                }
            }
        }
    }

    /// Logs a forgotten result with faces in the face log again: the hosts' face tables
    /// (`FaceSearch`, which catch up from the log) take its faces out when they reach the entry.
    static func logRemoval(_ id: UUID, _ session: PostgresSession) throws(LedgerError) {
        try session.execute("SELECT pg_advisory_xact_lock(\(peopleLock))")
        let position = Int64(try faceLogCount(session))
        try session.execute("INSERT INTO face_log (position, id) VALUES (\(position), \(id))")
    }

    public func faceLogCount() throws(LedgerError) -> UInt64 {
        try read { session throws(LedgerError) in try Self.faceLogCount(session) }
    }

    public func faceLog(from position: UInt64, limit: Int) throws(LedgerError) -> [UUID] {
        guard limit > 0 else { return [] }
        return try read { session throws(LedgerError) in
            try session.all(
                "SELECT id FROM face_log WHERE position >= \(Int64(clamping: position)) ORDER BY position LIMIT \(limit)",
                as: UUID.self)
        }
    }

    // MARK: - Helpers

    private static func faceLogCount(_ session: PostgresSession) throws(LedgerError) -> UInt64 {
        let next = try session.first("SELECT coalesce(max(position) + 1, 0) FROM face_log", as: Int64.self) ?? Int64(0)
        return UInt64(max(0, next))
    }

    private static func loadState(_ session: PostgresSession, defaultTolerance: Double) throws(LedgerError)
        -> PeopleState
    {
        guard let buffer = try session.first("SELECT body FROM people_state", as: ByteBuffer.self) else {
            return .initial(tolerance: defaultTolerance)
        }
        let bytes = buffer.bytes
        return try withRawBytes(bytes) { raw throws(LedgerError) in try PeopleCodec.decodeState(raw) }
    }

    private static func storeState(_ state: PeopleState, _ session: PostgresSession) throws(LedgerError) {
        let value = PeopleCodec.encodeState(state)
        try session.execute(
            "INSERT INTO people_state (one, body) VALUES (true, \(value.bytea)) ON CONFLICT (one) DO UPDATE SET body = EXCLUDED.body"
        )
    }

    private static func count(_ labels: StoredLabels, sign: Int, into deltas: inout [String: PersonCount]) {
        labels.count(sign: sign, into: &deltas)
    }
}
