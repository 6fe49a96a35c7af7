import FaceLedger
import FaceRoot
import Foundation

extension Daemon {
    /// Removes the files of tombstones a forget left pending (it was cut short, or could not remove
    /// them): at start, before the store scan, so that no forgotten original becomes an orphan.
    func finishForgets(_ ledger: any Ledger, _ configuration: DaemonConfiguration, _ results: ResultsWriter) {
        do {
            let finished = try Forgetter(
                configuration: configuration, ledger: ledger, logger: logger,
                documents: { record, _ in try results.write(record) }
            ).sweep()
            if finished > 0 {
                logger.notice("removed the files of forgotten images \(LogField.pair("count", String(finished)))")
            }
        } catch {
            logger.error("cannot finish the removals of forgotten images: \(error)")
        }
    }

    /// The retention task (`Retention`), when `keep_originals` or `keep_results` is set, beside the
    /// scheduled compaction (`ScheduledCompaction`), unless `compact_every` is `never`, and with a
    /// shared ledger the removal of this store's files of images forgotten elsewhere
    /// (`ForgottenFilesSweep`).
    func startRetention(_ ledger: any Ledger, _ configuration: DaemonConfiguration) -> Task<Void, Never>? {
        let retention = Retention(configuration: configuration, ledger: ledger, logger: logger)
        let compaction = configuration.compactEvery.map { interval in
            ScheduledCompaction(configuration: configuration, ledger: ledger, logger: logger, interval: interval)
        }
        let sweep =
            configuration.ledgerIsShared
            ? ForgottenFilesSweep(configuration: configuration, ledger: ledger, logger: logger) : nil
        guard retention.isActive || compaction != nil || sweep != nil else { return nil }
        return Task {
            await withTaskGroup(of: Void.self) { group in
                if retention.isActive { group.addTask { await retention.run() } }
                if let compaction { group.addTask { await compaction.run() } }
                if let sweep { group.addTask { await sweep.run() } }
            }
        }
    }
}
