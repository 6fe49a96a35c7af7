import FaceCore
import Foundation

/// What the final records add up to beyond the status counters: failures by error code and the
/// engine runs (how many, their seconds, and how those seconds fall into `EngineTimeBuckets`).
///
/// Kept in `meta` under `final_tallies` (schema version 2) and updated in the transaction that makes
/// a record final (`Ledger.complete`, `Ledger.fail`), so that the daemon reads them in one lookup at
/// start instead of reading every record: start-up does not grow with the ledger.
///
/// An engine run is a final record with a positive duration (the engine ran for it: a deduplicated,
/// `crashed` or not-a-regular-file record has duration 0).
///
/// Value format 1 (little-endian): u8 format = 1; u32 number of codes, then per code a string and a
/// u64 count; u64 engine runs; f64 engine seconds; u32 number of buckets, then per bucket a u64 count
/// and an f64 sum of seconds (the bounds are `EngineTimeBuckets.bounds`, plus one bucket above them).
public struct FinalTallies: Sendable, Equatable {
    static let format: UInt8 = 1

    /// Failed records by error code (codes with none are left out).
    public var failedByCode: [FailureCode: Int] = [:]
    /// Final records for which the engine ran.
    public var engineRuns = 0
    /// Their total seconds.
    public var engineSeconds = 0.0
    /// Per bucket of `EngineTimeBuckets.bounds` (and one more for longer runs): how many runs and
    /// their seconds.
    public var buckets = [EngineTimeBucket](
        repeating: EngineTimeBucket(), count: EngineTimeBuckets.bounds.count + 1)

    public init() {}

    /// Adds a record that just became final.
    package mutating func add(_ record: LedgerRecord) {
        if record.status == .failed {
            // The ledger gives every failed record its error; `io_error` only guards the impossible.
            failedByCode[record.error?.code ?? .ioError, default: 0] += 1
        }
        guard record.status != .created, let seconds = record.duration, seconds > 0, seconds.isFinite else { return }
        engineRuns += 1
        engineSeconds += seconds
        let index = EngineTimeBuckets.bounds.firstIndex { seconds <= $0 } ?? EngineTimeBuckets.bounds.count
        buckets[index].count += 1
        buckets[index].seconds += seconds
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + buckets.count * 16)
        w.u8(Self.format)
        let codes = FailureCode.allCases.filter { (failedByCode[$0] ?? 0) > 0 }
        w.u32(UInt32(codes.count))
        for code in codes {
            w.string(code.rawValue)
            w.u64(UInt64(failedByCode[code] ?? 0))
        }
        w.u64(UInt64(max(0, engineRuns)))
        w.f64(engineSeconds)
        w.u32(UInt32(buckets.count))
        for bucket in buckets {
            w.u64(UInt64(max(0, bucket.count)))
            w.f64(bucket.seconds)
        }
        return w.bytes
    }

    package init(decoding bytes: UnsafeRawBufferPointer) throws(LedgerError) {
        var r = ByteReader(bytes, what: "meta final tallies")
        let format = try r.u8()
        guard format == Self.format else { throw LedgerError.corrupt("unknown final tallies format \(format)") }
        for _ in 0..<(try r.u32()) {
            let name = try r.string()
            let count = Int(clamping: try r.u64())
            // A code this build does not know (written by a newer one) is kept out, not an error.
            if let code = FailureCode(rawValue: name) { failedByCode[code] = count }
        }
        engineRuns = Int(clamping: try r.u64())
        engineSeconds = try r.f64()
        let stored = Int(try r.u32())
        guard stored == buckets.count else {
            throw LedgerError.corrupt("final tallies have \(stored) time buckets, this build \(buckets.count)")
        }
        for index in 0..<stored {
            buckets[index] = EngineTimeBucket(count: Int(clamping: try r.u64()), seconds: try r.f64())
        }
        try r.expectEnd()
    }

    /// The tallies stored in `meta` (zero when none are: an empty schema-2 ledger).
    static func load(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> FinalTallies {
        guard let value = try txn.get(dbs.meta, MetaKey.finalTallies) else { return FinalTallies() }
        return try FinalTallies(decoding: value)
    }

    func store(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) {
        try txn.put(dbs.meta, MetaKey.finalTallies, encoded())
    }

    /// Recomputes the tallies from every record (the migration to schema 2, and consistency checks).
    static func recount(_ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> FinalTallies {
        var tallies = FinalTallies()
        try txn.withCursor(dbs.records) { cursor throws(LedgerError) in
            var entry = try cursor.first()
            while let (_, value) = entry {
                tallies.add(try RecordCodec.decode(value))
                entry = try cursor.next()
            }
        }
        return tallies
    }
}

/// Engine runs whose seconds fall into one bucket.
public struct EngineTimeBucket: Sendable, Equatable {
    /// How many.
    public var count = 0
    /// Their total seconds.
    public var seconds = 0.0

    public init(count: Int = 0, seconds: Double = 0) {
        self.count = count
        self.seconds = seconds
    }
}

/// The bounds of the engine-time buckets the ledger keeps, in seconds (a bucket holds runs longer
/// than the previous bound and at most its own); the metrics' histogram uses the same ones. Part of
/// the stored format: changing them needs a new `FinalTallies` format.
public enum EngineTimeBuckets {
    /// From a small PNG to a 50-megapixel photo with the CNN detector.
    public static let bounds: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
}

extension LMDBLedger {
    /// Failures by code and engine runs of every final record: one read of `meta`.
    ///
    /// - Throws: `LedgerError` (`.corrupt` for a value this build cannot read, `.lmdb`).
    public func finalTallies() throws(LedgerError) -> FinalTallies {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in try FinalTallies.load(txn, dbs) }
    }

    /// The stored tallies and the tallies recomputed from every record, in one snapshot (tests).
    func finalTalliesCheck() throws(LedgerError) -> (stored: FinalTallies, recomputed: FinalTallies) {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in
            (try FinalTallies.load(txn, dbs), try FinalTallies.recount(txn, dbs))
        }
    }
}

