import FaceCore
import FaceLedger
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The ledger in a PostgreSQL database, shared by several daemons (hosts): the same `Ledger` as
/// `LMDBLedger`, with the same semantics, and a shared queue.
///
/// Every state transition is one SQL transaction (`BEGIN` … `COMMIT` on one connection): the
/// record's row, this daemon's counters part (counts, faces, the encoding sum, the final tallies:
/// see `CounterParts`), the
/// crash-attribution rows and the intent it settles change together or not at all. A transaction
/// that loses a serialization conflict or a deadlock is run again (a few times); a server that
/// cannot be reached is `.unavailable`, which the daemon treats as transient (the record waits).
///
/// The shared queue: `beginAttempt` is the claim. It locks the record's row with
/// `FOR UPDATE SKIP LOCKED` and refuses (`.invalidTransition`) a record whose row another
/// transaction holds or whose attempt marker belongs to another run that has not been settled.
/// Every run has a lease (`lease_until`, the server's clock) that its daemon renews
/// (`renewLease`); a run whose lease expired is dead, and any daemon settles it (`beginRun`,
/// `renewLease`) by the crash-attribution rules: a file it was encoding alone is charged a kill,
/// files it was encoding beside others become suspects that run alone. `queued()` and `suspects()`
/// skip records another unsettled run holds, and `queued()` skips suspects (`suspects()` hands
/// them out, one at a time).
///
/// `owner` names the daemon's place (host and root): a run of the same owner that did not end is
/// this daemon's previous process, settled at once at the next `beginRun` (with the crash-or-kill
/// cause its `CrashMarker` gives), without waiting for its lease.
public final class PostgresLedger: Ledger {
    /// How the ledger is opened.
    public struct Options: Sendable {
        /// Refuse writes (the command line).
        public var readOnly: Bool
        /// Who opens it (host and root), see the type's documentation.
        public var owner: String
        /// How long a run is alive without renewing its lease.
        public var lease: Duration
        /// Connections at most.
        public var connections: Int
        /// The identity of the store this daemon's files go to (its `.facewatch-root` marker), or
        /// nil (the command line). Records are stamped with it, and a daemon takes from the queue
        /// only records of its store (or of none: imported ones): with one shared store every daemon
        /// takes every record; with a store local to each host, a host encodes only its own files.
        public var storeID: String?
        /// The limits of every session (timeouts, keepalives).
        public var session: PostgresSessionSettings

        public init(
            readOnly: Bool = false, owner: String = PostgresLedger.defaultOwner(root: nil),
            lease: Duration = .seconds(30),
            connections: Int = 8, storeID: String? = nil, session: PostgresSessionSettings = PostgresSessionSettings()
        ) {
            self.session = session
            self.storeID = storeID
            self.readOnly = readOnly
            self.owner = owner
            self.lease = lease
            self.connections = connections
        }
    }

    public let isReadOnly: Bool
    public var isShared: Bool { true }
    /// The URL without its password.
    public var location: String { pool.location }
    let owner: String
    let storeID: String?
    let leaseSeconds: Double
    let pool: ConnectionPool
    let logger: Logger
    /// This process's current run (0 before `beginRun`).
    let currentRun = Atomic<UInt64>(0)
    /// The session holding the publisher role's advisory lock, when this process holds it.
    let publisher = Mutex<PostgresConnection?>(nil)
    /// When this process last tried to take the publisher role and found it taken.
    let publisherRefusedAt = Mutex<ContinuousClock.Instant?>(nil)
    /// How long a daemon that found the publisher role taken waits before trying again.
    static let publisherRetry: Duration = .seconds(5)
    /// When this process last refreshed the statistics of `records`.
    let queueStatistics = QueueStatistics()
    /// Bodies of `created` records as last read or written here (`OneStatementTransitions`).
    let bodies = RecordBodies()
    /// Transactions begun (`BEGIN` sent, each try counted): what shows that a transition ran as
    /// one statement instead.
    let transactionsBegun = Atomic<Int>(0)
    /// Whether the `forgotten` table was seen (made by the first forget, never dropped by one): the
    /// check after each document then asks for the tombstone alone.
    let forgottenTableSeen = Atomic<Bool>(false)

    /// Records read per query while streaming.
    static let batchSize = 256
    /// The key of the advisory lock of the role that writes `stats.json` and `metrics.prom`.
    static let publisherLock: Int64 = 0x6661_6365_0002
    /// The key of the advisory lock that serialises changes to known people and labels.
    static let peopleLock: Int64 = 0x6661_6365_0003

