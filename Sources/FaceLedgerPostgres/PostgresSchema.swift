import FaceLedger
import PostgresNIO

/// The tables of a PostgreSQL ledger and their migrations.
///
/// `facewatch_schema` holds the version; opening a database of an older version migrates it in one
/// transaction, under an advisory lock so that daemons starting together migrate once; a newer
/// version is refused (`.newerSchema`), and a read-only open of an older one too (`.olderSchema`).
///
/// Version 1:
/// - `records`: one row per image: the columns queries need (status 0 created, 1 completed,
///   2 failed; creation time in microseconds since 1970; SHA-256; attempts; the identity of the
///   store its file is in) and the whole record as `RecordCodec` encodes it (`body`). Indexes:
///   `(created_us, id)` (time order and windows), the partial `(created_us, id) WHERE status = 0`
///   (the queue: read in its order, so that a page of it stops early) and the partial
///   `(sha256, completed_at) WHERE status = 1` (dedup).
/// - `counters`: one row: counts by status, faces, the encoding sum and the final tallies, updated
///   in the transaction of every transition.
/// - `runs`: every daemon run (global incarnation numbers), its owner (host and root), its lease
///   and state (0 running, 1 ended, 2 died and settled).
/// - `attempts` (the attempt markers), `suspects`, `deaths`: crash attribution.
/// - `intents` (stamped with the run that recorded them), `refusals` and `daemon_figures` (one row
///   per owner).
/// - `known_pictures`, `labels`, `person_counts`, `face_log`, `people_state`: known people.
///
/// Version 2: `counters` becomes `counter_parts`, one row per daemon and connection slot (`part`:
/// `owner#slot`), summed on read (`CounterParts`); version 1's row is the part `""`. `intents` gain the identity of the
/// store their files go to (`store_id`, `""` before): only a daemon of that store settles them.
/// `unfinished_copy`: one row while a `facewatch ledger export` into this database is unfinished.
/// `records.queued_us`: the server's clock when the row was inserted; the queue is read in
/// `(queued_us, created_us, id)` order (the partial index `records_queue`), so a host whose clock
/// runs fast does not put its files behind everyone else's.
enum PostgresSchema {
    /// The version this build writes.
    static let version: Int32 = 2

    /// The key of the advisory lock held while the schema is checked and migrated.
    static let migrationLock: Int64 = 0x6661_6365_0001

