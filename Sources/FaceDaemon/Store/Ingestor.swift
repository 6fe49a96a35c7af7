import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging

/// Takes ready inbox entries into the store and the ledger, a batch at a time: steps (1) and (2) of
/// the crash-safety order.
///
/// For each entry: choose its UUID (a name `<uuid>.<ext>` keeps its UUID unless the ledger or the
/// store has it), reach it from the inbox's directory descriptor without following any symlink
/// (`DirectoryHandle`), open it and `fstat` it (`IntakeEntry`), and move it into
/// `store/ab/<uuid>.<ext>` (`Store.adopt`: `renameat2` between directory descriptors, or a copy for
/// a hard-linked file or across file systems). Then every directory touched is `fsync`ed once and
/// ONE write transaction commits the `created` records of the whole batch: a thousand small files
/// cost one LMDB commit, not a thousand.
///
/// The record is made from the `fstat` and the first bytes only (size, image header): the SHA-256
/// is that of the bytes the encoder reads, recorded with the result (`Pipeline`). A file larger
/// than `maxBytes` is never read: its record is failed `too_large` at once. Entries that are not
/// regular files (symlinks, fifos, sockets, devices) are moved into the store themselves, never
/// opened, and failed `not_a_regular_file` at once. An entry the daemon may not take (`EACCES`,
/// `EPERM`, `EROFS`…) stays in the inbox, is logged once and listed in ``refusals``.
public struct Ingestor: Sendable {
    /// One inbox entry ready to be taken.
    public struct Candidate: Sendable, Equatable {
        /// Its path now.
        public var path: String
        /// Its name relative to the inbox (`party/photo.jpg`): the record's source name.
        public var name: String
        /// Its size when the inbox reported it (`InboxEntry.size`), kept in its intake intent.
        public var size: Int64
        /// How the inbox saw it become ready (`InboxEntry.arrival`): whether an open writer means
        /// "still being written".
        public var arrival: InboxEntry.Arrival

        /// A candidate at `path`, recorded as `name` (resolved from the ingestor's inbox directory,
        /// when it has one, else from `path`).
        public init(path: String, name: String, size: Int64 = 0, arrival: InboxEntry.Arrival = .closed) {
            self.path = path
            self.name = name
            self.size = size
            self.arrival = arrival
        }
    }

    /// What happened to a batch.
    public struct Outcome: Sendable {
        /// Records committed as `created` (to be encoded).
        public var created: [LedgerRecord] = []
        /// Records committed as final right away (`not_a_regular_file`, `too_large`).
        public var failed: [LedgerRecord] = []
        /// Entries left in the inbox because they could not be moved (logged).
        public var skipped = 0
        /// Of `created`, the ids handed to `offer` before their commit.
        public var offered: Set<UUID> = []
    }

    let ledger: any Ledger
    let store: Store
    let location: StoreLocation
    let logger: Logger
    /// The inbox directory, open; nil: candidates are found by their paths (tests of the store).
    let inbox: InboxDirectory?
    /// Entries left in the inbox because the daemon may not take them.
    public let refusals: IntakeRefusals
    /// Stored files whose records could not be committed, committed again by `recordPending`.
    public let unrecorded = UnrecordedFiles()

    /// - Parameter inbox: the inbox directory; every candidate's `name` is resolved beneath it. Nil:
    ///   each candidate's directory is opened by its `path` (tests of the store and the ledger).
    public init(
        ledger: any Ledger, store: Store, location: StoreLocation, logger: Logger, inbox: InboxDirectory? = nil,
        refusals: IntakeRefusals = IntakeRefusals()
    ) {
        self.ledger = ledger
        self.store = store
        self.location = location
        self.logger = logger
        self.inbox = inbox
        self.refusals = refusals
    }

