import FaceLedger
import FaceLedgerPostgres
import Foundation

/// Opens the ledger a configuration names: the backend is chosen here, and only here.
public enum LedgerOpener {
    /// Opens the ledger of `configuration`: the LMDB environment in its `database` directory when
    /// `ledger` is `lmdb`, else the PostgreSQL database its URL names (`PostgresLedger`, owned by
    /// this host and root, with the configured lease).
    ///
    /// `readOnly` opens it for the command line (no writes, no migration, no directory created).
    /// `storeIdentity` (the daemon: its store's `DirectoryIdentity`) is the store a shared ledger's
    /// daemon takes records from.
    /// - Throws: `LedgerError` from the backend (`.notFound` when a read-only open finds no ledger,
    ///   `.unavailable` when PostgreSQL cannot be reached).
    public static func open(_ configuration: DaemonConfiguration, readOnly: Bool = false, storeIdentity: String? = nil)
        throws(LedgerError)
        -> any Ledger
    {
        if configuration.ledgerIsShared {
            let location = try PostgresLocation(url: configuration.ledger)
            let options = PostgresLedger.Options(
                readOnly: readOnly, owner: PostgresLedger.defaultOwner(root: configuration.root),
                lease: .milliseconds(Int64(configuration.ledgerLease * 1000)), connections: readOnly ? 2 : 8,
                storeID: storeIdentity, session: sessionSettings(configuration))
            return try PostgresLedger(location: location, options: options)
        }
        return try open(location: configuration.database, readOnly: readOnly, mapSize: configuration.mapSize)
    }

    /// `location` (an LMDB directory or a `postgres://` URL) as messages show it: without a password.
    public static func shown(_ location: String) -> String {
        PostgresLocation.isPostgresURL(location) ? PostgresLocation.redact(location) : location
    }

    /// Whether `location` is a `postgres://` URL with a password written in it.
    public static func holdsPassword(_ location: String) -> Bool {
        PostgresLocation.isPostgresURL(location) && (try? PostgresLocation(url: location))?.passwordInURL == true
    }

    /// The limits of a shared ledger's sessions that `configuration` sets.
    static func sessionSettings(_ configuration: DaemonConfiguration) -> PostgresSessionSettings {
        func duration(_ seconds: Double) -> Duration { .milliseconds(Int64((seconds * 1000).rounded())) }
        return PostgresSessionSettings(
            lock: duration(configuration.ledgerLockTimeout), statement: duration(configuration.ledgerStatementTimeout),
            idleInTransaction: duration(configuration.ledgerIdleTimeout),
            keepalive: duration(configuration.ledgerKeepalive))
    }

    /// Opens the ledger at `location` for `ledger export|import`: a `postgres://` (or
    /// `postgresql://`) URL, or else an LMDB environment directory (created unless `readOnly`).
    ///
    /// - Throws: `LedgerError` from the backend (`.notFound` when a read-only open finds no ledger,
    ///   `.unavailable` when PostgreSQL cannot be reached).
    public static func open(location: String, readOnly: Bool = false, mapSize: Int = 1 << 30) throws(LedgerError)
        -> any Ledger
    {
        if PostgresLocation.isPostgresURL(location) {
            let options = PostgresLedger.Options(
                readOnly: readOnly, owner: PostgresLedger.defaultOwner(root: nil), connections: 2)
            return try PostgresLedger(location: try PostgresLocation(url: location), options: options)
        }
        let directory = URL(fileURLWithPath: location, isDirectory: true)
        if readOnly {
            return try LMDBLedger(directory: directory, options: LMDBLedger.Options(readOnly: true))
        }
        return try LMDBLedger(directory: directory, options: LMDBLedger.Options(mapSize: max(mapSize, 1 << 20)))
    }
}
