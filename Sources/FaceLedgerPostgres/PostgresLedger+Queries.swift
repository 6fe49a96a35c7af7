import FaceCore
import FaceLedger
import Foundation
import PostgresNIO

/// Reads: each one statement (its own snapshot) unless it must see several tables at once.
extension PostgresLedger {
    /// The condition that a record (`records` aliased `r`) is not held by another unsettled run.
    private var notHeldElsewhere: String {
        let me = Int64(bitPattern: currentRun.load(ordering: .relaxed))
        return """
            NOT EXISTS (SELECT 1 FROM attempts a JOIN runs u ON u.incarnation = a.incarnation
                WHERE a.id = r.id AND u.state = 0 AND a.incarnation <> \(me))
            """
    }

    /// The condition that a record (`r`) is in this daemon's store (none for the command line).
    var storeCondition: String {
        guard let storeID else { return "" }
        // The identity is a UUID the daemon wrote; quoted as a literal all the same. Records
        // imported without a store ('') are anyone's.
        return " AND r.store_id IN ('', '" + storeID.replacingOccurrences(of: "'", with: "''") + "')"
    }

    public func contains(_ id: UUID) throws(LedgerError) -> Bool {
        try read { session throws(LedgerError) in
            try session.first("SELECT 1 FROM records WHERE id = \(id)", as: Int32.self) != nil
        }
    }

    public func record(_ id: UUID) throws(LedgerError) -> LedgerRecord? {
        try read { session throws(LedgerError) in
            var binds = PreparedBinds()
            binds.append(id)
            guard
                let body = try session.preparedAll(RecordBody.self, binds, as: ByteBuffer.self).first
            else { return nil }
            let bytes = body.bytes
            let record = try withRawBytes(bytes) { raw throws(LedgerError) in try RecordCodec.decode(raw) }
            if record.status == .created { bodies.remember(id, bytes) }
            return record
        }
    }

    /// The first completed record with these bytes (by completion date), through the partial index.
    public func completedRecord(sha256: String) throws(LedgerError) -> LedgerRecord? {
        guard sha256.count == 64, sha256 != SourceInfo.unknownSHA256 else { return nil }
        return try read { session throws(LedgerError) in
            var binds = PreparedBinds()
            binds.append(sha256)
            guard let body = try session.preparedAll(CompletedBody.self, binds, as: ByteBuffer.self).first
            else { return nil }
            return try Self.decode(body)
        }
    }

    /// `created` records no other unsettled run holds and that are not suspects, oldest first.
    public func queued(limit: Int, after: UUID?) throws(LedgerError) -> [UUID] {
        guard limit > 0 else { return [] }
        let held = notHeldElsewhere
        if after == nil { return try queuedFirst(limit: limit) }
        return try read { session throws(LedgerError) in
            var start: (Int64, Int64, UUID)?
            if let after {
                guard
                    let (queued, created) = try session.first(
                        "SELECT queued_us, created_us FROM records WHERE id = \(after)", as: (Int64, Int64).self)
                else { throw LedgerError(.notFound, "no record \(after.lowercased)") }
                start = (queued, created, after)
            }
            var query: PostgresQuery = "SELECT r.id FROM records r WHERE r.status = 0"
            if let (queued, created, id) = start {
                query = """
                    SELECT r.id FROM records r
                    WHERE r.status = 0 AND (r.queued_us, r.created_us, r.id) > (\(queued), \(created), \(id))
                    """
            }
            query.sql += " AND NOT EXISTS (SELECT 1 FROM suspects s WHERE s.id = r.id) AND " + held
            query.sql += storeCondition
            // The server's clock at insertion first (`PostgresSchema`), then the records' own order.
            query.sql += " ORDER BY r.queued_us, r.created_us, r.id LIMIT \(limit)"
            return try session.all(query, as: UUID.self)
        }
    }

    /// The head of the queue with each record (what the pipeline asks for when it has room), in
    /// one prepared statement. The bodies are remembered (`RecordBodies`): the claim's one
    /// statement expects them.
    public func queuedRecords(limit: Int) throws(LedgerError) -> [QueuedRecord] {
        guard limit > 0 else { return [] }
        var binds = PreparedBinds()
        binds.append(Int64(bitPattern: currentRun.load(ordering: .relaxed)))
        binds.append(Int64(limit))
        binds.append(storeID)
        let rows = try read { session throws(LedgerError) in try session.prepared(QueueHead.self, binds) }
        var queue: [QueuedRecord] = []
        queue.reserveCapacity(rows.count)
        for row in rows {
            let (id, buffer) = try PostgresSession.decoding { try row.decode((UUID, ByteBuffer).self) }
            let bytes = buffer.bytes
            let record = try withRawBytes(bytes) { raw throws(LedgerError) in try RecordCodec.decode(raw) }
            if record.status == .created { bodies.rememberUnlessKnown(id, bytes) }
            queue.append(QueuedRecord(id: id, record: record))
        }
        return queue
    }

    /// The head of the queue, prepared.
    private func queuedFirst(limit: Int) throws(LedgerError) -> [UUID] {
        try queuedRecords(limit: limit).map(\.id)
    }