    /// Connects to `location`, checks the schema and migrates it (unless read-only).
    /// - Throws: `.unavailable` when the server cannot be reached; `.notFound` (read-only, no
    ///   ledger in the database), `.newerSchema`, `.olderSchema` (read-only), `.backend`.
    public init(location: PostgresLocation, options: Options = Options(), logger: Logger? = nil) throws(LedgerError) {
        var logger = logger ?? Logger(label: "facewatch.ledger.postgres")
        // postgres-nio logs every connection and query at debug and trace: the daemon's own lines
        // say what matters.
        logger.logLevel = max(logger.logLevel, .notice)
        logger[metadataKey: "ledger"] = "\(location.redacted)"
        self.logger = logger
        self.isReadOnly = options.readOnly
        self.owner = options.owner
        self.storeID = options.storeID
        let components = options.lease.components
        self.leaseSeconds = max(1, Double(components.seconds) + Double(components.attoseconds) * 1e-18)
        self.pool = try ConnectionPool(
            location: location, settings: options.session, limit: options.connections, logger: logger)
        do {
            if options.readOnly {
                try pool.withConnection { pooled throws(LedgerError) in
                    try PostgresSchema.prepare(
                        PostgresSession(pooled: pooled, logger: logger, location: pool.location), readOnly: true)
                }
            } else {
                try transaction { session throws(LedgerError) in try PostgresSchema.prepare(session, readOnly: false) }
            }
        } catch {
            pool.shutdown()
            throw error
        }
    }

    deinit {
        if let connection = publisher.withLock({ $0 }) { connection.closeQuietly() }
        pool.shutdown()
    }

    /// The owner of a daemon on this host with `root`: `hostname/machine:root`, where `machine` is
    /// the start of `/etc/machine-id` (when there is one): two hosts given the same name must not
    /// take each other's live runs for their own previous process.
    public static func defaultOwner(root: String?) -> String {
        var host = ProcessInfo.processInfo.hostName
        if let data = FileManager.default.contents(atPath: "/etc/machine-id"),
            case let machine = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
            !machine.isEmpty
        {
            host += "/" + machine.prefix(12)
        }
        return root.map { "\(host):\($0)" } ?? "\(host):pid\(getpid())"
    }

    // MARK: - Transactions

    /// Runs `body` in one transaction on one connection: committed when it returns, rolled back when
    /// it throws. A transaction that lost a conflict (serialization, deadlock) runs again.
    ///
    /// `BEGIN` is sent without waiting for its reply: the connection runs its queue in order, so the
    /// body's first statement follows it on the server as it would after a wait, and this thread
    /// waits once instead of twice. Its reply is checked before `COMMIT`; a `BEGIN` refused leaves
    /// the body's statements unconfirmed, so the transaction is then reported failed (nothing a
    /// server refuses `BEGIN` for can have let the body's statements through on that connection).
    func transaction<T>(_ body: (PostgresSession) throws(LedgerError) -> T) throws(LedgerError) -> T {
        var tries = 0
        while true {
            tries += 1
            do throws(LedgerError) {
                return try pool.withConnection { pooled throws(LedgerError) in
                    let session = PostgresSession(pooled: pooled, logger: logger, location: pool.location)
                    let connection = pooled.connection
                    let begun = connection.query("BEGIN", logger: logger)
                    transactionsBegun.add(1, ordering: .relaxed)
                    do throws(LedgerError) {
                        let value = try body(session)
                        do {
                            _ = try begun.wait()
                        } catch {
                            throw PostgresErrors.map(error, pool.location)
                        }
                        try session.execute("COMMIT")
                        return value
                    } catch {
                        _ = try? begun.wait()
                        if !connection.isClosed { _ = try? session.execute("ROLLBACK") }
                        throw error
                    }
                }
            } catch  where error.status == PostgresSession.conflictStatus && tries < 8 {
                continue
            }
        }
    }

    /// A write transaction: refused on a read-only ledger.
    @discardableResult
    func write<T>(_ body: (PostgresSession) throws(LedgerError) -> T) throws(LedgerError) -> T {
        guard !isReadOnly else { throw LedgerError(.readOnly, "the ledger at \(location) is open read-only") }
        return try transaction(body)
    }

    /// Statements outside a transaction (each one its own snapshot), for reads.
    func read<T>(_ body: (PostgresSession) throws(LedgerError) -> T) throws(LedgerError) -> T {
        try pool.withConnection { pooled throws(LedgerError) in
            try body(PostgresSession(pooled: pooled, logger: logger, location: pool.location))
        }
    }

    // MARK: - Transitions

