import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceMatch
import FaceRoot
import Foundation
import Logging
import ServiceLifecycle

/// Known people in the running daemon: keeps the ledger's known pictures in step with the known
/// folder, and relabels the results after each change.
///
/// - Sync: the folder is read (`KnownFolder.scan`) at start and after each burst of inotify events
///   (then quiet for `settle_ms`); new or changed pictures are encoded by the daemon's encoder pool
///   (first face only; one with no face is logged as a warning and kept with its problem, which
///   `status` shows), removed ones are dropped, and the change is one ledger transaction that starts
///   a new generation.
/// - Relabel: while results labelled with an older generation remain, batches of records (in id
///   order, after the durable cursor) get their matches computed again from the stored encodings
///   (nothing is encoded again); a document whose matches change is rewritten atomically (under the
///   labeller's lock of that id), and then the batch's labels and the cursor are committed together.
///   After a crash the relabel resumes after the last committed batch; a document rewritten in the
///   batch the crash interrupted is rewritten again, with the same content.
/// - Pause: while a root directory is away (`RootWatch`: the results directory may be an empty mount
///   point) the relabel writes no document and commits no batch; it waits, and goes on once the
///   directories are back. The markers are read again before each commit, so a batch whose documents
///   may have gone into a directory that went away meanwhile is not committed: it is done again.
struct PeopleService: Service {
    let ledger: any Ledger
    let labeller: ResultLabeller
    let results: ResultsWriter
    let watch: RootWatch
    /// The root, where `KnownEncodeCharges` are kept.
    let root: String
    let pipeline: Pipeline
    let known: String
    let tolerance: Double
    let limits: ImageLimits
    let settle: Duration
    let logger: Logger

    /// Records read per relabel batch (one read, one commit).
    static let batchSize = 256

    func run() async {
        let watcher: KnownFolderWatcher
        do {
            try DurableFile.createDirectories(known)
            watcher = try KnownFolderWatcher(directory: known)
        } catch {
            // The daemon runs on without known people (a service that returns would stop the group).
            logger.error("cannot watch the known folder \(LogField.quoted(known)), no known people: \(error)")
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            var changes = watcher.changes.makeAsyncIterator()
            while !Task.isCancelled {
                await sync()
                await relabel()
                guard await changes.next() != nil else { return }
                // Let a burst (a copy, several pictures) end before the folder is read again.
                try? await Task.sleep(for: settle)
            }
        }
        watcher.stop()
    }

    // MARK: - Sync

    /// Brings the ledger's known pictures in step with the folder.
    func sync() async {
        let entries = KnownFolder.scan(known)
        let stored: [String: KnownPicture]
        let state: PeopleState
        do {
            stored = Dictionary(uniqueKeysWithValues: try ledger.knownPictures().map { ($0.path, $0) })
            state = try ledger.peopleState(defaultTolerance: tolerance)
        } catch {
            logger.error("cannot read the known people from the ledger: \(error)")
            return
        }
        let present = Set(entries.map(\.path))
        let removals = stored.keys.filter { !present.contains($0) }.sorted()
        var upserts: [KnownPicture] = []
        for entry in entries {
            if let old = stored[entry.path], old.person == entry.person, old.size == entry.size,
                old.modified == entry.modified
            {
                continue
            }
            if Task.isCancelled { return }
            upserts.append(await encode(entry))
        }
        guard !upserts.isEmpty || !removals.isEmpty || state.tolerance != tolerance else { return }
        do {
            let new = try ledger.updateKnownPictures(upserting: upserts, removing: removals, tolerance: tolerance)
            for path in removals {
                logger.info("known picture removed", metadata: ["path": "\(path)"])
            }
            logger.info(
                "known people changed",
                metadata: [
                    "generation": "\(new.generation)", "added_or_changed": "\(upserts.count)",
                    "removed": "\(removals.count)",
                ]
            )
        } catch {
            logger.error("cannot record the known people: \(error)")
        }
    }

