import FaceCore
import FaceLedger
import Foundation
import Logging

/// Takes ready inbox entries into the store and the ledger, a batch at a time: steps (1) and (2) of
/// the crash-safety order.
///
/// For each entry: choose its UUID (a name `<uuid>.<ext>` keeps its UUID unless the ledger or the
/// store has it), move it into `store/ab/<uuid>.<ext>` (`Store.adopt`: rename or cross-file-system
/// copy), read its size and SHA-256 from the store. Then every directory touched is `fsync`ed once and
/// ONE write transaction
/// commits the `created` records of the whole batch: a thousand small files cost one LMDB commit, not
/// a thousand. Entries that are not regular files (symlinks, fifos, sockets, devices) are moved into
/// the store themselves, never opened, and their records are failed `not_a_regular_file` at once.
public struct Ingestor: Sendable {
    /// One inbox entry ready to be taken.
    public struct Candidate: Sendable, Equatable {
        /// Its path now.
        public var path: String
        /// Its name relative to the inbox (`party/photo.jpg`): the record's source name.
        public var name: String
        /// Its size when the inbox reported it (`InboxEntry.size`), kept in its intake intent.
        public var size: Int64

        public init(path: String, name: String, size: Int64 = 0) {
            self.path = path
            self.name = name
            self.size = size
        }
    }

    /// What happened to a batch.
    public struct Outcome: Sendable {
        /// Records committed as `created` (to be encoded).
        public var created: [LedgerRecord] = []
        /// Records committed as final right away (`not_a_regular_file`).
        public var failed: [LedgerRecord] = []
        /// Entries left in the inbox because they could not be moved (logged).
        public var skipped = 0
    }

    let ledger: Ledger
    let store: Store
    let location: StoreLocation
    let logger: Logger

    public init(ledger: Ledger, store: Store, location: StoreLocation, logger: Logger) {
        self.ledger = ledger
        self.store = store
        self.location = location
        self.logger = logger
    }

    /// Moves and records a batch. Blocking (file system and LMDB): call it off the cooperative pool.
    /// Throws only when the batch's records cannot be committed; its files are then orphans in the
    /// store, which the next start records.
    public func ingest(_ batch: [Candidate], now: Date = Date()) throws(LedgerError) -> Outcome {
        var outcome = Outcome()
        // Names first: the intent of each file (its UUID, inbox name, size and time) is committed
        // before it is renamed, so that a crash between the rename and the `created` commit still
        // leaves its name (Reconciler.recordOrphans reads it).
        var taken = Set<UUID>()
        var planned: [(Candidate, UUID)] = []
        for candidate in batch {
            let id = chooseID(for: candidate, avoiding: &taken)
            planned.append((candidate, id))
        }
        guard !planned.isEmpty else { return outcome }
        try ledger.recordIntents(
            planned.map { candidate, id in
                Ledger.Intent(
                    id: id, name: candidate.name, bytes: candidate.size, takenAt: now)
            })
        var adopted: [(Candidate, StoredFile)] = []
        var abandoned: [UUID] = []
        for (candidate, id) in planned {
            guard let stored = adopt(candidate, as: id, now: now) else {
                outcome.skipped += 1
                abandoned.append(id)
                continue
            }
            if stored.id != id { abandoned.append(id) }
            adopted.append((candidate, stored))
        }
        do {
            try ledger.dropIntents(abandoned)
        } catch {
            logger.warning("cannot drop \(abandoned.count) intents (dropped at the next start): \(error)")
        }
        guard !adopted.isEmpty else { return outcome }
        // Step (1) made durable for the whole batch at once: each directory that gained or lost an
        // entry is fsynced once, before any record is committed.
        var directories = Set<String>()
        for (candidate, stored) in adopted {
            directories.insert(DurableFile.parentDirectory(of: stored.path))
            directories.insert(DurableFile.parentDirectory(of: candidate.path))
        }
        var unsynced = Set<String>()
        for directory in directories.sorted() {
            do {
                try DurableFile.syncDirectory(directory)
            } catch {
                logger.error("cannot sync \(LogField.pair("directory", directory)): \(error)")
                unsynced.insert(directory)
            }
        }
        if !unsynced.isEmpty {
            // Not durable: commit no record whose file might not be where the record says after a
            // crash. Those files are orphans in the store; the next start records them.
            adopted.removeAll {
                unsynced.contains(DurableFile.parentDirectory(of: $0.1.path))
                    || unsynced.contains(DurableFile.parentDirectory(of: $0.0.path))
            }
            guard !adopted.isEmpty else { return outcome }
        }

        var records: [LedgerRecord] = []
        records.reserveCapacity(adopted.count)
        for (candidate, stored) in adopted {
            let digest = stored.digest(logger: logger)
            records.append(
                LedgerRecord(
                    id: stored.id, source: SourceInfo(name: candidate.name, bytes: digest.bytes, sha256: digest.sha256),
                    storePath: location.recordedPath(for: stored.path), createdAt: now, image: digest.image))
        }
        do {
            try ledger.insertCreated(records)
        } catch {
            // One bad record must not orphan its whole batch: commit them one by one. A record that
            // still cannot be committed leaves its file in the store, recorded at the next start.
            logger.error("batch commit failed, committing one by one: \(error)")
            var committed: [(Candidate, StoredFile)] = []
            var kept: [LedgerRecord] = []
            for (pair, record) in zip(adopted, records) {
                do {
                    try ledger.insertCreated(record)
                    committed.append(pair)
                    kept.append(record)
                } catch {
                    logger.error(
                        "cannot record \(LogField.pair("id", record.id.lowercased)) \(LogField.pair("name", record.source.name)): \(error)"
                    )
                }
            }
            if kept.isEmpty { throw error }
            adopted = committed
            records = kept
        }

        for ((_, stored), record) in zip(adopted, records) {
            if stored.kind == .regular {
                logger.info(
                    "ingested \(LogField.pair("id", record.id.lowercased)) \(LogField.pair("name", record.source.name)) \(LogField.pair("bytes", String(record.source.bytes)))"
                )
                outcome.created.append(record)
                continue
            }
            let failure = Failure(
                .notARegularFile, "\(record.source.name) is \(Self.describe(stored.kind)), not a regular file")
            do {
                outcome.failed.append(try ledger.fail(record.id, failure, completedAt: now, duration: 0))
            } catch {
                // Still `created`: the pipeline will fail it (the engine refuses non-regular files).
                logger.error("cannot record failure \(LogField.pair("id", record.id.lowercased)): \(error)")
                outcome.created.append(record)
            }
        }
        return outcome
    }

