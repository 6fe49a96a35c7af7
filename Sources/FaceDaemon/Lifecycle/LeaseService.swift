import FaceLedger
import FaceRoot
import Foundation
import Logging
import ServiceLifecycle

/// On a shared ledger: renews this run's lease every third of it (other daemons take the files of a
/// run whose lease expired, see `PostgresLedger`), which also settles the runs of daemons that
/// died; then has the pipeline look at the queue again (records other daemons added, suspects they
/// left). Does nothing on a one-host ledger.
struct LeaseService: Service {
    let parts: Daemon.Parts
    let lease: Double
    let logger: Logger

    func run() async {
        guard parts.ledger.isShared else {
            try? await gracefulShutdown()
            return
        }
        let interval = max(0.2, lease / 3)
        let (ledger, incarnation, logger) = (parts.ledger, parts.incarnation, logger)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                } catch {
                    return
                }
                await BlockingIO.run {
                    do throws(LedgerError) {
                        try ledger.renewLease(incarnation)
                    } catch {
                        logger.error("lease not renewed: \(error)", metadata: ["run": "\(incarnation)"])
                    }
                }
                await parts.pipeline.lookAgain()
            }
        }
    }
}
