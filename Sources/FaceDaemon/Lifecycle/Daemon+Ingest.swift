import FaceLedger
import FaceRoot
import Foundation
import Logging

// The running daemon's intake (`IngestService`) and the check of the result documents after a start
// (the documents check, a `BackgroundService`).

extension Daemon {
    /// Largest batch committed in one LMDB transaction.
    static let maxBatch = 1000

    /// Logs `ready` and tells the hooks, with the backlog and the worker count.
    func announceReady(_ parts: Parts) async {
        let configuration = self.configuration
        let backlog = (try? parts.ledger.stats().counts[.created]) ?? 0
        let workers = await parts.pipeline.encoderPool.workerCount
        let status = "watching \(configuration.inbox) with \(workers) workers, backlog \(backlog)"
        logger.info(
            "ready", metadata: ["inbox": "\(configuration.inbox)", "workers": "\(workers)", "backlog": "\(backlog)"]
        )
        hooks.ready(status)
        readiness.continuation.yield()
    }

    /// Returns once the daemon has said it is ready.
    func waitUntilReady() async {
        var ready = readiness.stream.makeAsyncIterator()
        _ = await ready.next()
    }

    /// Takes batches from the inbox into the ledger until the feed stops; returns after the commit
    /// of the batch being ingested then.
    func ingestLoop(_ feed: InboxFeed, _ parts: Parts) async {
        var arrivals = feed.arrivals.makeAsyncIterator()
        var waitingWhilePaused = 0
        // Nothing is taken while a root directory is away: the markers are read right before each
        // batch, in the batch's own blocking call (`ingest`), and again after each wake while paused
        // (the watch's once-a-second reading could be a second late).
        var paused = await BlockingIO.run { parts.watch.recheck() } != nil
        while true {
            if paused {
                guard feed.take(limit: 0) != nil else { return }
                if feed.waitingCount != waitingWhilePaused {
                    waitingWhilePaused = feed.waitingCount
                    logger.debug(
                        "paused: files wait in the inbox", metadata: ["count": "\(waitingWhilePaused)"])
                }
                // Woken by an arrival (counted above), by the reading that finds the directories
                // back, or by the stop (which ends the arrivals).
                let open = await withTaskGroup(of: Void.self) { group -> Bool in
                    group.addTask {
                        await parts.watch.waitUntilWorking()
                        feed.nudge()
                    }
                    let arrived = await arrivals.next() != nil
                    group.cancelAll()
                    return arrived
                }
                guard open else { return }
                paused = await BlockingIO.run { parts.watch.recheck() } != nil
                continue
            }
            waitingWhilePaused = 0
            guard let entries = feed.take(limit: Self.maxBatch) else { return }
            if entries.isEmpty {
                guard await arrivals.next() != nil else { return }
                continue
            }
            paused = await ingest(entries, feed, parts)
        }
    }

    /// Moves one batch into the store and records it in one transaction, then writes the documents
    /// of the files refused at intake. Returns true, having taken nothing, when a root directory is
    /// away (the entries go back to the feed).
    private func ingest(_ entries: [InboxEntry], _ feed: InboxFeed, _ parts: Parts) async -> Bool {
        let batch = entries.map {
            Ingestor.Candidate(path: $0.path, name: $0.name, size: $0.size, arrival: $0.arrival)
        }
        let ingestor = parts.ingestor
        let maxBytes = configuration.limits.maxBytes
        let writerQuiet = Duration.milliseconds(Int64(configuration.writerQuietSeconds * 1000))
        // Taken before the batch's records are committed (see `Pipeline.offer`).
        let readsBefore = parts.pipeline.queueReadCount
        let watch = parts.watch
        let pipeline = parts.pipeline
        let outcome = await BlockingIO.runCatching { () throws(LedgerError) -> Ingestor.Outcome? in
            if watch.recheck() != nil { return nil }
            TestHooks.pauseBeforeIngestIfAsked(names: batch.map(\.name))
            return try ingestor.ingest(batch, maxBytes: maxBytes, writerQuiet: writerQuiet) { records in
                let commit = IntakeCommit(wake: { pipeline.wake() })
                pipeline.offer(records, readsBefore: readsBefore, commit: commit)
                return commit
            }
        }
        switch outcome {
        case .success(nil):
            // A root directory is away: nothing was taken, and the entries wait in the feed.
            feed.putBack(entries)
            return true
        case .success(let outcome?):
            feed.acknowledge(entries)
            if !outcome.created.isEmpty {
                // The records not offered before their commit: those whose failure at intake could
                // not be committed (still `created`: the pipeline fails them).
                parts.pipeline.offer(
                    outcome.created.filter { !outcome.offered.contains($0.id) }, readsBefore: readsBefore)
                hooks.ingested(outcome.created.count)
            }
            for record in outcome.failed {
                await BlockingIO.run {
                    self.publishImmediateFailure(
                        record, results: parts.results, meter: parts.meter, stats: parts.stats)
                }
            }
            parts.stats.markDirty()
        case .failure(let error):
            feed.acknowledge(entries)
            logger.error(
                "cannot record a batch of \(batch.count) files (those already moved into the store are recorded as soon as the ledger takes them; the others stay in the inbox and are taken again): \(error)"
            )
            // The next start must scan the store for them: this run does not end cleanly.
            state.withLock { $0.unrecordedFiles = true }
        }
        return false
    }

    /// After a start, makes sure every final record has its document, and says so for `endRun`.
    ///
    /// After a graceful stop that owed no document, one document per final record in the directory
    /// is enough: no document is opened. Otherwise every one is checked and the missing ones are
    /// written, until `stop` says the daemon is stopping.
    func checkDocuments(_ parts: Parts, stop: @escaping @Sendable () -> Bool) async {
        if parts.documentsWereComplete, await BlockingIO.run({ Self.oneDocumentPerFinalRecord(parts) }) {
            state.withLock { $0.documentsComplete = true }
            return
        }
        if await rewriteDocuments(parts.reconciler, stop: stop) {
            state.withLock { $0.documentsComplete = true }
        }
    }

    /// Whether the results directory holds as many documents as the ledger has final records (its
    /// names are read, no file is opened).
    private static func oneDocumentPerFinalRecord(_ parts: Parts) -> Bool {
        guard let stats = try? parts.ledger.stats(),
            let names = try? DirectoryReader.stringNames(in: parts.results.directory)
        else { return false }
        let documents = names.count { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
        return documents == (stats.counts[.completed] ?? 0) + (stats.counts[.failed] ?? 0)
    }

    /// Checks every final record's document and writes the missing ones; true when all are written.
    private func rewriteDocuments(_ reconciler: Reconciler, stop: @escaping @Sendable () -> Bool) async -> Bool {
        let logger = self.logger
        return await BlockingIO.run { () -> Bool in
            var report = Reconciler.Report()
            do {
                try reconciler.rewriteDocuments(report: &report, stop: stop)
                if report.documentsRewritten > 0 {
                    logger.notice(
                        "rewrote missing result documents",
                        metadata: ["count": "\(report.documentsRewritten)", "checked": "\(report.finalRecords)"]
                    )
                }
                return report.documentsFailed == 0
            } catch is CancellationError {
                return false
            } catch {
                logger.error("cannot check result documents: \(error)")
                return false
            }
        }
    }
}
