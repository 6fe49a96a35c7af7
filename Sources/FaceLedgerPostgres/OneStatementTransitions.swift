import FaceCore
import FaceLedger
import Foundation
import PostgresNIO
import Synchronization

// A file's claim and its final commit, each as one statement outside `BEGIN` … `COMMIT` (one
// round trip instead of three), when this process knows what the rows hold.
//
// A statement sent alone is its own transaction: the server commits it when it succeeds and rolls
// it back when it fails, so all of its changes happen together or not at all, as in the
// transaction the statement replaces. The transaction read the rows, locked them, and wrote values
// computed from what it read. Here the values are computed from what this process read or wrote
// before (the record's body, `RecordBodies`; its connection's counters part, `PartValues`), and the
// statement first locks the rows on condition that they still hold exactly that (`FOR UPDATE`
// rechecks the condition on the newest row versions): a read-modify-write with the same outcome.
// Every change of the statement hangs off that locked match, so when anything differs the statement
// changes nothing and returns no row, and the transaction runs as before.

/// Bodies of `created` records as this process last read or wrote them, by id: the expected state
/// of the claim's and the final commit's single statements. Bounded (`limit`), emptied when full:
/// a body missing costs the transaction's extra round trips, never a wrong write.
final class RecordBodies: Sendable {
    private let bodies = Mutex<[UUID: [UInt8]]>([:])
    static let limit = 4096

    func remember(_ id: UUID, _ body: [UInt8]) {
        bodies.withLock { bodies in
            if bodies.count >= Self.limit { bodies.removeAll(keepingCapacity: true) }
            bodies[id] = body
        }
    }

    /// Remembers `body` unless a body is remembered for `id` already: a queue read may have started
    /// before this process's own write of the record (a claim) and would bring back its older body.
    func rememberUnlessKnown(_ id: UUID, _ body: [UInt8]) {
        bodies.withLock { bodies in
            guard bodies[id] == nil else { return }
            if bodies.count >= Self.limit { bodies.removeAll(keepingCapacity: true) }
            bodies[id] = body
        }
    }

    /// The body remembered for `id`, forgotten here (each transition writes a new one).
    func take(_ id: UUID) -> [UInt8]? {
        bodies.withLock { $0.removeValue(forKey: id) }
    }
}

/// A counters part's values as this connection last read or wrote them (the tallies as the bytes
/// stored).
struct PartValues {
    var counters: Counters
    var tallies: FinalTallies
    var talliesBytes: [UInt8]
}

extension PostgresLedger {
    /// A write that `body` makes in one statement, sent alone (its own transaction: one round trip
    /// where `write`'s `BEGIN` … `COMMIT` waits for two). Refused on a read-only ledger; run again
    /// after a lost conflict, as `transaction` does.
    @discardableResult
    func writeAlone<T>(_ body: (PostgresSession) throws(LedgerError) -> T) throws(LedgerError) -> T {
        guard !isReadOnly else { throw LedgerError(.readOnly, "the ledger at \(location) is open read-only") }
        var tries = 0
        while true {
            tries += 1
            do throws(LedgerError) {
                return try read(body)
            } catch  where error.status == PostgresSession.conflictStatus && tries < 8 {
                continue
            }
        }
    }

    /// What a one-statement claim of the record whose body is `expected` writes: the record with
    /// one more attempt, its new body, and the binds `ClaimOnce` takes (`ClaimUnlessTwin` adds the
    /// file's SHA-256); nil when the record is not `created`.
    private func claim(_ id: UUID, expected: [UInt8], run: Int64, solo: Bool) throws(LedgerError)
        -> (record: LedgerRecord, encoded: [UInt8], binds: PreparedBinds)?
    {
        var record = try withRawBytes(expected) { raw throws(LedgerError) in try RecordCodec.decode(raw) }
        guard record.status == .created else { return nil }
        record.attempts += 1
        let encoded = try RecordCodec.encode(record)
        var binds = PreparedBinds()
        binds.append(id)
        binds.append(expected.bytea)
        binds.append(storeID ?? "")
        binds.append(Int32(clamping: record.attempts))
        binds.append(run)
        binds.append(encoded.bytea)
        binds.append(solo)
        return (record, encoded, binds)
    }

