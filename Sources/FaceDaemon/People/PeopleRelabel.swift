import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging

/// Writes again the documents whose faces changed person (`PeopleTracker`), and follows what the
/// ledger changes outside the daemon's own writes: forgets (`facewatch forget`, the retention) and
/// results other daemons stored in a shared ledger (the face log).
///
/// - At start, every tracked record's document is checked and written again where a face's
///   `person` is not the one the grouping gives (the settings changed, or the previous run stopped
///   before it rewrote them).
/// - Then it wakes when records are queued, and every `interval` to look at the ledger: when its
///   forget generation moved, every tracked record is read again (a forgotten one leaves the
///   grouping, one that lost faces is brought up to date); new face-log entries are brought in.
/// - While a root directory is away it writes nothing and waits (`RootWatch`).
struct PeopleRelabel {
    let tracker: PeopleTracker
    let ledger: any Ledger
    let results: ResultsWriter
    let watch: RootWatch
    let logger: Logger
    /// The face log's length when the grouping was built.
    let faceLogStart: UInt64
    var interval: Duration = .seconds(2)

    func run() async {
        await watch.waitUntilWorking()
        // In batches, so that a stop does not wait for the whole check.
        var rewritten = 0
        let tracked = tracker.trackedIDs
        for start in stride(from: 0, to: tracked.count, by: 256) {
            guard !Task.isCancelled else { return }
            let batch = tracked[start..<min(start + 256, tracked.count)]
            rewritten += await BlockingIO.run { checkDocuments(batch) }
        }
        logger.info("checked the people of result documents", metadata: ["rewritten": "\(rewritten)"])
        var forgotten = (try? ledger.forgetGenerations().forgotten) ?? 0
        var faceLog = faceLogStart
        let ticker = Task { [tracker, interval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                tracker.nudge()
            }
        }
        defer { ticker.cancel() }
        for await _ in tracker.wakes {
            guard !Task.isCancelled else { return }
            await watch.waitUntilWorking()
            let seen = (forgotten, faceLog)
            (forgotten, faceLog) = await BlockingIO.run { followLedger(forgotten: seen.0, faceLog: seen.1) }
            let ids = tracker.takePending()
            guard !ids.isEmpty else { continue }
            let written = await BlockingIO.run { rewrite(ids) }
            logger.debug("people relabel", metadata: ["queued": "\(ids.count)", "written": "\(written)"])
        }
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
