import FaceCore
import FaceLedger
import FaceRoot
import Foundation

/// Copies one ledger into another (`facewatch ledger export` and `import`): every record as it is,
/// the known people and the stored labels; then checks the copy against the source.
///
/// What is copied: each record in its state (a `created` one with its attempt count, back in the
/// queue), through `Ledger.importRecords`, in batches of `batchSize` (one transaction each); the known
/// pictures and the tolerance; each result's labels, in the source's face-log order so that the
/// destination's face log is the same; the tombstones of forgotten images (`Ledger.importTombstones`),
/// so that a forgotten image stays forgotten (`facewatch result` says so) and its files, if still
/// pending, are removed where the copy is served. What is not: the daemon's live state (runs, attempt markers,
/// suspects, deaths charged, intake intents, refused inbox files, published figures), which belongs
/// to a running daemon; every daemon of the root must be stopped while a ledger is moved.
///
/// A copy cannot half-succeed: the destination is marked as an unfinished copy of the source
/// (`Ledger.markUnfinishedCopy`) before its first record and the mark is cleared only once the
/// check passes, so a copy cut short (killed, a lost connection, a difference found) leaves a
/// ledger no daemon starts on. Running the same copy again resumes it: records already copied are
/// left as they are, the rest are copied, the people and labels are written again (idempotent), and
/// the whole is checked.
///
/// The check compares the counts by status, the faces, the encoding sums (their float64 sums may
/// differ in the last bits, since the destination adds the same encodings in another order: at most
/// `sumTolerance` relative) and every record field by field, and the people and labels.
public enum LedgerTransfer {
    /// Records per transaction of the destination.
    public static let batchSize = 1000
    /// Largest relative difference allowed between the two encoding sums.
    public static let sumTolerance = 1e-9

    /// What was copied and checked.
    public struct Report: Sendable, Equatable {
        /// Records copied.
        public var records = 0
        /// Of which were still `created` (queued).
        public var queued = 0
        /// Known pictures copied.
        public var knownPictures = 0
        /// Results whose labels were copied.
        public var labels = 0
        /// Tombstones (forgotten images) copied.
        public var tombstones = 0
        /// Largest relative difference between the source's and the copy's encoding sums.
        public var sumDifference = 0.0

        public init() {}
    }

    /// Copies `source` into `destination`, which must hold no record (or be an unfinished copy of
    /// `source`: the copy is resumed), then checks the copy (`verify`) and clears the destination's
    /// unfinished mark. `progress` is called after each committed batch with the records copied so far.
    ///
    /// - Throws: `ClientError` when the destination is not empty (nor an unfinished copy of
    ///   `source`), when either ledger fails, or when the check finds a difference (naming the
    ///   first one); the destination then stays marked unfinished.
    @discardableResult
    public static func copy(
        from source: any Ledger, to destination: any Ledger, progress: (Int) -> Void = { _ in }
    ) throws(ClientError) -> Report {
        var report = Report()
        do {
            let unfinished = try destination.unfinishedCopy()
            if let unfinished, unfinished != source.location {
                throw ClientError(
                    "\(destination.location) is an unfinished copy of \(unfinished), not of \(source.location): finish that copy, or empty it"
                )
            }
            let resuming = unfinished != nil
            guard try resuming || destination.stats().total == 0 else {
                throw ClientError(
                    "\(destination.location) already holds records: a ledger is copied only into an empty one")
            }
            if !resuming { try destination.markUnfinishedCopy(of: source.location) }
            let records = CopyTestHooks.batchSize(batchSize)
            var batch: [LedgerRecord] = []
            batch.reserveCapacity(records)
            func flush() throws {
                guard !batch.isEmpty else { return }
                // Resumed: the records an interrupted run committed are there already.
                let fresh = try resuming ? batch.filter { try !destination.contains($0.id) } : batch
                if !fresh.isEmpty { try destination.importRecords(fresh) }
                report.records += batch.count
                batch.removeAll(keepingCapacity: true)
                progress(report.records)
                CopyTestHooks.killIfAsked(committed: report.records)
            }
            try source.forEachRecord { record in
                if record.status == .created { report.queued += 1 }
                batch.append(record)
                if batch.count == records { try flush() }
            }
            try flush()
            report.tombstones = try copyTombstones(from: source, to: destination)
            report.knownPictures = try copyPeople(from: source, to: destination)
            report.labels = try copyLabels(from: source, to: destination)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError("cannot copy \(source.location) to \(destination.location): \(error)")
        }
        report.sumDifference = try verify(source, destination)
        do {
            try destination.markUnfinishedCopy(of: nil)
        } catch {
            throw ClientError("cannot mark \(destination.location) as a finished copy: \(error)")
        }
        return report
    }

