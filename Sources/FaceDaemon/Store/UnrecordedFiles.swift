import FaceLedger
import FaceRoot
import Synchronization

/// Records of files already moved into the store whose commit failed (the ledger away, a lock
/// held past `lock_timeout`): the ingestor commits them again once a second (`Ingestor.recordPending`)
/// rather than leaving the files to the next start's orphan scan, so a file in the store waits for
/// the ledger, not for a restart.
public final class UnrecordedFiles: Sendable {
    private let records = Mutex<[LedgerRecord]>([])

    public init() {}

    /// How many wait.
    public var count: Int { records.withLock { $0.count } }

    func add(_ list: [LedgerRecord]) {
        guard !list.isEmpty else { return }
        records.withLock { $0.append(contentsOf: list) }
    }

    func takeAll() -> [LedgerRecord] {
        records.withLock { list in
            defer { list = [] }
            return list
        }
    }
}

extension Ingestor {
    /// Commits the records of `unrecorded` (one transaction); returns those committed, which the
    /// pipeline may now encode. Those that still cannot be committed wait for the next call; one
    /// whose id the ledger has meanwhile (the start's orphan scan of a new run) is done.
    /// Blocking: call it off the cooperative pool.
    public func recordPending() -> [LedgerRecord] {
        let waiting = unrecorded.takeAll()
        guard !waiting.isEmpty else { return [] }
        do {
            let fresh = try waiting.filter { try !ledger.contains($0.id) }
            try ledger.insertCreated(fresh)
            for record in fresh {
                logger.notice(
                    "recorded a stored file whose first commit failed",
                    metadata: ["id": "\(record.id.lowercased)", "name": "\(record.source.name)"]
                )
            }
            return fresh
        } catch {
            unrecorded.add(waiting)
            return []
        }
    }
}