    /// Moves and records a batch. Blocking (file system and LMDB): call it off the cooperative pool.
    /// Throws only when the batch's records cannot be committed; its files are then orphans in the
    /// store, which the next start records.
    /// `maxBytes`: files larger than this are failed `too_large` from their `fstat`, never read.
    /// `writerQuiet`: where open writers cannot be seen, how long a file no close was seen for must
    /// have been unchanged before it is taken (`IntakeEntry`).
    /// `offer`: given the records to be encoded just before their commit (their files are in the
    /// store, durably), it hands them to the pipeline and returns the commit they wait for, which
    /// this call settles whatever happens.
    public func ingest(
        _ batch: [Candidate], now: Date = Date(), maxBytes: Int = Int.max, writerQuiet: Duration = .zero,
        offer: (([LedgerRecord]) -> IntakeCommit)? = nil
    ) throws(LedgerError) -> Outcome {
        defer { publishRefusals() }
        var outcome = Outcome()
        // Names first: the intent of each file (its UUID, inbox name, size and time) is committed
        // before it is renamed, so that a crash between the rename and the `created` commit still
        // leaves its name (Reconciler.recordOrphans reads it).
        var taken = Set<UUID>()
        var requested = Set<UUID>()
        var planned: [(Candidate, UUID)] = []
        for candidate in batch {
            let (id, isRequested) = chooseID(for: candidate, avoiding: &taken)
            if isRequested { requested.insert(id) }
            planned.append((candidate, id))
        }
        guard !planned.isEmpty else { return outcome }
        let intent = { (candidate: Candidate, id: UUID) in
            IntakeIntent(id: id, name: candidate.name, bytes: candidate.size, takenAt: now)
        }
        // An id a file's name asks for is refused in the same commit when a record has it already:
        // that file gets a random id, and its intent a second commit.
        let refused = try ledger.recordIntents(planned.map(intent), refusingRecorded: requested)
        if !refused.isEmpty {
            var replaced: [(Candidate, UUID)] = []
            for index in planned.indices where refused.contains(planned[index].1) {
                planned[index].1 = UUID()
                replaced.append(planned[index])
            }
            try ledger.recordIntents(replaced.map(intent))
        }
        var adopted: [(Candidate, Taken)] = []
        var abandoned: [UUID] = []
        var directories = DirectoryCache(byPath: inbox == nil, inbox: inbox?.current(logger: logger))
        if let top = directories.inbox {
            // A refused entry a member removed meanwhile leaves the list `status` shows.
            refusals.prune { name in
                let (folder, base) = DirectoryHandle.split(name)
                guard let directory = try? top.openDirectory(beneath: folder) else { return true }
                return (try? directory.status(of: base)) == nil
            }
        }
        for (candidate, id) in planned {
            guard
                let taken = adopt(
                    candidate, as: id, now: now, maxBytes: maxBytes, writerQuiet: writerQuiet,
                    directories: &directories)
            else {
                outcome.skipped += 1
                abandoned.append(id)
                continue
            }
            if taken.stored.id != id { abandoned.append(id) }
            adopted.append((candidate, taken))
        }
        do {
            try ledger.dropIntents(abandoned)
        } catch {
            logger.warning("cannot drop \(abandoned.count) intents (dropped at the next start): \(error)")
        }
        guard !adopted.isEmpty else { return outcome }
        // Step (1) made durable for the whole batch at once: each directory that gained or lost an
        // entry is fsynced once, before any record is committed.
        var synced: [ObjectIdentifier: Bool] = [:]
        for (_, taken) in adopted {
            for directory in [taken.shard, taken.source] where synced[ObjectIdentifier(directory)] == nil {
                do {
                    try directory.sync()
                    synced[ObjectIdentifier(directory)] = true
                } catch {
                    logger.error("cannot sync: \(error)", metadata: ["directory": "\(directory.path)"])
                    synced[ObjectIdentifier(directory)] = false
                }
            }
        }
        // Not durable: commit no record whose file might not be where the record says after a
        // crash. Those files are orphans in the store; the next start records them.
        adopted.removeAll {
            synced[ObjectIdentifier($0.1.shard)] != true || synced[ObjectIdentifier($0.1.source)] != true
        }
        guard !adopted.isEmpty else { return outcome }

        var records: [LedgerRecord] = []
        records.reserveCapacity(adopted.count)
        for (candidate, taken) in adopted {
            records.append(
                LedgerRecord(
                    id: taken.stored.id,
                    source: SourceInfo(name: candidate.name, bytes: taken.size, sha256: SourceInfo.unknownSHA256),
                    storePath: location.recordedPath(for: taken.stored.path), createdAt: now, image: taken.image))
        }
        TestHooks.pauseBeforeRecordIfAsked(names: records.map(\.source.name))
        // The files to encode go to the pipeline now: a worker reads one while its record's commit
        // is on its way (`IntakeCommit`), and asks nothing of the ledger before that commit ends.
        var commit: IntakeCommit?
        // Settled with nothing committed when the commit throws (settled and cleared below when not).
        defer { commit?.settle(committed: []) }
        if let offer {
            let encodable = zip(adopted, records).filter { $0.0.1.stored.kind == .regular && !$0.0.1.isTooLarge }
                .map(\.1)
            if !encodable.isEmpty {
                commit = offer(encodable)
                outcome.offered = Set(encodable.map(\.id))
            }
        }
        do {
            try ledger.insertCreated(records)
        } catch {
            // One bad record must not orphan its whole batch: commit them one by one. A record that
            // still cannot be committed leaves its file in the store, recorded at the next start.
            logger.error("batch commit failed, committing one by one: \(error)")
            var committed: [(Candidate, Taken)] = []
            var kept: [LedgerRecord] = []
            for (pair, record) in zip(adopted, records) {
                do {
                    try ledger.insertCreated(record)
                    committed.append(pair)
                    kept.append(record)
                } catch {
                    logger.error(
                        "cannot record: \(error)",
                        metadata: ["id": "\(record.id.lowercased)", "name": "\(record.source.name)"]
                    )
                    // Its file is in the store: committed again once the ledger takes it.
                    if error.code != .alreadyExists { unrecorded.add([record]) }
                }
            }
            if kept.isEmpty { throw error }
            adopted = committed
            records = kept
        }
        commit?.settle(committed: Set(records.map(\.id)))
        commit = nil

        for ((_, taken), record) in zip(adopted, records) {
            let failure: Failure
            if taken.stored.kind != .regular {
                failure = Failure(
                    .notARegularFile, "\(record.source.name) is \(Self.describe(taken.stored.kind)), not a regular file"
                )
            } else if taken.isTooLarge {
                failure = Failure(
                    .tooLarge,
                    "\(record.source.name) has \(record.source.bytes) bytes, more than the limit of \(maxBytes); it was not read"
                )
            } else {
                logger.info(
                    "ingested",
                    metadata: [
                        "id": "\(record.id.lowercased)", "name": "\(record.source.name)",
                        "bytes": "\(record.source.bytes)",
                    ]
                )
                outcome.created.append(record)
                continue
            }
            do {
                outcome.failed.append(try ledger.fail(record.id, failure, completedAt: now, duration: 0))
            } catch {
                // Still `created`: the pipeline will fail it (the engine refuses non-regular files).
                logger.error("cannot record failure: \(error)", metadata: ["id": "\(record.id.lowercased)"])
                outcome.created.append(record)
            }
        }
        return outcome
    }