    /// Checks that `copy` holds what `source` holds: counts, faces, the encoding sums (within
    /// `sumTolerance`), every record, the known pictures, the tolerance and every result's labels.
    /// Returns the largest relative difference of the sums.
    ///
    /// - Throws: `ClientError` naming the first difference, or when a ledger cannot be read.
    public static func verify(_ source: any Ledger, _ copy: any Ledger) throws(ClientError) -> Double {
        do {
            let a = try source.stats()
            let b = try copy.stats()
            guard a.counts == b.counts, a.total == b.total, a.faces == b.faces, a.encodedFaces == b.encodedFaces else {
                throw ClientError(
                    "the copy's counts differ: \(describe(a)) in \(source.location), \(describe(b)) in \(copy.location)"
                )
            }
            let difference = relativeDifference(a.encodingSum, b.encodingSum)
            guard difference <= sumTolerance else {
                throw ClientError(
                    "the copy's encoding sum differs by \(difference) (relative), more than \(sumTolerance)")
            }
            let sourceState = try source.peopleState()
            try source.forEachRecord { record in
                guard let copied = try copy.record(record.id) else {
                    throw ClientError("record \(record.id.lowercased) is missing from the copy")
                }
                guard copied == record else {
                    throw ClientError("record \(record.id.lowercased) differs in the copy")
                }
            }
            var after: UUID?
            while true {
                let tombstones = try source.tombstones(after: after, limit: batchSize)
                guard let last = tombstones.last else { break }
                for tombstone in tombstones where try copy.tombstone(tombstone.id) != tombstone {
                    throw ClientError("the tombstone of \(tombstone.id.lowercased) differs or is missing in the copy")
                }
                after = last.id
            }
            try source.forEachID { id in
                guard try source.labels(id)?.faces == copy.labels(id)?.faces else {
                    throw ClientError("the labels of \(id.lowercased) differ in the copy")
                }
            }
            guard try source.knownPictures() == copy.knownPictures(),
                try copy.peopleState().tolerance == sourceState.tolerance
            else {
                throw ClientError("the copy's known people differ")
            }
            return difference
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError("cannot compare \(source.location) with \(copy.location): \(error)")
        }
    }

    /// Copies every tombstone, `batchSize` per transaction; returns how many.
    private static func copyTombstones(from source: any Ledger, to destination: any Ledger) throws -> Int {
        var copied = 0
        var after: UUID?
        while true {
            let tombstones = try source.tombstones(after: after, limit: batchSize)
            guard let last = tombstones.last else { return copied }
            try destination.importTombstones(tombstones)
            copied += tombstones.count
            after = last.id
        }
    }

    /// Copies the known pictures and the tolerance; returns how many pictures.
    private static func copyPeople(from source: any Ledger, to destination: any Ledger) throws -> Int {
        let pictures = try source.knownPictures()
        let state = try source.peopleState()
        guard !pictures.isEmpty || state.generation > 0 else { return 0 }
        _ = try destination.updateKnownPictures(upserting: pictures, removing: [], tolerance: state.tolerance)
        return pictures.count
    }

