import FaceCore
import Foundation

/// Known people in the ledger: their pictures' encodings, the labels of every result, the counts per
/// person, and the durable progress of a relabel (`PeopleState`), each change one write transaction.
///
/// The labels are derived data: a pure function of a record's faces, the known pictures and the
/// tolerance. The generation says which known set a result's labels were computed with; a relabel
/// walks the records in id order, and its cursor is committed with each batch of labels, so a crash
/// resumes after the last committed batch.
extension LMDBLedger {
    private func peopleDatabases() throws(LedgerError) -> PeopleDatabases? {
        environment.people
    }

    private func requirePeople() throws(LedgerError) -> PeopleDatabases {
        guard let people = environment.people else {
            throw LedgerError(.readOnly, "the ledger at \(directory.path) has no known-people databases yet")
        }
        return people
    }

    // MARK: - Reads

    /// Every known picture, by path.
    public func knownPictures() throws(LedgerError) -> [KnownPicture] {
        guard let pdbs = try peopleDatabases() else { return [] }
        return try environment.read { txn throws(LedgerError) in
            try txn.withCursor(pdbs.known) { cursor throws(LedgerError) in
                var pictures: [KnownPicture] = []
                var entry = try cursor.first()
                while let (key, value) = entry {
                    pictures.append(try PeopleCodec.decodePicture(key: key, value))
                    entry = try cursor.next()
                }
                return pictures
            }
        }
    }

    /// The state of known people and of the relabel; `initial` when known people were never set.
    public func peopleState(defaultTolerance: Double = 0.6) throws(LedgerError) -> PeopleState {
        guard let pdbs = try peopleDatabases() else { return .initial(tolerance: defaultTolerance) }
        return try environment.read { txn throws(LedgerError) in
            try Self.loadState(txn, pdbs, defaultTolerance: defaultTolerance)
        }
    }

    /// The stored labels of a result, if any were computed.
    public func labels(_ id: UUID) throws(LedgerError) -> StoredLabels? {
        guard let pdbs = try peopleDatabases() else { return nil }
        return try environment.read { txn throws(LedgerError) in
            try txn.get(pdbs.labels, id.bytes).map(PeopleCodec.decodeLabels)
        }
    }

    /// Faces and results labelled with each person, from the counters the label writes keep.
    public func personCounts() throws(LedgerError) -> [String: PersonCount] {
        guard let pdbs = try peopleDatabases() else { return [:] }
        return try environment.read { txn throws(LedgerError) in
            try txn.withCursor(pdbs.people) { cursor throws(LedgerError) in
                var counts: [String: PersonCount] = [:]
                var entry = try cursor.seek(atOrAfter: PeopleKey.countPrefix)
                while let (key, value) = entry, key.starts(with: PeopleKey.countPrefix) {
                    let name = String(decoding: key.dropFirst(PeopleKey.countPrefix.count), as: UTF8.self)
                    var r = ByteReader(value, what: "person count")
                    counts[name] = PersonCount(faces: Int(try r.u64()), results: Int(try r.u64()))
                    entry = try cursor.next()
                }
                return counts
            }
        }
    }

