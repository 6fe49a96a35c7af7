import FaceLedger
import FaceLedgerPostgres
import FaceMatch
import Foundation

/// `facewatch ledger compact`: rewrites the ledger so that no forgotten image's bytes remain in its
/// files. LMDB: `LMDBLedger.compact` (a copy of the live pages replaces `data.mdb`). PostgreSQL:
/// `VACUUM (FULL)` of every ledger table (each table and its indexes are written anew and the old
/// files removed).
public enum LedgerCompactor {
    /// What the compaction did, for the command's summary.
    public struct Outcome: Sendable, Equatable {
        /// `data.mdb` before and after (LMDB); nil for PostgreSQL.
        public var bytesBefore: Int?
        public var bytesAfter: Int?
        /// Caches removed (the face table).
        public var removed: [String] = []

        public init(bytesBefore: Int? = nil, bytesAfter: Int? = nil, removed: [String] = []) {
            self.bytesBefore = bytesBefore
            self.bytesAfter = bytesAfter
            self.removed = removed
        }
    }

    /// Compacts the LMDB ledger in `configuration.database`. The caller holds the root lock (no
    /// daemon) and the exclusive maintenance lock (no forget in progress).
    /// - Throws: `LedgerError` from the copy.
    public static func compactLMDB(_ configuration: DaemonConfiguration) throws(LedgerError) -> Outcome {
        var outcome = Outcome()
        let table = (configuration.database as NSString).appendingPathComponent(FaceTableFile.fileName)
        if unlink(table) == 0 { outcome.removed.append(table) }
        let compaction = try LMDBLedger.compact(
            directory: URL(fileURLWithPath: configuration.database, isDirectory: true))
        outcome.bytesBefore = compaction.bytesBefore
        outcome.bytesAfter = compaction.bytesAfter
        return outcome
    }

    /// Compacts the ledger a running daemon holds, in place: LMDB's `compactInPlace` (the daemon's
    /// own writes wait while the copy is made; `pause` is a test hook), PostgreSQL's `VACUUM FULL`
    /// unless another host is running one. Returns nil when nothing was done.
    /// - Throws: `LedgerError` from the copy or the vacuum.
    public static func compactInPlace(_ ledger: any Ledger, pause: (String) -> Void) throws(LedgerError) -> Outcome? {
        if let lmdb = ledger as? LMDBLedger {
            let compaction = try lmdb.compactInPlace(pause: pause)
            return Outcome(bytesBefore: compaction.bytesBefore, bytesAfter: compaction.bytesAfter)
        }
        if let postgres = ledger as? PostgresLedger {
            return try postgres.vacuumFullUnlessRunning() ? Outcome() : nil
        }
        return nil
    }

    /// `VACUUM (FULL, ANALYZE)` of every table of a PostgreSQL ledger.
    /// - Throws: `LedgerError` (`.invalidArgument` for a ledger that is not PostgreSQL).
    public static func vacuum(_ ledger: any Ledger) throws(LedgerError) {
        guard let postgres = ledger as? PostgresLedger else {
            throw LedgerError(.invalidArgument, "the ledger at \(ledger.location) is not a PostgreSQL ledger")
        }
        try postgres.vacuumFull()
    }
}
