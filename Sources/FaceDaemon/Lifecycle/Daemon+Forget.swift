import FaceLedger
import FaceRoot
import Foundation

extension Daemon {
    /// Removes the files of tombstones a forget left pending (it was cut short, or could not remove
    /// them): at start, before the store scan, so that no forgotten original becomes an orphan.
    func finishForgets(_ ledger: any Ledger, _ configuration: DaemonConfiguration) {
        do {
            let finished = try Forgetter(configuration: configuration, ledger: ledger, logger: logger).sweep()
            if finished > 0 {
                logger.notice("removed the files of forgotten images", metadata: ["count": "\(finished)"])
            }
        } catch {
            logger.error("cannot finish the removals of forgotten images: \(error)")
        }
    }

    /// The retention (`Retention`), when `keep_originals` or `keep_results` is set.
    func retention(_ ledger: any Ledger, _ configuration: DaemonConfiguration) -> Retention? {
        let retention = Retention(configuration: configuration, ledger: ledger, logger: logger)
        return retention.isActive ? retention : nil
    }
}
