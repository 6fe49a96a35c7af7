import FaceLedger
import Foundation

/// Opens the ledger a configuration names: the backend is chosen here, and only here.
public enum LedgerOpener {
    /// Opens the ledger of `configuration`: the LMDB environment in its `database` directory.
    ///
    /// `readOnly` opens it for the command line (no writes, no migration, no directory created).
    /// - Throws: `LedgerError` from the backend (`.notFound` when a read-only open finds no ledger).
    public static func open(_ configuration: DaemonConfiguration, readOnly: Bool = false) throws(LedgerError)
        -> any Ledger
    {
        let directory = URL(fileURLWithPath: configuration.database, isDirectory: true)
        if readOnly {
            return try LMDBLedger(directory: directory, options: LMDBLedger.Options(readOnly: true))
        }
        return try LMDBLedger(directory: directory, options: LMDBLedger.Options(mapSize: configuration.mapSize))
    }
}