    /// Up to `limit` records after `cursor` in id order (all statuses, so the cursor can pass them),
    /// and whether the end was reached.
    public func records(after cursor: UUID?, limit: Int) throws(LedgerError) -> (
        records: [LedgerRecord], finished: Bool
    ) {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in
            try txn.withCursor(dbs.records) { c throws(LedgerError) in
                var entry = if let cursor { try c.seek(atOrAfter: cursor.bytes) } else { try c.first() }
                if let cursor, let current = entry, current.key.elementsEqual(cursor.bytes) {
                    entry = try c.next()
                }
                var records: [LedgerRecord] = []
                while let current = entry, records.count < limit {
                    records.append(try RecordCodec.decode(current.value))
                    entry = try c.next()
                }
                return (records, entry == nil)
            }
        }
    }

    // MARK: - Writes

    /// Applies a change of the known folder in one write transaction: stores `upserting`, deletes the
    /// pictures at `removing`, and records `tolerance`. When anything differs from what was stored, the
    /// generation increases and a relabel to it starts from the first record. Returns the new state.
    ///
    /// - Throws: `LedgerError` (`.readOnly` on a read-only ledger).
    @discardableResult
    public func updateKnownPictures(
        upserting: [KnownPicture], removing: [String], tolerance: Double
    ) throws(LedgerError) -> PeopleState {
        let pdbs = try requirePeople()
        var encoded: [([UInt8], [UInt8])] = []
        for picture in upserting { encoded.append(try PeopleCodec.encodePicture(picture)) }
        return try write { txn throws(LedgerError) in
            var state = try Self.loadState(txn, pdbs, defaultTolerance: tolerance)
            var changed = state.tolerance != tolerance
            for (key, value) in encoded {
                if let old = try txn.get(pdbs.known, key), old.elementsEqual(value) { continue }
                try txn.put(pdbs.known, key, value)
                changed = true
            }
            for path in removing where try txn.delete(pdbs.known, Array(path.utf8)) {
                changed = true
            }
            if changed {
                state.beginGeneration(tolerance: tolerance)
                try txn.put(pdbs.people, PeopleKey.state, PeopleCodec.encodeState(state))
            }
            return state
        }
    }

    /// Stores labels of results and, for a relabel, its progress, in one write transaction. Labels
    /// older than the ones stored are skipped (a newer generation already labelled that result); the
    /// counts per person follow every stored change. `progress` advances the relabel of its
    /// generation (ignored if the known people changed meanwhile: that relabel starts over).
    ///
    /// - Throws: `LedgerError`.
    public func storeLabels(_ entries: [(UUID, StoredLabels)], progress: RelabelProgress? = nil) throws(LedgerError) {
        let pdbs = try requirePeople()
        try write { txn throws(LedgerError) in
            var deltas: [String: PersonCount] = [:]
            var logCount = try Self.faceLogCount(txn, pdbs)
            let logged = logCount
            for (id, labels) in entries {
                // A result forgotten since its labels were computed gets none (nor counts, nor a log entry).
                if try txn.get(self.dbs.meta, ForgetKey.tombstonePrefix + id.bytes) != nil { continue }
                let old = try txn.get(pdbs.labels, id.bytes).map(PeopleCodec.decodeLabels)
                if let old, old.generation > labels.generation { continue }
                // Computed from the record as it was before a faces-only forget took faces away.
                if let old, old.faces.count != labels.faces.count { continue }
                if old == nil && !labels.faces.isEmpty {
                    try txn.put(pdbs.people, Self.faceLogKey(logCount), id.bytes)
                    logCount += 1
                }
                if let old { Self.count(old, sign: -1, into: &deltas) }
                Self.count(labels, sign: 1, into: &deltas)
                try txn.put(pdbs.labels, id.bytes, PeopleCodec.encodeLabels(labels))
            }
            if logCount != logged {
                var w = ByteWriter()
                w.u64(logCount)
                try txn.put(pdbs.people, PeopleKey.faceLogCount, w.bytes)
            }
            for (name, delta) in deltas where delta != PersonCount() {
                let key = PeopleKey.countPrefix + Array(name.utf8)
                var current = PersonCount()
                if let value = try txn.get(pdbs.people, key) {
                    var r = ByteReader(value, what: "person count")
                    current = PersonCount(faces: Int(try r.u64()), results: Int(try r.u64()))
                }
                current.faces += delta.faces
                current.results += delta.results
                if current.faces <= 0 && current.results <= 0 {
                    try txn.delete(pdbs.people, key)
                } else {
                    var w = ByteWriter()
                    w.u64(UInt64(max(current.faces, 0)))
                    w.u64(UInt64(max(current.results, 0)))
                    try txn.put(pdbs.people, key, w.bytes)
                }
            }
            if let progress {
                var state = try Self.loadState(txn, pdbs, defaultTolerance: 0.6)
                if state.generation == progress.generation {
                    state.cursor = progress.cursor ?? state.cursor
                    state.visited += progress.visited
                    if progress.finished { state.relabelledThrough = progress.generation }
                    try txn.put(pdbs.people, PeopleKey.state, PeopleCodec.encodeState(state))
                }
            }
        }
    }

    // MARK: - The face log

    /// Entries in the face log: results with faces, each once, in the order their labels were first
    /// stored (`PeopleKey.faceLogPrefix`).
    public func faceLogCount() throws(LedgerError) -> UInt64 {
        guard let pdbs = try peopleDatabases() else { return 0 }
        return try environment.read { txn throws(LedgerError) in try Self.faceLogCount(txn, pdbs) }
    }

    /// Up to `limit` ids of the face log from `position` on.
    public func faceLog(from position: UInt64, limit: Int) throws(LedgerError) -> [UUID] {
        guard let pdbs = try peopleDatabases() else { return [] }
        return try environment.read { txn throws(LedgerError) in
            try txn.withCursor(pdbs.people) { cursor throws(LedgerError) in
                var ids: [UUID] = []
                var entry = try cursor.seek(atOrAfter: Self.faceLogKey(position))
                while let (key, value) = entry, key.starts(with: PeopleKey.faceLogPrefix), ids.count < limit {
                    guard let id = UUID(bytes: value) else { throw LedgerError.corrupt("face log entry") }
                    ids.append(id)
                    entry = try cursor.next()
                }
                return ids
            }
        }
    }

    private static func faceLogKey(_ position: UInt64) -> [UInt8] {
        PeopleKey.faceLogPrefix + withUnsafeBytes(of: position.bigEndian) { Array($0) }
    }

    private static func faceLogCount(_ txn: Transaction, _ pdbs: PeopleDatabases) throws(LedgerError) -> UInt64 {
        guard let value = try txn.get(pdbs.people, PeopleKey.faceLogCount) else { return 0 }
        var r = ByteReader(value, what: "face log count")
        return try r.u64()
    }

    // MARK: - Helpers

    private static func count(_ labels: StoredLabels, sign: Int, into deltas: inout [String: PersonCount]) {
        labels.count(sign: sign, into: &deltas)
    }

    private static func loadState(
        _ txn: Transaction, _ pdbs: PeopleDatabases, defaultTolerance: Double
    ) throws(LedgerError) -> PeopleState {
        guard let value = try txn.get(pdbs.people, PeopleKey.state) else {
            return .initial(tolerance: defaultTolerance)
        }
        return try PeopleCodec.decodeState(value)
    }
}
