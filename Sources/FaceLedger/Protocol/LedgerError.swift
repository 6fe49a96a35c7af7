import CLMDB

/// Why a ledger operation failed: a stable `code` for programs and a one-line `message` for people.
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of failure a caller may want to tell apart.
    public enum Code: String, Sendable, Equatable {
        /// No record has the given id (or the ledger directory does not exist, when opening read-only).
        case notFound = "not_found"
        /// A record with this id already exists.
        case alreadyExists = "already_exists"
        /// The transition is not allowed from the record's current status (e.g. completing a failed record).
        case invalidTransition = "invalid_transition"
        /// An argument the ledger cannot store (bad SHA-256, out-of-range size, non-finite encoding...).
        case invalidArgument = "invalid_argument"
        /// A stored value could not be decoded: the database is damaged or was written by something else.
        case corrupt = "corrupt"
        /// The database was written by a newer facewatch (its schema version is above this build's).
        case newerSchema = "newer_schema"
        /// The database needs a migration, which a read-only ledger cannot run.
        case olderSchema = "older_schema"
        /// A write was attempted on a ledger opened read-only.
        case readOnly = "read_only"
        /// The environment is already open in this process in a mode that cannot be shared.
        case alreadyOpen = "already_open"
        /// The memory map reached `Options.maxMapSize` and cannot grow further.
        case mapFull = "map_full"
        /// Any other LMDB or system error; `status` holds the LMDB / errno value.
        case lmdb = "lmdb"
        /// The ledger's server cannot be reached now (PostgreSQL down, a connection lost, too many
        /// clients): transient, the operation changed nothing and may be tried again later.
        case unavailable = "unavailable"
        /// Any other error the ledger's server reported (an SQL error with its SQLSTATE).
        case backend = "backend"
    }

    public var code: Code
    public var message: String
    /// The LMDB return code (or errno) behind this error, when there is one.
    public var status: Int32?

    public init(_ code: Code, _ message: String, status: Int32? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { message }

    /// An error for an LMDB return code, naming the operation that failed.
    static func lmdb(_ rc: Int32, _ operation: String) -> LedgerError {
        let text = String(cString: mdb_strerror(rc))
        switch rc {
        case MDB_MAP_FULL:
            return LedgerError(.mapFull, "\(operation): \(text)", status: rc)
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID:
            return LedgerError(.corrupt, "\(operation): \(text)", status: rc)
        default:
            return LedgerError(.lmdb, "\(operation): \(text)", status: rc)
        }
    }

    static func corrupt(_ what: String) -> LedgerError {
        LedgerError(.corrupt, "corrupt ledger value: \(what)")
    }

    /// True when the error is LMDB's MDB_MAP_FULL (the write must be retried after growing the map).
    var isMapFull: Bool { status == MDB_MAP_FULL }
}

/// Throws a `LedgerError` for a non-zero LMDB return code.
@inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LedgerError) {
    if rc != 0 { throw LedgerError.lmdb(rc, operation()) }
}
