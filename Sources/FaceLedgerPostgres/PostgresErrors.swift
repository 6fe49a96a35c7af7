import FaceLedger
import PostgresNIO

/// How errors of postgres-nio become `LedgerError`s.
///
/// A server that cannot be reached, a connection lost, a server shutting down or refusing more
/// clients (SQLSTATE classes 08, 53, 57P) are `.unavailable`: transient, nothing was committed, and
/// the daemon tries again later; a serialization failure or deadlock (40001, 40P01) is retried by
/// the transaction itself; anything else the server says is `.backend` with its SQLSTATE.
enum PostgresErrors {
    static func map(_ error: any Error, _ operation: String) -> LedgerError {
        if let ledgerError = error as? LedgerError { return ledgerError }
        guard let psql = error as? PSQLError else {
            return LedgerError(.unavailable, "\(operation): \(error)")
        }
        if psql.code == .server, let info = psql.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "server error"
            if state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") || state == "57014" {
                return LedgerError(.unavailable, "\(operation): \(message) (SQLSTATE \(state))")
            }
            return LedgerError(.backend, "\(operation): \(message) (SQLSTATE \(state))")
        }
        return LedgerError(.unavailable, "\(operation): \(psql.code)")
    }

    /// The SQLSTATE of a server error, if it is one.
    static func sqlState(_ error: any Error) -> String? {
        guard let psql = error as? PSQLError, psql.code == .server else { return nil }
        return psql.serverInfo?[.sqlState]
    }
}
