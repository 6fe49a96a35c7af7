import FaceCore
import Foundation

/// Keys of forgotten images in `meta`. Like the people databases they need no schema migration: a
/// ledger without any simply has forgotten nothing, and older builds never read them.
enum ForgetKey {
    /// + UUID: `TombstoneCodec`.
    static let tombstonePrefix = Array("forgotten/".utf8)
    /// + UUID: empty; the tombstone's files (original, document, thumbnails) may remain.
    static let filesPendingPrefix = Array("forgotten_files/".utf8)
    /// + UUID: empty; some of the result's faces were forgotten and its document still shows them.
    static let documentPendingPrefix = Array("forgotten_faces_document/".utf8)
    /// u64: forgets committed (`Ledger.forgetGenerations`).
    static let generation = Array("forget_generation".utf8)
    /// u64: forgets a compaction rewrote out of the files.
    static let compactedGeneration = Array("forget_compacted_generation".utf8)
}

/// Forgetting on LMDB: one write transaction per image. The record's value, its `by_time`, `queue`
/// and `by_sha` keys, its crash-attribution entries and its labels are deleted, and the counters, the
/// tallies and the counts per person updated, in the transaction that writes the tombstone. The
/// deleted values' bytes stay in free pages of `data.mdb` until LMDB reuses them; `compact()` writes
/// a copy without them.
extension LMDBLedger {
    @discardableResult
    public func forget(_ id: UUID, reason: String, at: Date) throws(LedgerError) -> Tombstone {
        let dbs = self.dbs
        let people = environment.people
        return try write { txn throws(LedgerError) in
            if let existing = try Self.tombstone(id, txn, dbs) { return existing }
            let record = try Self.load(id, txn, dbs)
            try txn.delete(dbs.records, id.bytes)
            let timeKey = Keys.timeKey(createdAt: record.createdAt, id: id)
            try txn.delete(dbs.byTime, timeKey)
            try txn.delete(dbs.queue, timeKey)
            // Dedup must never answer from a forgotten image: its digest leaves the index when the
            // index names it (another completed record with the same bytes keeps no entry: the next
            // copy is encoded afresh).
            if let sha = SHA256Hex.bytes(record.source.sha256), let named = try txn.get(dbs.bySHA, sha),
                named.elementsEqual(id.bytes)
            {
                try txn.delete(dbs.bySHA, sha)
            }
            try Self.forgetAttempts(id, txn, dbs)
            var counters = try Counters.load(txn, dbs)
            counters.removeRecord(record)
            try counters.store(txn, dbs)
            if record.status != .created {
                var tallies = try FinalTallies.load(txn, dbs)
                tallies.remove(record)
                try tallies.store(txn, dbs)
            }
            if let people { try Self.forgetLabels(id, txn, people) }
            let tombstone = TombstoneCodec.tombstone(of: record, at: at, reason: reason)
            try txn.put(dbs.meta, ForgetKey.tombstonePrefix + id.bytes, TombstoneCodec.encode(tombstone))
            try txn.put(dbs.meta, ForgetKey.filesPendingPrefix + id.bytes, [])
            try Self.advance(ForgetKey.generation, txn, dbs)
            return tombstone
        }
    }

    @discardableResult
    public func forgetFaces(_ id: UUID, of person: String) throws(LedgerError) -> Int {
        let dbs = self.dbs
        let people = environment.people
        return try write { txn throws(LedgerError) in
            var record = try Self.load(id, txn, dbs)
            guard record.status == .completed, let people, let value = try txn.get(people.labels, id.bytes) else {
                return 0
            }
            var labels = try PeopleCodec.decodeLabels(value)
            let doomed = FaceForgetting.faces(of: person, in: record, labels)
            guard !doomed.isEmpty else { return 0 }
            var deltas: [String: PersonCount] = [:]
            labels.count(sign: -1, into: &deltas)
            let removed = FaceForgetting.remove(doomed, from: &record, &labels)
            labels.count(sign: 1, into: &deltas)
            try txn.put(dbs.records, id.bytes, try RecordCodec.encode(record))
            try txn.put(people.labels, id.bytes, PeopleCodec.encodeLabels(labels))
            try Self.applyPersonDeltas(deltas, txn, people)
            var counters = try Counters.load(txn, dbs)
            counters.removeFaces(removed)
            try counters.store(txn, dbs)
            try txn.put(dbs.meta, ForgetKey.documentPendingPrefix + id.bytes, [])
            try Self.advance(ForgetKey.generation, txn, dbs)
            return removed.count
        }
    }

