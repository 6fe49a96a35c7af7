import CLMDB
import FaceCore
import Foundation

/// The durable ledger of facewatch: one LMDB environment (a directory, e.g. `ROOT/db/`) holding a
/// record per image and the indices and counters derived from them.
///
/// Like a mail queue, every state transition is exactly one committed LMDB write transaction: when a
/// transition method returns, the change is on disk (LMDB's default synchronous commit: it survives
/// `kill -9` and power loss) together with every index and counter it affects; when it throws, nothing
/// changed. The lifecycle:
///
/// ```
/// insertCreated ──▶ created ──beginAttempt (attempts+1)──▶ created ──complete──▶ completed
///                                                                   └──fail─────▶ failed
/// ```
///
/// Named databases: `records` (UUID → record, see `RecordCodec`), `by_time` (creation time + UUID, every
/// record), `queue` (the same keys, only `created` records), `by_sha` (SHA-256 → UUID of a completed
/// record) and `meta` (schema version and counters). Opening a database of an older schema migrates it
/// in one write transaction; a newer schema is refused (`LedgerError.Code.newerSchema`).
///
/// Concurrency: a `Ledger` may be used from any number of threads and tasks. Reads never block writes
/// (LMDB's MVCC), also across processes: the command line opens the same directory read-only while the
/// daemon writes. Writes are serialised by LMDB. Every method is synchronous and short; none holds a
/// transaction while running caller code. In one process, all `Ledger`s on the same directory share one
/// LMDB environment (LMDB forbids opening it twice per process).
public final class LMDBLedger: Ledger {
    /// How to open the environment.
    public struct Options: Sendable, Equatable {
        /// Initial size of the memory map in bytes (rounded up to the page size). The map doubles
        /// whenever a write finds it full, up to `maxMapSize`. An existing environment keeps a larger size
        /// recorded earlier. Ignored when read-only (the writer's size is used).
        public var mapSize: Int
        /// Upper bound for growth; a write that needs more fails with `.mapFull`.
        public var maxMapSize: Int
        /// Open with `MDB_RDONLY`: no writes, no migration, no directory creation.
        public var readOnly: Bool
        /// Reader slots of the environment (concurrent read transactions, all processes together).
        /// Effective only for the first process that opens the environment.
        public var maxReaders: Int
        /// Permissions of `data.mdb` and `lock.mdb` when created (before the umask). Readers need write
        /// access to `lock.mdb`, hence group write by default.
        public var fileMode: mode_t

        public init(
            mapSize: Int = 1 << 30, maxMapSize: Int = 1 << 40, readOnly: Bool = false, maxReaders: Int = 126,
            fileMode: mode_t = 0o660
        ) {
            self.mapSize = mapSize
            self.maxMapSize = maxMapSize
            self.readOnly = readOnly
            self.maxReaders = maxReaders
            self.fileMode = fileMode
        }
    }

    /// The environment directory.
    public let directory: URL
    /// True if this `Ledger` refuses writes.
    public let isReadOnly: Bool
    let environment: LMDBEnvironment
    var dbs: Databases { environment.databases }

    /// Records read per read transaction while streaming; bounds memory and transaction length.
    static let batchSize = 256

    /// Opens the ledger in `directory`, creating it (and the directory) unless read-only, and migrating an
    /// older schema in one write transaction.
    ///
    /// Throws `.newerSchema` for a database written by a newer facewatch (naming both versions),
    /// `.olderSchema` when a read-only open finds a database that needs a migration, `.notFound` when a
    /// read-only open finds no ledger, `.alreadyOpen` when this process has the directory open read-only
    /// and a writable open is requested.
    public init(directory: URL, options: Options = Options()) throws(LedgerError) {
        self.directory = directory
        self.isReadOnly = options.readOnly
        self.environment = try LMDBEnvironment.open(directory: directory, options: options)
    }

    /// The environment directory's path.
    public var location: String { directory.path }

    /// False: one daemon owns an LMDB ledger (the root's lock).
    public var isShared: Bool { false }

    /// True: the one daemon of the root writes its files.
    public func holdsPublisherRole() throws(LedgerError) -> Bool { true }

    /// The current size of this process's memory map in bytes.
    public var mapSize: Int { environment.mapSize }

    // MARK: - Transitions (each one write transaction)

