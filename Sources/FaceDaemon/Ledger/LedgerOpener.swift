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
        try open(location: configuration.database, readOnly: readOnly, mapSize: configuration.mapSize)
    }

    /// Opens the ledger at `location`: an LMDB environment directory (created unless `readOnly`).
    ///
    /// - Throws: `LedgerError` from the backend (`.notFound` when a read-only open finds no ledger).
    public static func open(location: String, readOnly: Bool = false, mapSize: Int = 1 << 30) throws(LedgerError)
        -> any Ledger
    {
        let directory = URL(fileURLWithPath: location, isDirectory: true)
        if readOnly {
            return try LMDBLedger(directory: directory, options: LMDBLedger.Options(readOnly: true))
        }
        return try LMDBLedger(directory: directory, options: LMDBLedger.Options(mapSize: max(mapSize, 1 << 20)))
    }
}