    public func documentsToRewrite(limit: Int) throws(LedgerError) -> [UUID] {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in
            Array(try Self.entries(ForgetKey.documentPendingPrefix, txn, dbs) { id, _ in id }.prefix(limit))
        }
    }

    public func documentsRewritten(_ ids: [UUID]) throws(LedgerError) {
        guard !ids.isEmpty else { return }
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            for id in ids { try txn.delete(dbs.meta, ForgetKey.documentPendingPrefix + id.bytes) }
        }
    }

    public func forgetGenerations() throws(LedgerError) -> (forgotten: UInt64, compacted: UInt64) {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in
            (
                try Self.generation(ForgetKey.generation, txn, dbs),
                try Self.generation(ForgetKey.compactedGeneration, txn, dbs)
            )
        }
    }

    public func markCompacted(through generation: UInt64) throws(LedgerError) {
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            guard try Self.generation(ForgetKey.compactedGeneration, txn, dbs) < generation else { return }
            var w = ByteWriter()
            w.u64(generation)
            try txn.put(dbs.meta, ForgetKey.compactedGeneration, w.bytes)
        }
    }

    private static func generation(_ key: [UInt8], _ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> UInt64 {
        guard let value = try txn.get(dbs.meta, key) else { return 0 }
        var r = ByteReader(value, what: "forget generation")
        return try r.u64()
    }

    private static func advance(_ key: [UInt8], _ txn: Transaction, _ dbs: Databases) throws(LedgerError) {
        var w = ByteWriter()
        w.u64(try generation(key, txn, dbs) + 1)
        try txn.put(dbs.meta, key, w.bytes)
    }

    public func tombstone(_ id: UUID) throws(LedgerError) -> Tombstone? {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in try Self.tombstone(id, txn, dbs) }
    }

    public func tombstonesWithFiles(limit: Int) throws(LedgerError) -> [Tombstone] {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in
            let ids = try Self.entries(ForgetKey.filesPendingPrefix, txn, dbs) { id, _ in id }
            var found: [Tombstone] = []
            for id in ids.prefix(limit) {
                if let tombstone = try Self.tombstone(id, txn, dbs) { found.append(tombstone) }
            }
            return found
        }
    }

    public func forgottenFilesRemoved(_ ids: [UUID]) throws(LedgerError) {
        guard !ids.isEmpty else { return }
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            for id in ids { try txn.delete(dbs.meta, ForgetKey.filesPendingPrefix + id.bytes) }
        }
    }

    public func tombstones(after: UUID?, limit: Int) throws(LedgerError) -> [Tombstone] {
        let dbs = self.dbs
        let prefix = ForgetKey.tombstonePrefix
        return try environment.read { txn throws(LedgerError) in
            try txn.withCursor(dbs.meta) { cursor throws(LedgerError) in
                var found: [Tombstone] = []
                var entry = try cursor.seek(atOrAfter: prefix + (after?.bytes ?? []))
                while found.count < limit, let (key, value) = entry, key.count == prefix.count + 16,
                    key.starts(with: prefix)
                {
                    guard let id = UUID(bytes: UnsafeRawBufferPointer(rebasing: key[prefix.count...])) else { break }
                    if id != after {
                        let pending = try txn.get(dbs.meta, ForgetKey.filesPendingPrefix + id.bytes) != nil
                        found.append(try TombstoneCodec.decode(id: id, value, filesPending: pending))
                    }
                    entry = try cursor.next()
                }
                return found
            }
        }
    }

    public func importTombstones(_ tombstones: [Tombstone]) throws(LedgerError) {
        guard !tombstones.isEmpty else { return }
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            for tombstone in tombstones {
                let id = tombstone.id
                if try txn.get(dbs.records, id.bytes) != nil {
                    throw LedgerError(
                        .alreadyExists,
                        "record \(id.uuidString.lowercased()) exists: it cannot be forgotten by an import")
                }
                if try txn.get(dbs.meta, ForgetKey.tombstonePrefix + id.bytes) != nil { continue }
                try txn.put(dbs.meta, ForgetKey.tombstonePrefix + id.bytes, TombstoneCodec.encode(tombstone))
                if tombstone.filesPending { try txn.put(dbs.meta, ForgetKey.filesPendingPrefix + id.bytes, []) }
            }
        }
    }

    private static func tombstone(_ id: UUID, _ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> Tombstone? {
        guard let value = try txn.get(dbs.meta, ForgetKey.tombstonePrefix + id.bytes) else { return nil }
        let pending = try txn.get(dbs.meta, ForgetKey.filesPendingPrefix + id.bytes) != nil
        return try TombstoneCodec.decode(id: id, value, filesPending: pending)
    }

    /// Deletes the labels of a forgotten result and takes its faces out of the counts per person.
    /// Its face-log entry (an id, no biometric data) stays: the face table's catch-up skips ids
    /// without a record, and a table that held its rows no longer adds up and is rebuilt.
    private static func forgetLabels(_ id: UUID, _ txn: Transaction, _ pdbs: PeopleDatabases) throws(LedgerError) {
        guard let value = try txn.get(pdbs.labels, id.bytes) else { return }
        let labels = try PeopleCodec.decodeLabels(value)
        try txn.delete(pdbs.labels, id.bytes)
        var deltas: [String: PersonCount] = [:]
        labels.count(sign: -1, into: &deltas)
        try applyPersonDeltas(deltas, txn, pdbs)
    }

    /// Applies changes of the counts per person that only take away (a forget): a person left with
    /// no face and no result loses their entry.
    private static func applyPersonDeltas(
        _ deltas: [String: PersonCount], _ txn: Transaction, _ pdbs: PeopleDatabases
    ) throws(LedgerError) {
        for (name, delta) in deltas where delta != PersonCount() {
            let key = PeopleKey.countPrefix + Array(name.utf8)
            guard let stored = try txn.get(pdbs.people, key) else { continue }
            var r = ByteReader(stored, what: "person count")
            let faces = Int(try r.u64()) + delta.faces
            let results = Int(try r.u64()) + delta.results
            if faces <= 0 && results <= 0 {
                try txn.delete(pdbs.people, key)
            } else {
                var w = ByteWriter()
                w.u64(UInt64(max(faces, 0)))
                w.u64(UInt64(max(results, 0)))
                try txn.put(pdbs.people, key, w.bytes)
            }
        }
    }
}