    /// The UUID a candidate gets: the one its name asks for (`<uuid>.<ext>`) if neither the store nor
    /// this batch has it, else a fresh one. The ledger refuses it when the intents are committed if a
    /// record has it (`recordIntents(_:refusingRecorded:)`), and the file then gets a fresh one.
    /// `isRequested`: the id is the one the name asked for.
    private func chooseID(for candidate: Candidate, avoiding taken: inout Set<UUID>) -> (UUID, isRequested: Bool) {
        var chosen = (UUID(), isRequested: false)
        if let requested = Store.requestedID(fromName: candidate.name), !taken.contains(requested),
            store.find(requested) == nil
        {
            chosen = (requested, true)
        }
        taken.insert(chosen.0)
        return chosen
    }

    /// A candidate moved into the store, with the directories its move changed.
    struct Taken {
        var stored: StoredFile
        var source: DirectoryHandle
        var shard: DirectoryHandle
        var size: Int64
        var image: ImageInfo?
        var isTooLarge: Bool
    }

    /// The directories of one batch, each opened once from the inbox's descriptor.
    struct DirectoryCache {
        /// Candidates are found by their paths (no inbox directory given).
        let byPath: Bool
        /// The inbox (nil when it could not be opened: nothing is taken).
        let inbox: DirectoryHandle?
        var open: [String: DirectoryHandle] = [:]