extension LMDBLedger {
    /// Adds records as they are, in one write transaction for the batch, with their indices,
    /// counters and tallies, as if each had been created (and made final) here: `created` records
    /// join the queue with their attempt count; final ones count in the counters, the encoding sum
    /// and the tallies. For `ledger import`, for rebuilding from result documents, and for building
    /// large ledgers quickly (`facewatch-bench-root`).
    ///
    /// - Throws: `LedgerError` (`.alreadyExists` for an id already present, `.invalidArgument` for a
    ///   final record without a completion date or a `created` one with one, or one that cannot be
    ///   stored, `.readOnly`, `.mapFull`, `.lmdb`).
    public func importRecords(_ records: [LedgerRecord]) throws(LedgerError) {
        let values = try RecordCodec.encodeForImport(records)
        guard !values.isEmpty else { return }
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            var counters = try Counters.load(txn, dbs)
            var tallies = try FinalTallies.load(txn, dbs)
            for (record, value) in values {
                guard try txn.put(dbs.records, record.id.bytes, value, noOverwrite: true) else {
                    throw LedgerError(.alreadyExists, "record \(record.id.uuidString.lowercased()) already exists")
                }
                let timeKey = Keys.timeKey(createdAt: record.createdAt, id: record.id)
                try txn.put(dbs.byTime, timeKey, [])
                if record.status == .created {
                    try txn.put(dbs.queue, timeKey, [])
                } else {
                    tallies.add(record)
                }
                if record.status == .completed, let sha = SHA256Hex.bytes(record.source.sha256) {
                    try txn.put(dbs.bySHA, sha, record.id.bytes, noOverwrite: true)
                }
                counters.addRecord(record)
            }
            try counters.store(txn, dbs)
            try tallies.store(txn, dbs)
        }
    }
}

extension RecordCodec {
    /// Checks records for `importRecords` (a `created` record has no completion date, a final one
    /// has one) and encodes each; the same rule in every backend.
    /// - Throws: `LedgerError.invalidArgument` naming the first record that breaks it.
    package static func encodeForImport(_ records: [LedgerRecord]) throws(LedgerError) -> [(LedgerRecord, [UInt8])] {
        var values: [(LedgerRecord, [UInt8])] = []
        values.reserveCapacity(records.count)
        for record in records {
            guard (record.status == .created) == (record.completedAt == nil) else {
                throw LedgerError(
                    .invalidArgument,
                    "record \(record.id.uuidString.lowercased()) is \(record.status.rawValue) "
                        + (record.completedAt == nil ? "without a completion date" : "with a completion date"))
            }
            values.append((record, try encode(record)))
        }
        return values
    }
}