    /// Adds new `created` records. One write transaction for the whole batch: either every record is
    /// committed (with its `by_time` and `queue` entries and the counters) or none is.
    ///
    /// Throws `.alreadyExists` if any id is already in the ledger (or twice in the batch), and
    /// `.invalidArgument` if a record is not a fresh `created` record (status `created`, no faces, no
    /// error, no completion date) or cannot be stored (e.g. a SHA-256 that is not 64 lowercase hex digits).
    public func insertCreated(_ records: [LedgerRecord]) throws(LedgerError) {
        var values: [(LedgerRecord, [UInt8])] = []
        values.reserveCapacity(records.count)
        for record in records {
            guard record.status == .created, record.faces.isEmpty, record.error == nil,
                record.completedAt == nil
            else {
                throw LedgerError(
                    .invalidArgument,
                    "record \(record.id.uuidString.lowercased()) is not a fresh created record")
            }
            values.append((record, try RecordCodec.encode(record)))
        }
        guard !values.isEmpty else { return }
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            var counters = try Counters.load(txn, dbs)
            for (record, value) in values {
                guard try txn.put(dbs.records, record.id.bytes, value, noOverwrite: true) else {
                    throw LedgerError(.alreadyExists, "record \(record.id.uuidString.lowercased()) already exists")
                }
                let timeKey = Keys.timeKey(createdAt: record.createdAt, id: record.id)
                try txn.put(dbs.byTime, timeKey, [])
                try txn.put(dbs.queue, timeKey, [])
                try txn.delete(dbs.meta, MetaKey.intentPrefix + record.id.bytes)
                counters.add(.created, 1)
            }
            try counters.store(txn, dbs)
        }
    }

    /// Counts one more encoding attempt of a `created` record and leaves its marker (the run that
    /// made it, and whether the file runs alone: see `beginRun`), committed in one write transaction
    /// before the caller starts encoding; returns the new attempt count.
    ///
    /// Throws `.notFound` for an unknown id and `.invalidTransition` if the record is not `created`.
    @discardableResult
    public func beginAttempt(_ id: UUID, incarnation: UInt64 = 0, solo: Bool = false) throws(LedgerError) -> Int {
        let dbs = self.dbs
        return try write { txn throws(LedgerError) in
            var record = try Self.load(id, txn, dbs)
            try Self.requireCreated(record, "start an attempt on")
            record.attempts += 1
            try txn.put(dbs.records, id.bytes, try RecordCodec.encode(record))
            try Self.markAttempt(id, incarnation: incarnation, solo: solo, txn, dbs)
            return record.attempts
        }
    }

    /// Moves a `created` record to `completed` with its image and faces (one write transaction: the
    /// record, its removal from `queue`, the `by_sha` entry for its content if none exists, and the
    /// counters, face total, encoding sum and engine tallies). Zero faces is a completed result. Returns
    /// the new record. `source`, when given, replaces the record's: the size and SHA-256 of the bytes
    /// actually read and encoded, which a record created from its size alone does not know yet.
    ///
    /// Throws `.notFound`, `.invalidTransition` (the record is already final) or `.invalidArgument`
    /// (e.g. a non-finite encoding).
    @discardableResult
    public func complete(
        _ id: UUID, image: ImageInfo, faces: [Face], completedAt: Date, duration: Double, source: SourceInfo? = nil
    ) throws(LedgerError) -> LedgerRecord {
        try settle(
            id, as: .completed, image: image, faces: faces, error: nil, completedAt: completedAt, duration: duration,
            source: source)
    }

    /// Moves a `created` record to `failed` (one write transaction: the record, its removal from
    /// `queue`, the counters and the failure tallies). `image` is what was learnt before failing, if
    /// anything; `source`, when given, replaces the record's (as in `complete`). Returns the new record.
    ///
    /// Throws `.notFound` or `.invalidTransition` (the record is already final).
    @discardableResult
    public func fail(
        _ id: UUID, _ failure: Failure, image: ImageInfo? = nil, completedAt: Date, duration: Double,
        source: SourceInfo? = nil
    ) throws(LedgerError) -> LedgerRecord {
        try settle(
            id, as: .failed, image: image, faces: [], error: failure, completedAt: completedAt, duration: duration,
            source: source)
    }

    /// `complete` and `fail`: the record made final, out of `queue` (and, completed, into `by_sha` when
    /// its content has no entry), its attempt markers gone, the counters and tallies updated, in one
    /// write transaction.
    private func settle(
        _ id: UUID, as status: ResultStatus, image: ImageInfo?, faces: [Face], error: Failure?, completedAt: Date,
        duration: Double, source: SourceInfo?
    ) throws(LedgerError) -> LedgerRecord {
        let dbs = self.dbs
        return try write { txn throws(LedgerError) in
            var record = try Self.load(id, txn, dbs)
            try Self.requireCreated(record, status == .completed ? "complete" : "fail")
            if let source { record.source = source }
            record.status = status
            record.image = image
            record.faces = faces
            record.completedAt = completedAt
            record.duration = duration
            record.error = error
            try txn.put(dbs.records, id.bytes, try RecordCodec.encode(record))
            try txn.delete(dbs.queue, Keys.timeKey(createdAt: record.createdAt, id: id))
            if status == .completed, let sha = SHA256Hex.bytes(record.source.sha256) {
                try txn.put(dbs.bySHA, sha, id.bytes, noOverwrite: true)
            }
            try Self.forgetAttempts(id, txn, dbs)
            var counters = try Counters.load(txn, dbs)
            counters.add(.created, -1)
            counters.add(status, 1)
            counters.addFaces(faces)
            try counters.store(txn, dbs)
            var tallies = try FinalTallies.load(txn, dbs)
            tallies.add(record)
            try tallies.store(txn, dbs)
            return record
        }
    }

    // MARK: - Helpers

    /// One write transaction, refused on a read-only `Ledger` (which may share a writable environment
    /// with a writable `Ledger` of the same process).
    @discardableResult
    func write<T>(_ body: (Transaction) throws(LedgerError) -> T) throws(LedgerError) -> T {
        guard !isReadOnly else {
            throw LedgerError(.readOnly, "the ledger at \(directory.path) is open read-only")
        }
        return try environment.write(body)
    }

    static func load(_ id: UUID, _ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> LedgerRecord {
        guard let value = try txn.get(dbs.records, id.bytes) else {
            throw LedgerError(.notFound, "no record \(id.uuidString.lowercased())")
        }
        return try RecordCodec.decode(value)
    }

    static func requireCreated(_ record: LedgerRecord, _ action: String) throws(LedgerError) {
        guard record.status == .created else {
            throw LedgerError(
                .invalidTransition,
                "cannot \(action) record \(record.id.uuidString.lowercased()): it is \(record.status.rawValue)")
        }
    }
}