        /// The directory holding `candidate` and the candidate's name in it.
        mutating func locate(_ candidate: Candidate) throws(FileSystemError) -> (DirectoryHandle, String) {
            if byPath {
                let path = DurableFile.parentDirectory(of: candidate.path)
                if let known = open[path] { return (known, DurableFile.baseName(of: candidate.path)) }
                let opened = try DirectoryHandle.open(path)
                open[path] = opened
                return (opened, DurableFile.baseName(of: candidate.path))
            }
            guard let inbox else { throw FileSystemError(operation: "open", path: candidate.name, code: ENOENT) }
            let (directory, name) = DirectoryHandle.split(candidate.name)
            if let known = open[directory] { return (known, name) }
            let opened = try inbox.openDirectory(beneath: directory)
            open[directory] = opened
            return (opened, name)
        }
    }

    /// Moves one entry into the store as `id` (or, if a file with that UUID appeared meanwhile, a
    /// fresh UUID whose intent is committed first). Nil when the entry vanished or cannot be moved
    /// (logged once; it stays in the inbox).
    private func adopt(
        _ candidate: Candidate, as chosen: UUID, now: Date, maxBytes: Int, writerQuiet: Duration,
        directories: inout DirectoryCache
    ) -> Taken? {
        var id = chosen
        let entry: IntakeEntry
        do throws(FileSystemError) {
            let (directory, name) = try directories.locate(candidate)
            entry = try IntakeEntry(
                name: name, in: directory, maxBytes: maxBytes, arrival: candidate.arrival, writerQuiet: writerQuiet)
        } catch {
            refuse(candidate, error)
            return nil
        }
        let ext = Store.fileExtension(magic: Array(entry.prefix.prefix(8)), originalName: candidate.name)
        for _ in 0..<3 {
            do throws(FileSystemError) {
                let (stored, shard) = try store.adopt(entry, as: id, ext: ext)
                if refusals.clear(candidate.name) {
                    logger.notice("taken after all", metadata: ["name": "\(candidate.name)"])
                }
                return Taken(
                    stored: stored, source: entry.directory, shard: shard, size: entry.status.size, image: entry.image,
                    isTooLarge: entry.isTooLarge)
            } catch  where error.code == EEXIST {
                id = UUID()
                let intent = IntakeIntent(
                    id: id, name: candidate.name, bytes: candidate.size, takenAt: now)
                do {
                    try ledger.recordIntents([intent])
                } catch {
                    logger.error("cannot record the intake of: \(error)", metadata: ["name": "\(candidate.name)"])
                    return nil
                }
            } catch {
                refuse(candidate, error)
                return nil
            }
        }
        return nil
    }

    /// Publishes the refused entries for `facewatch status` when they changed.
    private func publishRefusals() {
        guard let changed = refusals.takeChanges() else { return }
        do {
            try ledger.publishRefusals(changed)
        } catch {
            logger.warning("cannot publish the entries left in the inbox: \(error)")
        }
    }

    /// Logs, once per name and reason, an entry left in the inbox, and lists it in ``refusals``.
    private func refuse(_ candidate: Candidate, _ error: FileSystemError) {
        switch error.code {
        case EBUSY:
            // Still being written: its writer's close (IN_CLOSE_WRITE) or, where no close can be
            // seen, a later rescan reports it again. A refusal it had stays listed.
            logger.debug("not taken yet: \(error)", metadata: ["name": "\(candidate.name)"])
        case ENOENT, ESTALE, EISDIR, ELOOP, ENOTDIR:
            // Not there any more as it was reported (a directory on its path became a symlink or a
            // file, say): nothing to take; the inbox reports whatever is there now.
            refusals.clear(candidate.name)
            logger.debug("gone or changed before it was taken: \(error)", metadata: ["name": "\(candidate.name)"])
        default:
            if refusals.refuse(candidate.name, error) {
                logger.error(
                    "cannot take from the inbox, left there and tried again at the next rescan: \(error)",
                    metadata: ["name": "\(candidate.name)"]
                )
            }
        }
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
