import FaceCore
import Foundation

/// Crash attribution: which daemon run (incarnation) made each attempt, and which deaths a file is
/// charged with.
///
/// Every start is a new run (`beginRun`), and a graceful stop ends it (`endRun`). Each encoding
/// attempt leaves a marker (run, solo) until its record is final. At the next start, markers of a run
/// that did not end are settled: the process died while those files were being encoded. A file that
/// ran alone (`solo`) is the only possible cause and is charged one death: a *crash* when the process
/// died of a fault of its own (the daemon's `CrashMarker` says so), an unexplained *kill* otherwise
/// (`kill -9`, the OOM killer, power loss). Files that ran beside others become suspects, charged
/// nothing, and run alone (the pipeline's job) until they are final. A run that ended gracefully
/// (signal, drain timeout) charges nothing. The pipeline fails a file `crashed` after a few crashes,
/// or after many more kills (so an image that gets the process OOM-killed alone does not loop).
///
/// All of it lives in the `meta` database under `attempt/`, `suspect/` and `deaths/` keys followed by
/// the record's 16 UUID bytes, plus `run_state`; each transition is one write transaction, and
/// `complete`/`fail` remove a record's keys in the transaction that makes it final.
extension LMDBLedger {
    /// Starts a new run: settles the attempts of the previous one (see the type's documentation) and
    /// records this run as running, in one write transaction.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    ///
    /// `previousDiedOfFault`: whether the previous process died of a fault of its own (a crash, an
    /// abort), as opposed to being killed from outside; it decides what a lone file is charged.
    public func beginRun(previousDiedOfFault: Bool) throws(LedgerError) -> RunStart {
        let dbs = self.dbs
        return try write { txn throws(LedgerError) in
            var start = RunStart(incarnation: 1, previousEndedCleanly: nil)
            start.documentsComplete = try txn.delete(dbs.meta, MetaKey.documentsComplete)
            if let value = try txn.get(dbs.meta, MetaKey.runState) {
                var reader = ByteReader(value, what: "run state")
                let previous = try reader.u64()
                let running = try reader.u8()
                try reader.expectEnd()
                start.incarnation = previous + 1
                start.previousEndedCleanly = running == 0
            }
            // Markers left by the previous run: (id, solo).
            let markers = try Self.entries(MetaKey.attemptPrefix, txn, dbs) { id, value throws(LedgerError) in
                var reader = ByteReader(value, what: "attempt marker")
                _ = try reader.u64()
                let solo = try reader.u8() != 0
                try reader.expectEnd()
                return (id, solo)
            }
            for (id, solo) in markers {
                try txn.delete(dbs.meta, MetaKey.attemptPrefix + id.bytes)
                guard start.previousEndedCleanly != true else { continue }
                if solo {
                    var deaths = try Self.deaths(id, txn, dbs)
                    if previousDiedOfFault { deaths.crashes += 1 } else { deaths.kills += 1 }
                    var writer = ByteWriter()
                    writer.u32(UInt32(clamping: deaths.crashes))
                    writer.u32(UInt32(clamping: deaths.kills))
                    try txn.put(dbs.meta, MetaKey.deathsPrefix + id.bytes, writer.bytes)
                    start.charged.append(id)
                } else {
                    start.suspects.append(id)
                }
                try txn.put(dbs.meta, MetaKey.suspectPrefix + id.bytes, [])
            }
            if start.previousEndedCleanly == nil {
                // The first run of a build with crash attribution: attempts counted before it are of
                // unknown cause, so those files run alone once.
                try txn.withCursor(dbs.queue) { cursor throws(LedgerError) in
                    var entry = try cursor.first()
                    while let (key, _) = entry {
                        let id = try Keys.id(ofTimeKey: key)
                        if try Self.load(id, txn, dbs).attempts > 0, !start.suspects.contains(id),
                            !start.charged.contains(id)
                        {
                            try txn.put(dbs.meta, MetaKey.suspectPrefix + id.bytes, [])
                            start.suspects.append(id)
                        }
                        entry = try cursor.next()
                    }
                }
            }
            var writer = ByteWriter()
            writer.u64(start.incarnation)
            writer.u8(1)
            try txn.put(dbs.meta, MetaKey.runState, writer.bytes)
            return start
        }
    }

