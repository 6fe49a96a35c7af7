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
                logger.notice("removed the files of forgotten images", metadata: ["count": "\(finished)"])
            }
        } catch {
            logger.error("cannot finish the removals of forgotten images: \(error)")
        }
    }

    /// The forgetting done in the background: the retention (`Retention`), when `keep_originals` or
    /// `keep_results` is set; the scheduled compaction (`ScheduledCompaction`), unless
    /// `compact_every` is `never`; and, with a shared ledger, the removal of this store's files of
    /// images forgotten elsewhere (`ForgottenFilesSweep`).
    func forgetServices(_ ledger: any Ledger, _ configuration: DaemonConfiguration) -> [BackgroundService] {
        var services: [BackgroundService] = []
        let retention = Retention(configuration: configuration, ledger: ledger, logger: logger)
        if retention.isActive {
            services.append(BackgroundService(name: "Retention") { await retention.run() })
        }
        if let interval = configuration.compactEvery {
            let compaction = ScheduledCompaction(
                configuration: configuration, ledger: ledger, logger: logger, interval: interval)
            services.append(BackgroundService(name: "ScheduledCompaction") { await compaction.run() })
        }
        if configuration.ledgerIsShared {
            let sweep = ForgottenFilesSweep(configuration: configuration, ledger: ledger, logger: logger)
            services.append(BackgroundService(name: "ForgottenFilesSweep") { await sweep.run() })
        }
        return services
    }
}