    /// Copies every result's labels, face-log entries first and in the face log's order. Labels of
    /// the source's current generation become the destination's current generation; older ones stay
    /// older, so the daemon relabels those results as it would have at the source. The destination's
    /// relabel is marked finished when the source's was.
    private static func copyLabels(from source: any Ledger, to destination: any Ledger) throws -> Int {
        let sourceState = try source.peopleState()
        let generation = try destination.peopleState().generation
        func translated(_ labels: StoredLabels) -> StoredLabels {
            var labels = labels
            labels.generation = labels.generation == sourceState.generation ? generation : 0
            return labels
        }
        var copied = Set<UUID>()
        var entries: [(UUID, StoredLabels)] = []
        func flush(finished: Bool = false) throws {
            guard !entries.isEmpty || finished else { return }
            let progress =
                finished && !sourceState.isRelabelling && generation > 0
                ? RelabelProgress(generation: generation, cursor: nil, visited: copied.count, finished: true) : nil
            try destination.storeLabels(entries, progress: progress)
            entries.removeAll(keepingCapacity: true)
        }
        let logged = try source.faceLogCount()
        var position: UInt64 = 0
        while position < logged {
            let ids = try source.faceLog(from: position, limit: batchSize)
            guard !ids.isEmpty else { break }
            for id in ids where !copied.contains(id) {
                if let labels = try source.labels(id) {
                    entries.append((id, translated(labels)))
                    copied.insert(id)
                }
            }
            try flush()
            position += UInt64(ids.count)
        }
        try source.forEachID { id in
            guard !copied.contains(id), let labels = try source.labels(id) else { return }
            entries.append((id, translated(labels)))
            copied.insert(id)
            if entries.count == batchSize { try flush() }
        }
        try flush(finished: true)
        return copied.count
    }

    private static func describe(_ s: LedgerStats) -> String {
        let counts = ResultStatus.allCases.map { "\($0.rawValue) \(s.counts[$0] ?? 0)" }.joined(separator: ", ")
        return "\(counts), faces \(s.faces)"
    }

    private static func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        var worst = 0.0
        for (x, y) in zip(a, b) where x != y {
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-300))
        }
        return worst
    }
}

extension LedgerTransfer {
    /// `facewatch ledger export`: copies the ledger of `configuration`'s root (opened read-only) into
    /// the empty ledger at `destination` (see `LedgerOpener.open(location:)`), then checks the copy.
    ///
    /// - Throws: `ClientError` when a daemon holds the root, a ledger cannot be opened, the
    ///   destination is not empty, or the copy differs.
    public static func export(
        _ configuration: DaemonConfiguration, to destination: String, progress: (Int) -> Void = { _ in }
    ) throws(ClientError) -> Report {
        try requireNoDaemon(configuration)
        let source = try open(
            "the root's ledger",
            { () throws(LedgerError) in
                try LedgerOpener.open(configuration, readOnly: true)
            })
        let target = try open(
            LedgerOpener.shown(destination),
            { () throws(LedgerError) in
                try LedgerOpener.open(location: destination, mapSize: configuration.mapSize)
            })
        return try copy(from: source, to: target, progress: progress)
    }

    /// `facewatch ledger import`: copies the ledger at `source` (opened read-only) into the empty
    /// ledger of `configuration`'s root, then checks the copy.
    ///
    /// - Throws: `ClientError` when a daemon holds the root, a ledger cannot be opened, the root's
    ///   ledger is not empty, or the copy differs.
    public static func `import`(
        _ configuration: DaemonConfiguration, from source: String, progress: (Int) -> Void = { _ in }
    ) throws(ClientError) -> Report {
        try requireNoDaemon(configuration)
        let from = try open(
            LedgerOpener.shown(source),
            { () throws(LedgerError) in
                try LedgerOpener.open(location: source, readOnly: true)
            })
        let target = try open(
            "the root's ledger",
            { () throws(LedgerError) in
                try LedgerOpener.open(configuration)
            })
        return try copy(from: from, to: target, progress: progress)
    }

    private static func requireNoDaemon(_ configuration: DaemonConfiguration) throws(ClientError) {
        if let pid = RootLock.holder(root: configuration.root) {
            throw ClientError(
                "a daemon (pid \(pid)) holds \(configuration.root): stop it (and every daemon sharing its ledger) first"
            )
        }
    }

    private static func open(_ what: String, _ opening: () throws(LedgerError) -> any Ledger) throws(ClientError)
        -> any Ledger
    {
        do {
            return try opening()
        } catch {
            throw ClientError("cannot open \(what): \(error)")
        }
    }
}