    /// Records that run `incarnation` ended gracefully: attempts it leaves behind charge nothing.
    /// `documentsComplete`: every final record's result document is written (the run checked the
    /// documents and owes none), which the next start reads in `RunStart.documentsComplete`.
    /// Does nothing if a later run has started.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    public func endRun(_ incarnation: UInt64, documentsComplete: Bool = false) throws(LedgerError) {
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            var writer = ByteWriter()
            writer.u64(incarnation)
            writer.u8(0)
            if let value = try txn.get(dbs.meta, MetaKey.runState) {
                var reader = ByteReader(value, what: "run state")
                guard try reader.u64() == incarnation else { return }
            }
            try txn.put(dbs.meta, MetaKey.runState, writer.bytes)
            if documentsComplete {
                try txn.put(dbs.meta, MetaKey.documentsComplete, [])
            } else {
                _ = try txn.delete(dbs.meta, MetaKey.documentsComplete)
            }
        }
    }

    /// Nothing to do: one host's runs end in its own process, and `beginRun` settles a dead one.
    public func renewLease(_ incarnation: UInt64) throws(LedgerError) {}

    /// Removes the marker of `id`'s attempt (the record stays `created`, its deaths and suspicion
    /// stay): the attempt ended without a result, on an error that passes, and the file waits to be
    /// tried again, so a death meanwhile is none of its doing.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    public func withdrawAttempt(_ id: UUID) throws(LedgerError) {
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            _ = try txn.delete(dbs.meta, MetaKey.attemptPrefix + id.bytes)
        }
    }

    /// Deaths charged to a record so far (none when it is final).
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func deaths(_ id: UUID) throws(LedgerError) -> Deaths {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in try Self.deaths(id, txn, dbs) }
    }

    /// The records that must run alone (suspects), oldest first; at most `limit`.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func suspects(limit: Int) throws(LedgerError) -> [UUID] {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in
            var found: [(Date, UUID)] = []
            let ids = try Self.entries(MetaKey.suspectPrefix, txn, dbs) { id, _ throws(LedgerError) in id }
            for id in ids {
                guard let value = try txn.get(dbs.records, id.bytes) else { continue }
                found.append((try RecordCodec.decode(value).createdAt, id))
            }
            return found.sorted { $0.0 < $1.0 }.prefix(limit).map(\.1)
        }
    }

    /// Frees the reader slots of client processes that died inside a read transaction (a client
    /// killed mid-read keeps its slot otherwise, until the daemon restarts); returns how many.
    /// - Throws: `LedgerError` when LMDB cannot check its reader table.
    public func clearStaleReaders() throws(LedgerError) -> Int {
        try environment.clearStaleReaders()
    }

    // MARK: - Inside transactions

    static func deaths(_ id: UUID, _ txn: Transaction, _ dbs: Databases) throws(LedgerError) -> Deaths {
        guard let value = try txn.get(dbs.meta, MetaKey.deathsPrefix + id.bytes) else { return Deaths() }
        var reader = ByteReader(value, what: "deaths")
        let crashes = try reader.u32()
        let kills = try reader.u32()
        try reader.expectEnd()
        return Deaths(crashes: Int(crashes), kills: Int(kills))
    }

    /// Leaves the marker of an attempt by run `incarnation`.
    static func markAttempt(_ id: UUID, incarnation: UInt64, solo: Bool, _ txn: Transaction, _ dbs: Databases)
        throws(LedgerError)
    {
        var writer = ByteWriter()
        writer.u64(incarnation)
        writer.u8(solo ? 1 : 0)
        try txn.put(dbs.meta, MetaKey.attemptPrefix + id.bytes, writer.bytes)
    }

    /// Removes what crash attribution and intake keep about a record that became final.
    static func forgetAttempts(_ id: UUID, _ txn: Transaction, _ dbs: Databases) throws(LedgerError) {
        for prefix in [MetaKey.attemptPrefix, MetaKey.suspectPrefix, MetaKey.deathsPrefix] {
            try txn.delete(dbs.meta, prefix + id.bytes)
        }
    }

    /// The `meta` entries whose key is `prefix` + 16 UUID bytes, each value decoded by `decode`.
    static func entries<T>(
        _ prefix: [UInt8], _ txn: Transaction, _ dbs: Databases,
        decode: (UUID, UnsafeRawBufferPointer) throws(LedgerError) -> T
    ) throws(LedgerError) -> [T] {
        try txn.withCursor(dbs.meta) { cursor throws(LedgerError) in
            var found: [T] = []
            var entry = try cursor.seek(atOrAfter: prefix)
            while let (key, value) = entry, key.count == prefix.count + 16, key.starts(with: prefix) {
                guard let id = UUID(bytes: UnsafeRawBufferPointer(rebasing: key[prefix.count...])) else { break }
                found.append(try decode(id, value))
                entry = try cursor.next()
            }
            return found
        }
    }

    // MARK: - Intake names

    /// Commits the intents of a batch (one write transaction) before its files are renamed into the
    /// store, so that a file renamed just before a crash is recorded under its own name, except
    /// those whose id is in `ids` and names a record: not recorded, and returned. The lookup is in
    /// the write transaction. `insertCreated` removes a record's intent in the transaction that
    /// creates it.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    public func recordIntents(_ intents: [IntakeIntent], refusingRecorded ids: Set<UUID>) throws(LedgerError)
        -> Set<UUID>
    {
        guard !intents.isEmpty else { return [] }
        let dbs = self.dbs
        return try write { txn throws(LedgerError) -> Set<UUID> in
            var refused: Set<UUID> = []
            for intent in intents {
                if ids.contains(intent.id), try txn.get(dbs.records, intent.id.bytes) != nil {
                    refused.insert(intent.id)
                    continue
                }
                var writer = ByteWriter()
                writer.string(intent.name)
                writer.i64(intent.bytes)
                writer.f64(intent.takenAt.timeIntervalSinceReferenceDate)
                try txn.put(dbs.meta, MetaKey.intentPrefix + intent.id.bytes, writer.bytes)
            }
            return refused
        }
    }

    /// Every intent left (files whose record was not committed), by id.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func intents() throws(LedgerError) -> [UUID: IntakeIntent] {
        let dbs = self.dbs
        return try environment.read { txn throws(LedgerError) in
            var found: [UUID: IntakeIntent] = [:]
            let intents = try Self.entries(MetaKey.intentPrefix, txn, dbs) { id, value throws(LedgerError) in
                var reader = ByteReader(value, what: "intent")
                let name = try reader.string()
                let bytes = try reader.i64()
                let takenAt = Date(timeIntervalSinceReferenceDate: try reader.f64())
                try reader.expectEnd()
                return IntakeIntent(id: id, name: name, bytes: bytes, takenAt: takenAt)
            }
            for intent in intents { found[intent.id] = intent }
            return found
        }
    }

    /// Removes the intents of `ids` (their files never reached the store, or got records).
    /// - Throws: `LedgerError` when the ledger cannot be written.
    public func dropIntents(_ ids: [UUID]) throws(LedgerError) {
        guard !ids.isEmpty else { return }
        let dbs = self.dbs
        try write { txn throws(LedgerError) in
            for id in ids { try txn.delete(dbs.meta, MetaKey.intentPrefix + id.bytes) }
        }
    }
}
