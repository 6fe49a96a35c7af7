import FaceCore
import FaceLedger
import FaceMatch
import FaceRoot
import Foundation
import Logging

/// Writes again the documents whose faces changed person (`PeopleTracker`), and follows what the
/// ledger changes outside the daemon's own writes: forgets (`facewatch forget`, the retention) and
/// results other daemons stored in a shared ledger (the face log).
///
/// - At start, unless the documents check reads every document anyway (after an unclean stop:
///   `Reconciler.rewriteDocuments`, whose `ResultsWriter.isCurrent` compares the people too), every
///   tracked record's document is checked and written again where a face's `person` is not the one
///   the grouping gives (the `cluster_*` settings changed since the previous run).
/// - Then it wakes when records are queued, and every `interval` to look at the ledger: when its
///   forget generation moved, every tracked record is read again (a forgotten one leaves the
///   grouping, one that lost faces is brought up to date); new face-log entries are brought in.
/// - It writes the root's people snapshot (`PeopleSnapshotFile`) at start when the grouping is not
///   the snapshot's, at the look that sees a forget, at one of those looks once `snapshotEvery`
///   changes or `snapshotAge` passed since the last write, and when it stops.
/// - While a root directory is away it writes nothing and waits (`RootWatch`).
struct PeopleRelabel {
    let tracker: PeopleTracker
    let ledger: any Ledger
    let results: ResultsWriter
    let watch: RootWatch
    let logger: Logger
    /// The face log's length when the grouping was built.
    let faceLogStart: UInt64
    /// The root, where the people snapshot is kept.
    let root: String
    /// Whether this start checks every tracked document's people (false: the documents check does).
    let checkDocumentsAtStart: Bool
    var interval: Duration = .seconds(2)

    /// Records brought in or taken out that make the snapshot due at the next look.
    static let snapshotEvery = 1_000
    /// How long a change waits at most to be in the snapshot (checked at the looks).
    static let snapshotAge: Duration = .seconds(600)

    func run() async {
        var forgotten = (try? ledger.forgetGenerations().forgotten) ?? 0
        var faceLog = faceLogStart
        var saved = tracker.snapshotCurrent ? tracker.changes : -1
        var savedAt = ContinuousClock.now
        if saved < 0 { saved = await saveSnapshot(faceLog: faceLog, forgotten: forgotten) }
        await watch.waitUntilWorking()
        if checkDocumentsAtStart {
            // In batches, so that a stop does not wait for the whole check.
            var rewritten = 0
            let tracked = tracker.trackedIDs
            for start in stride(from: 0, to: tracked.count, by: 256) where !Task.isCancelled {
                let batch = tracked[start..<min(start + 256, tracked.count)]
                rewritten += await BlockingIO.run { checkDocuments(batch) }
            }
            logger.info("checked the people of result documents", metadata: ["rewritten": "\(rewritten)"])
        } else {
            logger.info("the people of result documents are checked by the documents check")
        }
        let ticker = Task { [tracker, interval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                tracker.nudge()
            }
        }
        defer { ticker.cancel() }
        for await _ in tracker.wakes {
            guard !Task.isCancelled else { break }
            await watch.waitUntilWorking()
            let seen = (forgotten, faceLog)
            (forgotten, faceLog) = await BlockingIO.run { followLedger(forgotten: seen.0, faceLog: seen.1) }
            let changes = tracker.changes
            // A forget is written out at once: the snapshot holds the forgotten faces' keys until then.
            if changes != saved,
                forgotten != seen.0 || changes - saved >= Self.snapshotEvery
                    || ContinuousClock.now - savedAt >= Self.snapshotAge
            {
                saved = await saveSnapshot(faceLog: faceLog, forgotten: forgotten)
                savedAt = .now
            }
            let ids = tracker.takePending()
            guard !ids.isEmpty else { continue }
            let written = await BlockingIO.run { rewrite(ids) }
            logger.debug("people relabel", metadata: ["queued": "\(ids.count)", "written": "\(written)"])
        }
        if tracker.changes != saved { _ = await saveSnapshot(faceLog: faceLog, forgotten: forgotten) }
    }

    /// Writes the people snapshot; returns the change count it holds (the count now, also when the
    /// write failed: it is tried again after more changes, or at the stop).
    private func saveSnapshot(faceLog: UInt64, forgotten: UInt64) async -> Int {
        let people = tracker.snapshot
        let position = PeopleGrouping.SnapshotPosition(faceLog: faceLog, forgotten: forgotten)
        await BlockingIO.run { [root, logger] in
            do {
                try PeopleSnapshotFile.write(people, position: position, root: root)
                logger.debug("people snapshot written", metadata: ["faces": "\(people.grouping.count)"])
            } catch {
                logger.warning("cannot write the people snapshot (the next start groups in one pass): \(error)")
            }
        }
        return people.changes
    }

    /// Writes each of these documents whose people are not current; returns how many.
    private func checkDocuments(_ ids: ArraySlice<UUID>) -> Int {
        var written = 0
        for id in ids {
            guard let record = try? ledger.record(id), !results.isCurrent(record) else { continue }
            if (try? results.write(record)) != nil { written += 1 }
        }
        return written
    }

    /// Reads the forget generation and the face log; brings in what changed.
    private func followLedger(forgotten: UInt64, faceLog: UInt64) -> (UInt64, UInt64) {
        var forgotten = forgotten
        if let now = try? ledger.forgetGenerations().forgotten, now != forgotten {
            forgotten = now
            for id in tracker.trackedIDs {
                switch read(id) {
                case .some(let record?): tracker.refresh(record)
                case .some(nil): tracker.remove(id)
                case nil: continue
                }
            }
        }
        var position = faceLog
        while let ids = try? ledger.faceLog(from: position, limit: 1_000), !ids.isEmpty {
            position += UInt64(ids.count)
            for id in ids {
                if let record = try? ledger.record(id) { tracker.refresh(record) }
            }
        }
        return (forgotten, position)
    }

    /// The record of `id` (nil inside: there is none, it was forgotten), or nil when the ledger
    /// cannot be read now.
    private func read(_ id: UUID) -> LedgerRecord?? {
        do {
            return .some(try ledger.record(id))
        } catch {
            logger.warning("cannot read a record for people: \(error)", metadata: ["id": "\(id.lowercased)"])
            return nil
        }
    }

    /// Writes the documents of `ids` again (records since forgotten are skipped); returns how many.
    private func rewrite(_ ids: Set<UUID>) -> Int {
        var written = 0
        for id in ids.sorted(by: { $0.uuidString < $1.uuidString }) {
            guard let found = read(id) else { continue }
            guard let record = found, record.status == .completed else {
                tracker.remove(id)
                continue
            }
            do {
                try results.write(record)
                written += 1
            } catch {
                logger.error("cannot rewrite result document: \(error)", metadata: ["id": "\(id.lowercased)"])
            }
        }
        return written
    }
}