    /// The claim in one statement when the record's body is known (see the top of this file); nil
    /// when the statement claimed nothing (the row changed, is locked, is held by another run, or is
    /// in another store), which the transaction then sorts out.
    func claimInOneStatement(_ id: UUID, expected: [UInt8], run: Int64, solo: Bool) throws(LedgerError) -> Int? {
        guard case let (record, encoded, binds)? = try claim(id, expected: expected, run: run, solo: solo) else {
            return nil
        }
        let claimed = try pool.withConnection { pooled throws(LedgerError) in
            let session = PostgresSession(pooled: pooled, logger: logger, location: pool.location)
            do throws(LedgerError) {
                return try !session.prepared(ClaimOnce.self, binds).isEmpty
            } catch  where error.status == PostgresSession.conflictStatus {
                return false
            }
        }
        guard claimed else { return nil }
        bodies.remember(id, encoded)
        return record.attempts
    }

    /// The dedup lookup and the claim in one statement when the record's body is known (see the top
    /// of this file): the claim happens only when no completed record has the file's bytes.
    public func claimUnlessDuplicate(_ id: UUID, sha256: String, dedup: Bool, incarnation: UInt64, solo: Bool)
        throws(LedgerError) -> ClaimOutcome
    {
        guard dedup, !isReadOnly, sha256.count == 64, sha256 != SourceInfo.unknownSHA256,
            let expected = bodies.take(id)
        else { return try claimInSteps(id, sha256: sha256, dedup: dedup, incarnation: incarnation, solo: solo) }
        let run = Int64(bitPattern: incarnation)
        guard case let (record, encoded, claimBinds)? = try claim(id, expected: expected, run: run, solo: solo) else {
            return try claimInSteps(id, sha256: sha256, dedup: dedup, incarnation: incarnation, solo: solo)
        }
        var binds = claimBinds
        binds.append(sha256)
        let (twin, claimed) = try pool.withConnection { pooled throws(LedgerError) -> (ByteBuffer?, Bool) in
            let session = PostgresSession(pooled: pooled, logger: logger, location: pool.location)
            do throws(LedgerError) {
                guard let row = try session.prepared(ClaimUnlessTwin.self, binds).first else { return (nil, false) }
                return try PostgresSession.decoding { try row.decode((ByteBuffer?, Bool).self) }
            } catch  where error.status == PostgresSession.conflictStatus {
                return (nil, false)
            }
        }
        if claimed {
            bodies.remember(id, encoded)
            return .claimed(attempt: record.attempts)
        }
        if let twin {
            let lender = try Self.decode(twin)
            if lender.id != id, let image = lender.image { return .duplicate(image: image, faces: lender.faces) }
            // Nothing lent after all: the claim alone, the body still as expected.
            bodies.remember(id, expected)
        }
        // The row changed, is locked or held elsewhere: the two steps sort it out.
        return try claimInSteps(id, sha256: sha256, dedup: dedup, incarnation: incarnation, solo: solo)
    }

    /// The final commit in one statement when the record's body and this connection's counters part
    /// are known (see the top of this file); nil when it changed nothing (something differs), which
    /// the transaction then sorts out.
    func finishInOneStatement(_ id: UUID, expected: [UInt8], _ change: (inout LedgerRecord) -> Void)
        throws(LedgerError) -> LedgerRecord?
    {
        var record = try withRawBytes(expected) { raw throws(LedgerError) in try RecordCodec.decode(raw) }
        guard record.status == .created else { return nil }
        change(&record)
        let encoded = try RecordCodec.encode(record)
        return try pool.withConnection { pooled throws(LedgerError) -> LedgerRecord? in
            let session = PostgresSession(pooled: pooled, logger: logger, location: pool.location)
            let part = try Self.ensurePart(session, owner: owner)
            // Taken out: known again only once this statement's outcome is.
            guard let known = pooled.partValues.removeValue(forKey: part) else { return nil }
            var after = known
            Self.count(record, into: &after.counters, &after.tallies)
            after.talliesBytes = after.tallies.encoded()
            var binds = PreparedBinds()
            binds.append(id)
            binds.append(expected.bytea)
            binds.append(part)
            Self.appendCounters(known.counters, known.talliesBytes, to: &binds)
            binds.append(Self.statusCode(record.status))
            binds.append(record.completedAt?.timeIntervalSince1970)
            binds.append(record.source.sha256)
            binds.append(encoded.bytea)
            Self.appendCounters(after.counters, after.talliesBytes, to: &binds)
            let rows: [PostgresRow]
            do throws(LedgerError) {
                rows = try session.prepared(FinishOnce.self, binds)
            } catch  where error.status == PostgresSession.conflictStatus {
                return nil
            }
            guard !rows.isEmpty else { return nil }
            pooled.partValues[part] = after
            return record
        }
    }

