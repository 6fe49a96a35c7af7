import FaceLedger
import PostgresNIO

/// How errors of postgres-nio become `LedgerError`s.
///
/// A server that cannot be reached, a connection lost, a server shutting down or refusing more
/// clients (SQLSTATE classes 08, 53, 57P) are `.unavailable`: transient, nothing was committed, and
/// the daemon tries again later; a serialization failure or deadlock (40001, 40P01) is retried by
/// the transaction itself; anything else the server says is `.backend` with its SQLSTATE.
///
/// A unique key that exists (23505: a statement inserting a record whose id is there) is
/// `.alreadyExists`, as LMDB says it; the statement changed nothing.
///
/// A limit of `PostgresSessionSettings` that was reached (lock_timeout 55P03, statement_timeout
/// 57014, idle_in_transaction_session_timeout 25P03) is `.unavailable` too, its message saying which
/// limit and what it means, so that the line the daemon logs tells the operator why.
enum PostgresErrors {
    /// Why a session limit was reached, by SQLSTATE.
    static let limitReasons: [String: String] = [
        "55P03":
            "gave up waiting for a row another session holds (lock_timeout; a transaction left open elsewhere?)",
        "57014": "the statement ran longer than statement_timeout (or was cancelled)",
        "25P03":
            "the server ended this session: idle inside a transaction longer than idle_in_transaction_session_timeout",
    ]

    static func map(_ error: any Error, _ operation: String) -> LedgerError {
        if let ledgerError = error as? LedgerError { return ledgerError }
        if let (state, message) = server(error) {
            if state == "23505" { return LedgerError(.alreadyExists, "\(operation): \(message) (SQLSTATE 23505)") }
            if let reason = limitReasons[state] {
                return LedgerError(.unavailable, "\(operation): \(reason): \(message) (SQLSTATE \(state))")
            }
            if state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") || state == "57014" {
                return LedgerError(.unavailable, "\(operation): \(message) (SQLSTATE \(state))")
            }
            return LedgerError(.backend, "\(operation): \(message) (SQLSTATE \(state))")
        }
        if let psql = error as? PSQLError { return LedgerError(.unavailable, "\(operation): \(psql.code)") }
        return LedgerError(.unavailable, "\(operation): \(error)")
    }

    /// The SQLSTATE of a server error, if it is one.
    static func sqlState(_ error: any Error) -> String? { server(error)?.state }

    /// The SQLSTATE and message of a server error, as postgres-nio reports it: a `PSQLError` from
    /// queries, a `PostgresError` from prepared statements (`PreparedQuery`).
    private static func server(_ error: any Error) -> (state: String, message: String)? {
        if let psql = error as? PSQLError, psql.code == .server, let info = psql.serverInfo {
            return (info[.sqlState] ?? "", info[.message] ?? "server error")
        }
        if case .server(let info)? = error as? PostgresError {
            return (info.fields[.sqlState] ?? "", info.fields[.message] ?? "server error")
        }
        return nil
    }
}