    /// The statements that bring version `from - 1` to `from`.
    static func migration(to version: Int32) -> [String] {
        switch version {
        case 1:
            return [
                """
                CREATE TABLE records (
                    id uuid PRIMARY KEY,
                    status smallint NOT NULL,
                    created_us bigint NOT NULL,
                    completed_at double precision,
                    sha256 text NOT NULL,
                    attempts integer NOT NULL,
                    store_id text NOT NULL DEFAULT '',
                    body bytea NOT NULL)
                """,
                "CREATE INDEX records_time ON records (created_us, id)",
                "CREATE INDEX records_queue ON records (created_us, id) WHERE status = 0",
                "CREATE INDEX records_completed_sha ON records (sha256, completed_at) WHERE status = 1",
                """
                CREATE TABLE counters (
                    one boolean PRIMARY KEY DEFAULT true CHECK (one),
                    created bigint NOT NULL, completed bigint NOT NULL, failed bigint NOT NULL,
                    faces bigint NOT NULL, encoded_faces bigint NOT NULL,
                    encoding_sum double precision[] NOT NULL,
                    tallies bytea NOT NULL)
                """,
                "INSERT INTO counters VALUES (true, 0, 0, 0, 0, 0, array_fill(0::float8, ARRAY[128]), ''::bytea)",
                """
                CREATE TABLE runs (
                    incarnation bigserial PRIMARY KEY,
                    owner text NOT NULL,
                    pid integer NOT NULL,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    lease_until timestamptz NOT NULL,
                    state smallint NOT NULL,
                    documents_complete boolean NOT NULL DEFAULT false)
                """,
                "CREATE INDEX runs_live ON runs (lease_until) WHERE state = 0",
                "CREATE INDEX runs_owner ON runs (owner, incarnation)",
                """
                CREATE TABLE attempts (
                    id uuid PRIMARY KEY, incarnation bigint NOT NULL, solo boolean NOT NULL)
                """,
                "CREATE INDEX attempts_run ON attempts (incarnation)",
                "CREATE TABLE suspects (id uuid PRIMARY KEY)",
                "CREATE TABLE deaths (id uuid PRIMARY KEY, crashes integer NOT NULL, kills integer NOT NULL)",
                """
                CREATE TABLE intents (
                    id uuid PRIMARY KEY, name text NOT NULL, bytes bigint NOT NULL,
                    taken_at double precision NOT NULL, incarnation bigint NOT NULL)
                """,
                "CREATE TABLE refusals (owner text PRIMARY KEY, body bytea NOT NULL)",
                """
                CREATE TABLE daemon_figures (
                    owner text PRIMARY KEY, updated_at timestamptz NOT NULL DEFAULT now(), body bytea NOT NULL)
                """,
                "CREATE TABLE known_pictures (path text PRIMARY KEY, body bytea NOT NULL)",
                "CREATE TABLE labels (id uuid PRIMARY KEY, body bytea NOT NULL)",
                "CREATE TABLE person_counts (name text PRIMARY KEY, faces bigint NOT NULL, results bigint NOT NULL)",
                "CREATE TABLE face_log (position bigint PRIMARY KEY, id uuid NOT NULL)",
                "CREATE TABLE people_state (one boolean PRIMARY KEY DEFAULT true CHECK (one), body bytea NOT NULL)",
            ]
        case 2:
            return [
                """
                CREATE TABLE counter_parts (
                    part text PRIMARY KEY,
                    created bigint NOT NULL, completed bigint NOT NULL, failed bigint NOT NULL,
                    faces bigint NOT NULL, encoded_faces bigint NOT NULL,
                    encoding_sum double precision[] NOT NULL,
                    tallies bytea NOT NULL)
                """,
                """
                INSERT INTO counter_parts
                SELECT '', created, completed, failed, faces, encoded_faces, encoding_sum, tallies FROM counters
                """,
                "DROP TABLE counters",
                "ALTER TABLE intents ADD COLUMN store_id text NOT NULL DEFAULT ''",
                "CREATE TABLE unfinished_copy (one boolean PRIMARY KEY DEFAULT true CHECK (one), source text NOT NULL)",
                // The queue's order is the server's clock at insertion, not a host's.
                "ALTER TABLE records ADD COLUMN queued_us bigint",
                "UPDATE records SET queued_us = created_us",
                """
                ALTER TABLE records ALTER COLUMN queued_us SET NOT NULL,
                    ALTER COLUMN queued_us SET DEFAULT (extract(epoch from statement_timestamp()) * 1000000)::bigint
                """,
                "DROP INDEX records_queue",
                "CREATE INDEX records_queue ON records (queued_us, created_us, id) WHERE status = 0",
            ]
        default:
            return []
        }
    }

    /// Checks the stored version and migrates (unless `readOnly`), in one transaction.
    /// - Throws: `.newerSchema`, `.olderSchema` (read-only), `.notFound` (read-only, no ledger).
    static func prepare(_ session: PostgresSession, readOnly: Bool) throws(LedgerError) {
        if readOnly {
            let exists = try session.first("SELECT to_regclass('facewatch_schema') IS NOT NULL", as: Bool.self) ?? false
            guard exists else {
                throw LedgerError(.notFound, "no facewatch ledger in \(session.location)")
            }
            let stored = try session.first("SELECT version FROM facewatch_schema", as: Int32.self) ?? Int32(0)
            if stored > version {
                throw LedgerError(
                    .newerSchema, "the ledger at \(session.location) has schema \(stored); this build knows \(version)")
            }
            if stored < version {
                throw LedgerError(
                    .olderSchema, "the ledger at \(session.location) has schema \(stored) and needs a migration")
            }
            return
        }
        try session.execute("SELECT pg_advisory_xact_lock(\(migrationLock))")
        try session.execute("CREATE TABLE IF NOT EXISTS facewatch_schema (version integer NOT NULL)")
        var stored = try session.first("SELECT version FROM facewatch_schema", as: Int32.self)
        if stored == nil {
            try session.execute("INSERT INTO facewatch_schema VALUES (0)")
            stored = 0
        }
        guard let current = stored, current <= version else {
            throw LedgerError(
                .newerSchema,
                "the ledger at \(session.location) has schema \(stored ?? 0); this build knows \(version)")
        }
        guard current < version else { return }
        for next in (current + 1)...version {
            for statement in migration(to: next) {
                try session.execute(PostgresQuery(unsafeSQL: statement))
            }
        }
        try session.execute("UPDATE facewatch_schema SET version = \(version)")
    }
}
