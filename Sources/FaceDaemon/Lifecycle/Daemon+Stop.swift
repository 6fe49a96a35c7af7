import FaceLedger
import FaceRoot
import Foundation
import Logging

// The graceful stop's steps that belong to the daemon rather than to one service (see
// `DaemonServices.swift` for the order the group runs them in).

extension Daemon {
    /// Records in the ledger that this run stopped because it was asked to: what it leaves in flight
    /// is charged nothing at the next start. Not when some files in the store have no record yet:
    /// the next start then scans the store, as after a crash.
    ///
    /// `documentsOwed`: the pipeline's documents not written yet (nil: unknown). With none, and every
    /// other document known to be written, the next start does not check them.
    func endRun(_ parts: Parts, documentsOwed: Int? = nil) {
        let (unrecorded, documentsComplete) = state.withLock { ($0.unrecordedFiles, $0.documentsComplete) }
        guard !unrecorded else { return }
        let complete = documentsOwed == 0 && documentsComplete
        do {
            try parts.ledger.endRun(parts.incarnation, documentsComplete: complete)
        } catch {
            logger.error("cannot record the graceful stop (files in flight will run alone at the next start): \(error)")
        }
    }

    /// Logs why the daemon stops and tells the group to shut its services down gracefully.
    func beginStop(reason: String) async {
        logger.info("stopping", metadata: ["reason": "\(reason)"])
        await state.withLock { $0.group }?.triggerGracefulShutdown()
    }

    /// Stops the pipeline taking records and waits up to the shutdown timeout for those in flight.
    /// Returns how many were still encoding when the wait ended.
    func drain(_ pipeline: Pipeline) async -> Int {
        let timeout = configuration.shutdownTimeout
        let running = await pipeline.inFlightCount
        if running > 0 {
            logger.info(
                "waiting for files being encoded",
                metadata: ["count": "\(running)", "timeout": "\(String(format: "%.0fs", timeout))"]
            )
        }
        let left = await pipeline.drain(timeout: timeout)
        if left > 0 {
            logger.warning(
                "shutdown timeout: files still encoding are taken again at the next start",
                metadata: ["count": "\(left)"]
            )
        } else {
            // Nothing is in flight: pools replaced by a reload have no job left and stop at once.
            for retirement in state.withLock({ $0.retiring }) { await retirement.value }
        }
        return left
    }
}