    public func insertCreated(_ records: [LedgerRecord]) throws(LedgerError) {
        var values: [(LedgerRecord, [UInt8])] = []
        for record in records {
            guard record.status == .created, record.faces.isEmpty, record.error == nil, record.completedAt == nil else {
                throw LedgerError(
                    .invalidArgument, "record \(record.id.uuidString.lowercased()) is not a fresh created record")
            }
            values.append((record, try RecordCodec.encode(record)))
        }
        guard !values.isEmpty else { return }
        if values.count <= 500, !isReadOnly, try insertCreatedInOneStatement(values) {
            rememberInserted(values)
            analyzeIfDue(inserted: values.count)
            return
        }
        try write { session throws(LedgerError) in
            try Self.insert(values, storeID: storeID, session)
            try session.execute("DELETE FROM intents WHERE id = ANY(\(values.map(\.0.id)))")
            try Self.updateCounters(session, part: owner) { counters, _ in counters.add(.created, values.count) }
        }
        rememberInserted(values)
        analyzeIfDue(inserted: values.count)
    }

    /// The bodies of records this process has just inserted, for their claims' single statement: the
    /// intake hands fresh records to the pipeline without a queue read (which would remember them),
    /// and without a body the claim is a transaction of four round trips. A batch larger than the
    /// single statement takes (500) is not the intake's: it would only push other bodies out of the
    /// bounded cache.
    private func rememberInserted(_ values: [(LedgerRecord, [UInt8])]) {
        guard values.count <= 500 else { return }
        for (record, body) in values { bodies.remember(record.id, body) }
    }

    public func beginAttempt(_ id: UUID, incarnation: UInt64, solo: Bool) throws(LedgerError) -> Int {
        let run = Int64(bitPattern: incarnation)
        if !isReadOnly, let expected = bodies.take(id),
            let attempts = try claimInOneStatement(id, expected: expected, run: run, solo: solo)
        {
            return attempts
        }
        return try write { session throws(LedgerError) in
            // The row lock and the marker's holder in one round trip: the holder is another run that
            // is not settled (live, or dead and not settled yet).
            var claim = PreparedBinds()
            claim.append(id)
            claim.append(run)
            let rows = try session.prepared(ClaimRead.self, claim)
            guard let row = rows.first else {
                if try session.first("SELECT 1 FROM records WHERE id = \(id)", as: Int32.self) != nil {
                    throw LedgerError(.invalidTransition, "record \(id.lowercased) is being claimed by another daemon")
                }
                throw LedgerError(.notFound, "no record \(id.lowercased)")
            }
            let (status, store, body, holder) = try PostgresSession.decoding {
                try row.decode((Int16, String, ByteBuffer, Int64?).self)
            }
            var record = try Self.decode(body)
            try Self.requireCreated(status, record, "start an attempt on")
            if let storeID, !store.isEmpty, store != storeID {
                throw LedgerError(
                    .invalidTransition, "record \(id.lowercased) is in another host's store (\(store))")
            }
            if let holder {
                throw LedgerError(.invalidTransition, "record \(id.lowercased) is held by run \(holder)")
            }
            record.attempts += 1
            let encoded = try RecordCodec.encode(record)
            // One statement (a round trip counts on every file): the record and its marker.
            var mark = PreparedBinds()
            mark.append(id)
            mark.append(Int32(clamping: record.attempts))
            mark.append(encoded.bytea)
            mark.append(run)
            mark.append(solo)
            try session.prepared(ClaimMark.self, mark)
            bodies.remember(id, encoded)
            return record.attempts
        }
    }

    public func complete(
        _ id: UUID, image: ImageInfo, faces: [Face], completedAt: Date, duration: Double, source: SourceInfo?
    ) throws(LedgerError) -> LedgerRecord {
        try finish(id, "complete") { record in
            if let source { record.source = source }
            record.status = .completed
            record.image = image
            record.faces = faces
            record.completedAt = completedAt
            record.duration = duration
            record.error = nil
        }
    }

    public func fail(
        _ id: UUID, _ failure: Failure, image: ImageInfo?, completedAt: Date, duration: Double, source: SourceInfo?
    ) throws(LedgerError) -> LedgerRecord {
        try finish(id, "fail") { record in
            if let source { record.source = source }
            record.status = .failed
            record.image = image
            record.faces = []
            record.completedAt = completedAt
            record.duration = duration
            record.error = failure
        }
    }

    public func importRecords(_ records: [LedgerRecord]) throws(LedgerError) {
        let values = try RecordCodec.encodeForImport(records)
        guard !values.isEmpty else { return }
        try write { session throws(LedgerError) in
            try Self.insert(values, storeID: storeID, session)
            try Self.updateCounters(session, part: owner) { counters, tallies in
                for (record, _) in values {
                    counters.addRecord(record)
                    if record.status != .created { tallies.add(record) }
                }
            }
        }
    }