    /// Encodes a known picture: the first face's encoding, or the problem that leaves it without one.
    /// A picture the process died encoding runs alone in the process; one that crashed it too
    /// often is not encoded (`KnownEncodeCharges`).
    private func encode(_ entry: KnownFolder.Entry) async -> KnownPicture {
        let path = (known as NSString).appendingPathComponent(entry.path)
        let pool = await pipeline.encoderPool
        var picture = KnownPicture(
            path: entry.path, person: entry.person, size: entry.size, modified: entry.modified, encoding: nil,
            problem: nil)
        var charges = KnownEncodeCharges.load(root: root)
        if let refusal = charges.refusal(path: entry.path, size: entry.size, modified: entry.modified) {
            picture.problem = refusal
            logger.warning(
                "known picture ignored: \(refusal)", metadata: ["path": "\(entry.path)", "person": "\(entry.person)"]
            )
            return picture
        }
        let alone = charges.charge(path: entry.path, size: entry.size, modified: entry.modified) != nil
        let gate: DecodeGate.Mode = alone ? .alone : .beside
        if !(await DecodeGate.shared.tryEnter(gate)) {
            logger.debug(
                "known picture waits to decode", metadata: ["path": "\(entry.path)", "alone": "\(alone)"]
            )
            await DecodeGate.shared.enter(gate)
        }
        charges.inFlight = .init(path: entry.path, size: entry.size, modified: entry.modified, alone: alone)
        charges.save(root: root)
        TestHooks.poisonIfAsked(name: entry.path)
        let result = await pool.encode(fileAt: path, limits: limits)
        charges.inFlight = nil
        charges.charges[entry.path] = nil
        charges.save(root: root)
        await DecodeGate.shared.leave(gate)
        switch result {
        case .success(let image):
            if let first = image.faces.first {
                picture.encoding = first.encoding
                logger.info(
                    "known picture",
                    metadata: ["path": "\(entry.path)", "person": "\(entry.person)", "faces": "\(image.faces.count)"]
                )
            } else {
                picture.problem = "no face found"
            }
        case .failure(let failure):
            picture.problem = "\(failure.code.rawValue): \(failure.message)"
        }
        if let problem = picture.problem {
            logger.warning(
                "known picture ignored: \(problem)", metadata: ["path": "\(entry.path)", "person": "\(entry.person)"]
            )
        }
        return picture
    }

    // MARK: - Relabel

    /// What one relabel batch did.
    enum BatchOutcome: Equatable {
        /// Committed; more records follow.
        case more
        /// Nothing (more) to do.
        case done
        /// A root directory is away: nothing committed, the batch is done again once it is back.
        case paused(String)
    }

    /// Relabels batches until every result carries the newest generation (or the task is cancelled).
    func relabel() async {
        while !Task.isCancelled {
            let outcome = await BlockingIO.runCatching { () throws(any Error) in try relabelBatch() }
            switch outcome {
            case .success(.more):
                continue
            case .success(.done):
                return
            case .success(.paused(let reason)):
                logger.warning("relabel waits until the root's directories are back: \(reason)")
                // Woken by the root watch's reading that finds the directories back.
                await watch.waitUntilWorking()
            case .failure(let error):
                logger.error("relabel stopped (resumed at the next change or start): \(error)")
                return
            }
        }
    }

    /// One batch of the relabel.
    func relabelBatch() throws -> BatchOutcome {
        let (state, people) = try labeller.current()
        guard state.isRelabelling else { return .done }
        if let reason = watch.pausedReason { return .paused(reason) }
        if state.cursor == nil && state.visited == 0 {
            logger.info("relabelling results", metadata: ["generation": "\(state.generation)"])
        }
        let limit = TestHooks.relabelBatchSize ?? Self.batchSize
        let (records, finished) = try ledger.records(after: state.cursor, limit: limit)
        var entries: [(UUID, StoredLabels)] = []
        var rewritten = 0
        for record in records where ResultLabeller.applies(to: record) {
            let stored = try ledger.labels(record.id)
            if let stored, stored.generation >= state.generation { continue }
            let labels = StoredLabels(generation: state.generation, faces: people.matches(for: record.faces))
            entries.append((record.id, labels))
            if let stored, stored.faces == labels.faces { continue }
            // The document changes: written under the id's lock, unless the known people changed
            // meanwhile (then this relabel is outdated and starts over at the new generation) or
            // the root is away (the document would go where the results are not).
            let written = try labeller.withLock(record.id) { () throws -> BatchOutcome? in
                guard try ledger.peopleState(defaultTolerance: tolerance).generation == state.generation else {
                    return .more
                }
                if let reason = watch.pausedReason { return .paused(reason) }
                do {
                    try DurableFile.writeAtomically(
                        results.text(for: results.withPeople(ResultLabeller.document(record, labels), record)),
                        to: results.path(for: record.id))
                } catch {
                    // A results directory that went away since the watch last looked: wait for it.
                    if let reason = watch.recheck() { return .paused(reason) }
                    throw error
                }
                return nil
            }
            if let written { return written }
            rewritten += 1
        }
        TestHooks.pauseInRelabel()
        // The documents went where the results are only if the markers are still in place now.
        if rewritten > 0, let reason = watch.recheck() { return .paused(reason) }
        try ledger.storeLabels(
            entries,
            progress: RelabelProgress(
                generation: state.generation, cursor: records.last?.id ?? state.cursor, visited: records.count,
                finished: finished))
        if finished {
            logger.info(
                "relabelled results",
                metadata: ["generation": "\(state.generation)", "visited": "\(state.visited + records.count)"]
            )
        }
        return finished ? .done : .more
    }
}
