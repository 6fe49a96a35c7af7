import FaceLedger

// The prepared statements of a file's claim and final commit (`PreparedSQL`).

/// The claim's row lock and the holder of the record's attempt marker: $1 the record, $2 this run.
enum ClaimRead: PreparedSQL {
    static let sql = """
        SELECT r.status, r.store_id, r.body, (
            SELECT a.incarnation FROM attempts a JOIN runs u ON u.incarnation = a.incarnation
            WHERE a.id = r.id AND u.state = 0 AND a.incarnation <> $2::int8 LIMIT 1)
        FROM records r WHERE r.id = $1::uuid FOR UPDATE OF r SKIP LOCKED
        """
}

/// The claimed record's attempts and its marker: $1 the record, $2 attempts, $3 its body, $4 the
/// run, $5 solo.
enum ClaimMark: PreparedSQL {
    static let sql = """
        WITH counted AS (
            UPDATE records SET attempts = $2::int4, body = $3::bytea WHERE id = $1::uuid)
        INSERT INTO attempts (id, incarnation, solo) VALUES ($1::uuid, $4::int8, $5::bool)
        ON CONFLICT (id) DO UPDATE SET incarnation = EXCLUDED.incarnation, solo = EXCLUDED.solo
        """
}

/// The record's row and the session's counters part, both locked: $1 the record, $2 the part.
enum FinishRead: PreparedSQL {
    static let sql = """
        SELECT r.status, r.body, c.created, c.completed, c.failed, c.faces, c.encoded_faces, c.encoding_sum,
            c.tallies
        FROM records r, counter_parts c WHERE r.id = $1::uuid AND c.part = $2::text FOR UPDATE
        """
}

/// The final record, its crash-attribution rows gone, the counters part: $1 the record, $2 status,
/// $3 completion time, $4 SHA-256, $5 body, $6 the part, $7… its values (`partAssignments`).
enum FinishWrite: PreparedSQL {
    static let sql = """
        WITH final AS (
            UPDATE records SET status = $2::int2, completed_at = $3::float8, sha256 = $4::text, body = $5::bytea
            WHERE id = $1::uuid),
        marker AS (DELETE FROM attempts WHERE id = $1::uuid),
        suspicion AS (DELETE FROM suspects WHERE id = $1::uuid),
        death AS (DELETE FROM deaths WHERE id = $1::uuid)
        UPDATE counter_parts SET \(PostgresLedger.partAssignments(from: 7)) WHERE part = $6::text
        """
}