    /// Makes a `created` record final: the record, its crash-attribution rows, the counters and
    /// the tallies, in one statement when the rows are as this process knows them
    /// (`finishInOneStatement`), else in one transaction of two statements: the record's row and
    /// this session's counters part read and locked together, then everything written in one
    /// statement.
    private func finish(_ id: UUID, _ action: String, _ change: (inout LedgerRecord) -> Void) throws(LedgerError)
        -> LedgerRecord
    {
        if !isReadOnly, let expected = bodies.take(id),
            let record = try finishInOneStatement(id, expected: expected, change)
        {
            return record
        }
        return try write { session throws(LedgerError) in
            let part = try Self.ensurePart(session, owner: owner)
            var read = PreparedBinds()
            read.append(id)
            read.append(part)
            let rows = try session.prepared(FinishRead.self, read)
            guard let row = rows.first else {
                if try session.first("SELECT 1 FROM records WHERE id = \(id)", as: Int32.self) != nil {
                    // The part's row is missing (created in a transaction that rolled back): again.
                    session.pooled?.partsReady.remove(part)
                    session.pooled?.partValues[part] = nil
                    throw LedgerError(
                        .backend, "the counters part \(part) is missing", status: PostgresSession.conflictStatus)
                }
                throw LedgerError(.notFound, "no record \(id.lowercased)")
            }
            let (status, body, created, completed, failed, faces, encodedFaces, sum, talliesBuffer) =
                try PostgresSession.decoding {
                    try row.decode((Int16, ByteBuffer, Int64, Int64, Int64, Int64, Int64, [Double], ByteBuffer).self)
                }
            var record = try Self.decode(body)
            try Self.requireCreated(status, record, action)
            change(&record)
            let encoded = try RecordCodec.encode(record)
            var (counters, tallies) = try CounterParts.decode(
                (created, completed, failed, faces, encodedFaces, sum, talliesBuffer))
            Self.count(record, into: &counters, &tallies)
            // One statement: the record, what crash attribution kept about it, the counters part.
            var write = PreparedBinds()
            write.append(id)
            write.append(Self.statusCode(record.status))
            write.append(record.completedAt?.timeIntervalSince1970)
            write.append(record.source.sha256)
            write.append(encoded.bytea)
            write.append(part)
            let talliesBytes = tallies.encoded()
            Self.appendCounters(counters, talliesBytes, to: &write)
            try session.prepared(FinishWrite.self, write)
            session.pooled?.partValues[part] = PartValues(
                counters: counters, tallies: tallies, talliesBytes: talliesBytes)
            return record
        }
    }

    // MARK: - Helpers inside transactions

    /// Inserts the rows, in statements of up to 500 rows; any id already there (or twice in the
    /// batch) is `.alreadyExists` (the caller's transaction then rolls back).
    static func insert(_ values: [(LedgerRecord, [UInt8])], storeID: String?, _ session: PostgresSession)
        throws(LedgerError)
    {
        for start in stride(from: 0, to: values.count, by: 500) {
            let chunk = values[start..<min(start + 500, values.count)]
            var binds = PostgresBindings(capacity: chunk.count * 8)
            var rows: [String] = []
            for (record, body) in chunk {
                let first = binds.count + 1
                rows.append("(" + (first..<first + 8).map { "$\($0)" }.joined(separator: ", ") + ")")
                binds.append(record.id)
                binds.append(statusCode(record.status))
                binds.append(micros(record.createdAt))
                binds.append(record.completedAt?.timeIntervalSince1970)
                binds.append(record.source.sha256)
                binds.append(Int32(clamping: record.attempts))
                binds.append(storeID ?? "")
                binds.append(body.bytea)
            }
            let inserted = try session.execute(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO records (id, status, created_us, completed_at, sha256, attempts, store_id, body)
                        VALUES \(rows.joined(separator: ", ")) ON CONFLICT (id) DO NOTHING
                        """, binds: binds))
            guard inserted == chunk.count else {
                let ids = chunk.map { $0.0.id.lowercased }
                throw LedgerError(
                    .alreadyExists,
                    "record \(ids.count == 1 ? ids[0] : "of a batch of \(ids.count)") already exists")
            }
        }
    }

    static func decode(_ buffer: ByteBuffer) throws(LedgerError) -> LedgerRecord {
        let bytes = buffer.bytes
        return try withRawBytes(bytes) { raw throws(LedgerError) in try RecordCodec.decode(raw) }
    }

    static func requireCreated(_ status: Int16, _ record: LedgerRecord, _ action: String) throws(LedgerError) {
        guard status == 0, record.status == .created else {
            throw LedgerError(
                .invalidTransition, "cannot \(action) record \(record.id.lowercased): it is \(record.status.rawValue)")
        }
    }

    static func statusCode(_ status: ResultStatus) -> Int16 {
        switch status {
        case .created: 0
        case .completed: 1
        case .failed: 2
        }
    }

    /// Microseconds since 1970, rounded down (the time index), as LMDB's time keys.
    static func micros(_ date: Date) -> Int64 { Keys.micros(date) }
}
