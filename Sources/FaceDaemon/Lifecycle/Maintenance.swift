import FaceLedger
import FaceRoot
import Logging

/// Periodic housekeeping while the daemon runs.
enum Maintenance {
    /// How often the housekeeping runs.
    static let interval: Duration = .seconds(60)

    /// Until cancelled, every `interval`: frees the LMDB reader slots of client processes that died
    /// inside a read transaction (`facewatch stats` killed mid-read would otherwise hold its slot,
    /// and the pages it sees, until the daemon restarts).
    static func run(ledger: any Ledger, logger: Logger) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            await BlockingIO.run {
                do {
                    let freed = try ledger.clearStaleReaders()
                    if freed > 0 {
                        logger.notice("freed stale ledger reader slots", metadata: ["count": "\(freed)"])
                    }
                } catch {
                    logger.warning("cannot check the ledger's reader slots: \(error)")
                }
            }
        }
    }
}