    public func stats() throws(LedgerError) -> LedgerStats {
        try read { session throws(LedgerError) in LedgerStats(try CounterParts.total(session).0) }
    }

    public func finalTallies() throws(LedgerError) -> FinalTallies {
        try read { session throws(LedgerError) in try CounterParts.total(session).1 }
    }

    /// Streams the window in batches of 256 records (keyset pages on `(created_us, id)`), `body`
    /// running between queries with no transaction open.
    public func forEachRecord(createdFrom from: Date?, to: Date?, _ body: (LedgerRecord) throws -> Void) throws {
        var position: (Int64, UUID)?
        let lower = from.map(Self.micros) ?? Int64.min
        let upper = to.map(Self.micros) ?? Int64.max
        while true {
            let page = try read { session throws(LedgerError) in
                var query: PostgresQuery =
                    "SELECT created_us, id, body FROM records WHERE created_us >= \(lower) AND created_us <= \(upper)"
                if let (micros, id) = position {
                    query =
                        "SELECT created_us, id, body FROM records WHERE (created_us, id) > (\(micros), \(id)) AND created_us <= \(upper)"
                }
                query.sql += " ORDER BY created_us, id LIMIT \(Self.batchSize)"
                return try session.all(query, as: (Int64, UUID, ByteBuffer).self)
            }
            for (_, _, buffer) in page {
                let record = try Self.decode(buffer)
                if let from, record.createdAt < from { continue }
                if let to, record.createdAt >= to { continue }
                try body(record)
            }
            guard page.count == Self.batchSize, let last = page.last else { return }
            position = (last.0, last.1)
        }
    }

    public func forEachID(_ body: (UUID) throws -> Void) throws {
        var position: UUID?
        let pageSize = Self.batchSize * 16
        while true {
            let page = try read { session throws(LedgerError) in
                if let position {
                    return try session.all(
                        "SELECT id FROM records WHERE id > \(position) ORDER BY id LIMIT \(pageSize)", as: UUID.self)
                }
                return try session.all("SELECT id FROM records ORDER BY id LIMIT \(pageSize)", as: UUID.self)
            }
            for id in page { try body(id) }
            guard page.count == pageSize, let last = page.last else { return }
            position = last
        }
    }

    public func average(from: Date?, to: Date?) throws(LedgerError) -> LedgerAverage {
        if from == nil && to == nil {
            let stats = try stats()
            return LedgerAverage(mean: stats.average, faces: stats.encodedFaces, images: stats.counts[.completed] ?? 0)
        }
        var sum = [Double](repeating: 0, count: Face.encodingLength)
        var faces = 0
        var images = 0
        do {
            try forEachRecord(createdFrom: from, to: to) { record in
                guard record.status == .completed else { return }
                images += 1
                for face in record.faces where face.encoding.count == Face.encodingLength {
                    faces += 1
                    for i in 0..<Face.encodingLength { sum[i] += Double(face.encoding[i]) }
                }
            }
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError(.backend, "\(error)")
        }
        return LedgerAverage(mean: faces > 0 ? sum.map { $0 / Double(faces) } : nil, faces: faces, images: images)
    }

    public func records(after cursor: UUID?, limit: Int) throws(LedgerError) -> (
        records: [LedgerRecord], finished: Bool
    ) {
        guard limit > 0 else { return ([], false) }
        let page = try read { session throws(LedgerError) in
            if let cursor {
                return try session.all(
                    "SELECT body FROM records WHERE id > \(cursor) ORDER BY id LIMIT \(limit + 1)", as: ByteBuffer.self)
            }
            return try session.all("SELECT body FROM records ORDER BY id LIMIT \(limit + 1)", as: ByteBuffer.self)
        }
        var records: [LedgerRecord] = []
        for buffer in page.prefix(limit) { records.append(try Self.decode(buffer)) }
        return (records, page.count <= limit)
    }
}

// The prepared reads of every file (`PreparedSQL`).

/// A record's body: $1 the record.
enum RecordBody: PreparedSQL {
    static let sql = "SELECT body FROM records WHERE id = $1::uuid"
}

/// The first completed record with these bytes: $1 the SHA-256. `status = 1` is written out: the
/// partial index's condition, which a parameter would hide from the plan.
enum CompletedBody: PreparedSQL {
    static let sql = "SELECT body FROM records WHERE sha256 = $1::text AND status = 1 ORDER BY completed_at, id LIMIT 1"
}

/// The head of the queue, each record's id and body: $1 this run, $2 how many, $3 this daemon's store (NULL: any; records
/// imported without a store are anyone's).
enum QueueHead: PreparedSQL {
    static let sql = """
        SELECT r.id, r.body FROM records r WHERE r.status = 0 AND NOT EXISTS (SELECT 1 FROM suspects s WHERE s.id = r.id)
        AND NOT EXISTS (SELECT 1 FROM attempts a JOIN runs u ON u.incarnation = a.incarnation
            WHERE a.id = r.id AND u.state = 0 AND a.incarnation <> $1::int8)
        AND ($3::text IS NULL OR r.store_id IN ('', $3::text))
        ORDER BY r.queued_us, r.created_us, r.id LIMIT $2::int8
        """
}
