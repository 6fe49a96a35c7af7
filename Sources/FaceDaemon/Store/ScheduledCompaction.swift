import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging

/// The daemon's own compaction (`compact_every`): at start and then every `compact_every`, when the
/// ledger has committed a forget (whole images or faces, by any process or by retention) since the
/// last compaction (`Ledger.forgetGenerations`), the daemon first finishes what forgets left pending
/// (files, documents) and then rewrites the ledger so that no forgotten encoding stays in its files:
///
/// - LMDB: a compacting copy of the environment the daemon has open, renamed over `data.mdb`
///   (`LMDBLedger.compactInPlace`), under the exclusive maintenance lock (`MaintenanceLock`), so no
///   `facewatch forget` writes meanwhile (one that is running postpones the compaction to the next
///   pass); the daemon's own transactions wait for the copy.
/// - PostgreSQL: `VACUUM (FULL, ANALYZE)` of the ledger's tables by one daemon at a time (an advisory
///   lock; the others skip), which locks each table while it is rewritten.
///
/// The pass logs `compacted the ledger` with the forgets it covered; the generation read before the
/// copy is recorded after it (`markCompacted`), so a forget that comes during the copy is compacted
/// by the next pass.
struct ScheduledCompaction: Sendable {
    let configuration: DaemonConfiguration
    let ledger: any Ledger
    let logger: Logger
    /// Seconds between passes.
    let interval: Double

    func run() async {
        while !Task.isCancelled {
            await BlockingIO.run { self.pass() }
            do {
                try await Task.sleep(for: .seconds(interval))
            } catch {
                return
            }
        }
    }

    /// One pass; returns whether it compacted.
    @discardableResult
    func pass() -> Bool {
        do {
            let (forgotten, compacted) = try ledger.forgetGenerations()
            guard forgotten > compacted else { return false }
            try Forgetter(
                configuration: configuration, ledger: ledger, logger: logger,
                documents: ResultsWriter.documentWriter(for: configuration)
            ).sweep()
            let started = ContinuousClock.now
            // LMDB: no `facewatch forget` writes while the file is copied (it waits for the lock).
            var lock: MaintenanceLock?
            if ledger is LMDBLedger {
                do {
                    lock = try MaintenanceLock(configuration, exclusive: true)
                } catch {
                    logger.info("ledger compaction postponed to the next pass: \(error)")
                    return false
                }
            }
            defer { lock?.release() }
            guard let outcome = try LedgerCompactor.compactInPlace(ledger, pause: CompactionTestHooks.hold) else {
                return false
            }
            try ledger.markCompacted(through: forgotten)
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            var metadata: Logger.Metadata = [
                "forgets": "\(forgotten)", "seconds": "\(String(format: "%.3f", seconds))",
            ]
            if let before = outcome.bytesBefore, let after = outcome.bytesAfter {
                metadata["bytes_before"] = "\(before)"
                metadata["bytes_after"] = "\(after)"
            }
            logger.notice("compacted the ledger", metadata: metadata)
            return true
        } catch {
            logger.error("cannot compact the ledger: \(error)")
            return false
        }
    }
}
