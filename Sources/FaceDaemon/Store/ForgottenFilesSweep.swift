import FaceLedger
import FaceRoot
import Foundation
import Logging

/// With a shared (PostgreSQL) ledger, any host may forget an image whose files are in another host's
/// store: each daemon removes its own store's files (`Ledger.tombstonesWithFiles` answers a daemon
/// with its store's tombstones only) at start (`Daemon.finishForgets`) and then every `interval`,
/// so a forget run anywhere reaches this store within that time. It also rewrites the documents
/// faces-only forgets left pending. An LMDB root needs none: the forgetting process removes the files
/// itself, and the start-up sweep finishes what a crash cut short.
struct ForgottenFilesSweep: Sendable {
    /// Seconds between two looks at the shared ledger: a query that finds nothing most of the time.
    static let interval = 5.0

    let forgetter: Forgetter
    let logger: Logger

    init(configuration: DaemonConfiguration, ledger: any Ledger, logger: Logger) {
        forgetter = Forgetter(
            configuration: configuration, ledger: ledger, logger: logger,
            documents: ResultsWriter.documentWriter(for: configuration))
        self.logger = logger
    }

    func run() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(Self.interval))
            } catch {
                return
            }
            await BlockingIO.run { self.pass() }
        }
    }

    /// One look; returns how many tombstones' files (and documents) it finished.
    @discardableResult
    func pass() -> Int {
        do {
            let finished = try forgetter.sweep()
            if finished > 0 {
                logger.notice(
                    "removed the files of images forgotten elsewhere", metadata: ["count": "\(String(finished))"])
            }
            return finished
        } catch {
            logger.error("cannot remove the files of forgotten images: \(error)")
            return 0
        }
    }
}