    /// New `created` records, their intents dropped and the counters part counting them, in one
    /// statement when this connection's counters part is known (see the top of this file); false
    /// when it changed nothing (the part differs, or a record exists already, which fails the
    /// statement whole), which the transaction then sorts out.
    func insertCreatedInOneStatement(_ values: [(LedgerRecord, [UInt8])]) throws(LedgerError) -> Bool {
        try pool.withConnection { pooled throws(LedgerError) -> Bool in
            let session = PostgresSession(pooled: pooled, logger: logger, location: pool.location)
            let part = try Self.ensurePart(session, owner: owner)
            // Taken out: known again only once this statement's outcome is.
            guard let known = pooled.partValues.removeValue(forKey: part) else { return false }
            var after = known
            after.counters.add(.created, values.count)
            var binds = PreparedBinds()
            binds.append(part)
            Self.appendCounters(known.counters, known.talliesBytes, to: &binds)
            binds.append(values.map(\.0.id))
            binds.append(values.map { Self.micros($0.0.createdAt) })
            binds.append(values.map(\.0.source.sha256))
            binds.append(values.map { Int32(clamping: $0.0.attempts) })
            binds.append(storeID ?? "")
            binds.append(values.map(\.1.bytea))
            Self.appendCounters(after.counters, after.talliesBytes, to: &binds)
            let rows: [PostgresRow]
            do throws(LedgerError) {
                rows = try session.prepared(InsertCreatedOnce.self, binds)
            } catch  where error.status == PostgresSession.conflictStatus || error.code == .alreadyExists {
                return false
            }
            guard !rows.isEmpty else { return false }
            pooled.partValues[part] = after
            return true
        }
    }

    /// A `created` record made final (`record`, as it now is) in a counters part.
    static func count(_ record: LedgerRecord, into counters: inout Counters, _ tallies: inout FinalTallies) {
        counters.add(.created, -1)
        counters.add(record.status, 1)
        if record.status == .completed { counters.addFaces(record.faces) }
        tallies.add(record)
    }
}

/// The claim when the record is as expected: $1 the record, $2 its expected body, $3 this daemon's
/// store ('' none), $4 its attempts after the claim, $5 this run, $6 its body after the claim, $7
/// solo. A row is returned when it claimed: the row locked (skipped when another transaction holds
/// it), `created` with that body, in this store or none, not held by another unsettled run.
enum ClaimOnce: PreparedSQL {
    static let sql = """
        WITH claimed AS (
            SELECT r.id FROM records r
            WHERE r.id = $1::uuid AND r.status = 0 AND r.body = $2::bytea
                AND ($3::text = '' OR r.store_id IN ('', $3::text))
                AND NOT EXISTS (SELECT 1 FROM attempts a JOIN runs u ON u.incarnation = a.incarnation
                    WHERE a.id = r.id AND u.state = 0 AND a.incarnation <> $5::int8)
            FOR UPDATE OF r SKIP LOCKED),
        counted AS (
            UPDATE records SET attempts = $4::int4, body = $6::bytea FROM claimed WHERE records.id = claimed.id
            RETURNING records.id)
        INSERT INTO attempts (id, incarnation, solo) SELECT id, $5::int8, $7::bool FROM counted
        ON CONFLICT (id) DO UPDATE SET incarnation = EXCLUDED.incarnation, solo = EXCLUDED.solo
        RETURNING id
        """
}

