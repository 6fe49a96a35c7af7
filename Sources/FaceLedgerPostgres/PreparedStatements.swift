import Dispatch
import FaceLedger
import Logging
import PostgresNIO
import Synchronization

/// Statements prepared once per connection and then only bound and executed: the statements every
/// file runs (its claim, its final commit, the record and dedup reads, the queue) skip the server's
/// parse and plan, which an unnamed statement pays on every call.
///
/// They are postgres-nio's `PostgresPreparedStatement`s (`PreparedSQL` types, `Prepared<SQL>`):
/// the connection prepares a statement the first time it runs it, under the type's name. That API
/// is async and the `Ledger` API synchronous, on threads that may be Swift's cooperative pool's
/// (`ConnectionPool`): a task started there and waited for could need one of the threads that
/// wait. So the task prefers `EventLoopExecutor`, the connection's own NIO event loop thread, and
/// the caller waits on a semaphore: no cooperative thread is needed for it to finish, and the
/// statement's write, its reply and the rows' collection happen on the thread that reads the
/// socket, without waking another thread in between.

/// A statement the server no longer has or whose plan it cannot reuse (SQLSTATE 26000, 0A000: a
/// schema changed under a long-lived connection) fails its transaction, which runs again.
protocol PreparedSQL: SendableMetatype {
    static var sql: String { get }
}

/// A statement of `SQL` with its parameters.
struct Prepared<SQL: PreparedSQL>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var sql: String { SQL.sql }
    static var name: String { "facewatch.\(SQL.self)" }

    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The thread prepared statements' tasks run on (see `PreparedSQL`): their connection's event loop.
/// Its jobs are short: hand a statement to the connection, collect the rows that come back. The
/// loop outlives every statement: the pool shuts its event loop group down only when the ledger is
/// released, when no statement can be running.
final class EventLoopExecutor: TaskExecutor {
    private let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}

extension PostgresSession {
    /// Runs the statement `SQL` with `binds` (prepared on this connection at its first use).
    @discardableResult
    func prepared<SQL: PreparedSQL>(_ sql: SQL.Type, _ binds: PreparedBinds) throws(LedgerError) -> [PostgresRow] {
        let statement = Prepared<SQL>(bindings: binds.bindings)
        let connection = self.connection
        let logger = self.logger
        let outcome = Mutex<Result<[PostgresRow], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: EventLoopExecutor(connection.eventLoop)) {
            let result: Result<[PostgresRow], any Error>
            do {
                var rows: [PostgresRow] = []
                for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
                result = .success(rows)
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        switch outcome.withLock({ $0 }) {
        case .success(let rows)?:
            return rows
        case .failure(let error)?:
            let state = PostgresErrors.sqlState(error)
            if let state, state == "26000" || state == "0A000" || Self.conflictStates.contains(state) {
                throw LedgerError(
                    .backend, "\(location): the transaction must run again (SQLSTATE \(state))",
                    status: Self.conflictStatus)
            }
            throw PostgresErrors.map(error, location)
        case nil:
            throw LedgerError(.backend, "\(location): a prepared statement gave no outcome")
        }
    }

    /// Every row of the statement `SQL` as A.
    func preparedAll<SQL: PreparedSQL, A: PostgresDecodable>(_ sql: SQL.Type, _ binds: PreparedBinds, as type: A.Type)
        throws(LedgerError) -> [A]
    {
        var decoded: [A] = []
        for row in try prepared(sql, binds) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }
}

/// The parameters of a prepared statement, in order.
struct PreparedBinds {
    private(set) var bindings = PostgresBindings()

    init() {}

    mutating func append<Value: PostgresNonThrowingEncodable>(_ value: Value) { bindings.append(value) }

    /// Appends `value`, or NULL.
    mutating func append<Value: PostgresNonThrowingEncodable>(_ value: Value?) { bindings.append(value) }
}
