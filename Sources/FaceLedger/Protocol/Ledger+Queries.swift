import FaceCore
import Foundation

extension LMDBLedger {
    /// True if a record with this id exists.
    public func contains(_ id: UUID) throws(LedgerError) -> Bool {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in try txn.get(dbs.records, id.bytes) != nil }
    }

    /// The record with this id, or nil.
    public func record(_ id: UUID) throws(LedgerError) -> LedgerRecord? {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in
            guard let value = try txn.get(dbs.records, id.bytes) else { return nil }
            return try RecordCodec.decode(value)
        }
    }

    /// A completed record whose content has this SHA-256 (lowercase hex), for reusing its faces; the
    /// first one completed if several share it. Nil if none (or if `sha256` is not 64 hex digits).
    public func completedRecord(sha256: String) throws(LedgerError) -> LedgerRecord? {
        guard let sha = SHA256Hex.bytes(sha256) else { return nil }
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in
            guard let idBytes = try txn.get(dbs.bySHA, sha) else { return nil }
            guard let id = UUID(bytes: idBytes) else {
                throw LedgerError.corrupt("by_sha value of \(idBytes.count) bytes")
            }
            guard let value = try txn.get(dbs.records, id.bytes) else {
                throw LedgerError.corrupt("by_sha points at missing record \(id.uuidString.lowercased())")
            }
            let record = try RecordCodec.decode(value)
            return record.status == .completed ? record : nil
        }
    }

    /// Ids of `created` records, oldest first (by creation time, then id), at most `limit` of them,
    /// starting after the record `after` (for paging through the queue). Throws `.notFound` if `after`
    /// is not a record.
    public func queued(limit: Int, after: UUID? = nil) throws(LedgerError) -> [UUID] {
        guard limit > 0 else { return [] }
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in
            var start: [UInt8]?
            if let after {
                let record = try Self.load(after, txn, dbs)
                start = Keys.timeKey(createdAt: record.createdAt, id: after)
            }
            return try txn.withCursor(dbs.queue) { cursor throws(LedgerError) in
                var ids: [UUID] = []
                var entry = if let start { try cursor.seek(atOrAfter: start) } else { try cursor.first() }
                if let start, let current = entry, current.key.elementsEqual(start) { entry = try cursor.next() }
                while let current = entry, ids.count < limit {
                    ids.append(try Keys.id(ofTimeKey: current.key))
                    entry = try cursor.next()
                }
                return ids
            }
        }
    }

    /// Counts per status, faces and the encoding sum: O(1), one read of `meta`.
    public func stats() throws(LedgerError) -> LedgerStats {
        let dbs = environment.databases
        return LedgerStats(try environment.read { txn throws(LedgerError) in try Counters.load(txn, dbs) })
    }

    /// Calls `body` for every record created in `[from, to)` (either bound may be nil), in creation order.
    ///
    /// Streams in constant memory: records are read in batches of 256, each batch in its own
    /// short read transaction, and `body` runs with no transaction open (so it may call the ledger,
    /// writes included). Each record is visited once, in the state it had when its batch was read;
    /// records created meanwhile are visited if they sort after the current position.
    ///
    /// Throws what `body` throws, or a `LedgerError`.
    public func forEachRecord(
        createdFrom from: Date? = nil, to: Date? = nil, _ body: (LedgerRecord) throws -> Void
    ) throws {
        var position: [UInt8]? = from.map(Keys.timeLowerBound)
        var skipPosition = false
        while true {
            let batch = try readBatch(from: position, skipping: skipPosition, window: (from, to))
            for record in batch.records { try body(record) }
            guard let last = batch.lastKey, !batch.finished else { return }
            position = last
            skipPosition = true
        }
    }

    /// Calls `body` with every record id (in id order), reading them in batches like
    /// `forEachRecord`; cheap, for reconciling the store with the ledger at startup.
    public func forEachID(_ body: (UUID) throws -> Void) throws {
        let dbs = environment.databases
        var position: [UInt8]?
        while true {
            let (ids, finished): ([UUID], Bool) = try environment.read { txn throws(LedgerError) in
                try txn.withCursor(dbs.records) { cursor throws(LedgerError) in
                    var entry = if let position { try cursor.seek(atOrAfter: position) } else { try cursor.first() }
                    if let position, let current = entry, current.key.elementsEqual(position) {
                        entry = try cursor.next()
                    }
                    var ids: [UUID] = []
                    while let current = entry, ids.count < Self.batchSize * 16 {
                        guard let id = UUID(bytes: current.key) else {
                            throw LedgerError.corrupt("records key of \(current.key.count) bytes")
                        }
                        ids.append(id)
                        entry = try cursor.next()
                    }
                    return (ids, entry == nil)
                }
            }
            for id in ids { try body(id) }
            guard let last = ids.last, !finished else { return }
            position = last.bytes
        }
    }

    /// The true mean of every face encoding of completed images created in `[from, to)`.
    ///
    /// With no bounds it is O(1) (the running sum in `meta`). With bounds it streams the window like
    /// `forEachRecord`: batches of 256 records, each in its own short read transaction, so a long
    /// window neither holds a reader slot nor keeps old pages alive while it is summed (each record is
    /// counted in the state its batch saw).
    public func average(from: Date? = nil, to: Date? = nil) throws(LedgerError) -> LedgerAverage {
        if from == nil && to == nil {
            let stats = try stats()
            return LedgerAverage(
                mean: stats.average, faces: stats.encodedFaces, images: stats.counts[.completed] ?? 0)
        }
        var sum = [Double](repeating: 0, count: Face.encodingLength)
        var faces = 0
        var images = 0
        var position: [UInt8]? = from.map(Keys.timeLowerBound)
        var skipPosition = false
        while true {
            let batch = try readBatch(from: position, skipping: skipPosition, window: (from, to))
            for record in batch.records where record.status == .completed {
                images += 1
                for face in record.faces where face.encoding.count == Face.encodingLength {
                    faces += 1
                    for i in 0..<Face.encodingLength { sum[i] += Double(face.encoding[i]) }
                }
            }
            guard let last = batch.lastKey, !batch.finished else { break }
            position = last
            skipPosition = true
        }
        return LedgerAverage(mean: faces > 0 ? sum.map { $0 / Double(faces) } : nil, faces: faces, images: images)
    }

    // MARK: - Streaming internals

    private struct Batch {
        var records: [LedgerRecord] = []
        var lastKey: [UInt8]?
        var finished = false
    }

    /// Up to `batchSize` records of the window, from `position` on.
    private func readBatch(
        from position: [UInt8]?, skipping: Bool, window: (Date?, Date?)
    ) throws(LedgerError) -> Batch {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in
            var batch = Batch()
            var scanned = 0
            batch.finished = try Self.scanWindow(txn, dbs, from: position, skipping: skipping, window: window) {
                key, record, inWindow throws(LedgerError) in
                if inWindow { batch.records.append(record) }
                batch.lastKey = key
                scanned += 1
                return scanned < Self.batchSize
            }
            return batch
        }
    }

    /// Walks `by_time` from `start` (or the beginning) up to the window's end, decoding each record and
    /// calling `visit` with its key, the record, and whether it lies in `[from, to)` exactly (keys have
    /// microsecond resolution, so the first and last microsecond hold records on either side).
    /// `visit` returns false to stop early. Returns true when the window's end was reached.
    @discardableResult
    static func scanWindow(
        _ txn: Transaction, _ dbs: Databases, from start: [UInt8]?, skipping: Bool, window: (Date?, Date?),
        _ visit: ([UInt8], LedgerRecord, Bool) throws(LedgerError) -> Bool
    ) throws(LedgerError) -> Bool {
        let (from, to) = window
        let toMicros = to.map(Keys.micros)
        return try txn.withCursor(dbs.byTime) { cursor throws(LedgerError) in
            var entry = if let start { try cursor.seek(atOrAfter: start) } else { try cursor.first() }
            if skipping, let start, let current = entry, current.key.elementsEqual(start) { entry = try cursor.next() }
            while let current = entry {
                let id = try Keys.id(ofTimeKey: current.key)  // checks the key's length
                if let toMicros, Keys.micros(ofTimeKey: current.key) > toMicros { return true }
                let key = Array(current.key)
                guard let value = try txn.get(dbs.records, id.bytes) else {
                    throw LedgerError.corrupt("by_time points at missing record \(id.uuidString.lowercased())")
                }
                let record = try RecordCodec.decode(value)
                let inWindow =
                    (from.map { record.createdAt >= $0 } ?? true) && (to.map { record.createdAt < $0 } ?? true)
                entry = try cursor.next()
                if !(try visit(key, record, inWindow)) { return entry == nil }
            }
            return true
        }
    }

    // MARK: - Internal checks (tests, diagnostics)

    /// The schema version stored in `meta`.
    func storedSchemaVersion() throws(LedgerError) -> UInt32 {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in try LedgerSchema.storedVersion(txn, dbs) }
    }

    /// The stored counters and the counters recomputed from every record, in one snapshot.
    func countersCheck() throws(LedgerError) -> (stored: Counters, recomputed: Counters) {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in
            (try Counters.load(txn, dbs), try LedgerSchema.recount(txn, dbs))
        }
    }

    /// Entries of each index, in one snapshot.
    func indexSizes() throws(LedgerError) -> (records: Int, byTime: Int, queue: Int, bySHA: Int) {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) in
            (try txn.count(dbs.records), try txn.count(dbs.byTime), try txn.count(dbs.queue), try txn.count(dbs.bySHA))
        }
    }
}