/// `ClaimOnce` unless a completed record has the file's bytes, $8 their SHA-256 (`CompletedBody`'s
/// lookup): one row, that record's body (NULL: none) and whether the claim happened.
enum ClaimUnlessTwin: PreparedSQL {
    static let sql = """
        WITH twin AS (
            SELECT body FROM records WHERE sha256 = $8::text AND status = 1 ORDER BY completed_at, id LIMIT 1),
        claimed AS (
            SELECT r.id FROM records r
            WHERE r.id = $1::uuid AND r.status = 0 AND r.body = $2::bytea
                AND ($3::text = '' OR r.store_id IN ('', $3::text))
                AND NOT EXISTS (SELECT 1 FROM attempts a JOIN runs u ON u.incarnation = a.incarnation
                    WHERE a.id = r.id AND u.state = 0 AND a.incarnation <> $5::int8)
                AND NOT EXISTS (SELECT 1 FROM twin)
            FOR UPDATE OF r SKIP LOCKED),
        counted AS (
            UPDATE records SET attempts = $4::int4, body = $6::bytea FROM claimed WHERE records.id = claimed.id
            RETURNING records.id),
        marked AS (
            INSERT INTO attempts (id, incarnation, solo) SELECT id, $5::int8, $7::bool FROM counted
            ON CONFLICT (id) DO UPDATE SET incarnation = EXCLUDED.incarnation, solo = EXCLUDED.solo
            RETURNING id)
        SELECT (SELECT body FROM twin), EXISTS (SELECT 1 FROM marked)
        """
}

/// New `created` records when the counters part is as expected: $1 the part, $2…$8 its expected
/// values, $9 the ids, $10 their creation times (µs), $11 their SHA-256s, $12 their attempts, $13
/// this daemon's store ('' none), $14 their bodies, $15…$21 the part's new values. The part is
/// locked on condition that it holds what is expected; the records are inserted only then (an id
/// that exists fails the whole statement); a row is returned when it committed.
enum InsertCreatedOnce: PreparedSQL {
    static let sql = """
        WITH target AS (
            SELECT c.part FROM counter_parts c
            WHERE c.part = $1::text AND c.created = $2::int8 AND c.completed = $3::int8 AND c.failed = $4::int8
                AND c.faces = $5::int8 AND c.encoded_faces = $6::int8 AND c.encoding_sum = $7::float8[]
                AND c.tallies = $8::bytea
            FOR UPDATE),
        inserted AS (
            INSERT INTO records (id, status, created_us, completed_at, sha256, attempts, store_id, body)
            SELECT n.id, 0, n.created_us, NULL, n.sha256, n.attempts, $13::text, n.body
            FROM unnest($9::uuid[], $10::int8[], $11::text[], $12::int4[], $14::bytea[])
                AS n(id, created_us, sha256, attempts, body)
            WHERE EXISTS (SELECT 1 FROM target)
            RETURNING id),
        settled AS (DELETE FROM intents WHERE id IN (SELECT id FROM inserted))
        UPDATE counter_parts SET \(PostgresLedger.partAssignments(from: 15))
        WHERE part = $1::text AND EXISTS (SELECT 1 FROM inserted)
        RETURNING part
        """
}

/// The final commit when the record and the counters part are as expected: $1 the record, $2 its
/// expected body, $3 the part, $4…$10 the part's expected values, $11 status, $12 completion time,
/// $13 SHA-256, $14 the final body, $15…$21 the part's new values. Both rows are locked on condition
/// that they hold what is expected; every change follows from that match; a row is returned when
/// it committed.
enum FinishOnce: PreparedSQL {
    static let sql = """
        WITH target AS (
            SELECT r.id FROM records r, counter_parts c
            WHERE r.id = $1::uuid AND r.status = 0 AND r.body = $2::bytea AND c.part = $3::text
                AND c.created = $4::int8 AND c.completed = $5::int8 AND c.failed = $6::int8 AND c.faces = $7::int8
                AND c.encoded_faces = $8::int8 AND c.encoding_sum = $9::float8[] AND c.tallies = $10::bytea
            FOR UPDATE),
        final AS (
            UPDATE records SET status = $11::int2, completed_at = $12::float8, sha256 = $13::text, body = $14::bytea
            FROM target WHERE records.id = target.id RETURNING records.id),
        marker AS (DELETE FROM attempts WHERE id IN (SELECT id FROM final)),
        suspicion AS (DELETE FROM suspects WHERE id IN (SELECT id FROM final)),
        death AS (DELETE FROM deaths WHERE id IN (SELECT id FROM final))
        UPDATE counter_parts SET \(PostgresLedger.partAssignments(from: 15))
        WHERE part = $3::text AND EXISTS (SELECT 1 FROM final)
        RETURNING part
        """
}