    /// The UUID a candidate gets: the one its name asks for (`<uuid>.<ext>`) if neither the ledger nor
    /// the store nor this batch has it, else a fresh one.
    private func chooseID(for candidate: Candidate, avoiding taken: inout Set<UUID>) -> UUID {
        var id = UUID()
        if let requested = Store.requestedID(fromName: candidate.name), !taken.contains(requested),
            (try? ledger.contains(requested)) == false, store.find(requested) == nil
        {
            id = requested
        }
        taken.insert(id)
        return id
    }

    /// Moves one entry into the store as `id` (or, if a file with that UUID appeared meanwhile, a
    /// fresh UUID whose intent is committed first). Nil when the entry vanished or cannot be moved
    /// (logged; it stays in the inbox).
    private func adopt(_ candidate: Candidate, as chosen: UUID, now: Date) -> StoredFile? {
        var id = chosen
        let ext = Store.fileExtension(forContentAt: candidate.path, originalName: candidate.name)
        for _ in 0..<3 {
            do {
                return try store.adopt(candidate.path, as: id, ext: ext, syncDirectories: false)
            } catch  where error.code == EEXIST {
                id = UUID()
                let intent = Ledger.Intent(
                    id: id, name: candidate.name, bytes: candidate.size, takenAt: now)
                do {
                    try ledger.recordIntents([intent])
                } catch {
                    logger.error("cannot record the intake of \(LogField.pair("name", candidate.name)): \(error)")
                    return nil
                }
            } catch  where error.code == ENOENT {
                logger.debug("gone before it was taken \(LogField.pair("name", candidate.name))")
                return nil
            } catch {
                logger.error("cannot move into the store \(LogField.pair("name", candidate.name)): \(error)")
                return nil
            }
        }
        return nil
    }

    /// "a symlink", "a fifo"…: what a non-regular entry is, for failure messages.
    static func describe(_ kind: FileKind) -> String {
        switch kind {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symlink: "a symbolic link"
        case .fifo: "a fifo"
        case .socket: "a socket"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .unknown: "an unknown kind of file"
        }
    }
}
