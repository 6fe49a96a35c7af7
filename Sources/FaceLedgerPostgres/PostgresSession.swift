import FaceLedger
import Foundation
import Logging
import PostgresNIO

/// One checked-out connection running statements synchronously, inside a transaction or not.
struct PostgresSession {
    let connection: PostgresConnection
    /// The pool's connection (its slot, its prepared statements); nil on a connection of its own.
    let pooled: PooledConnection?
    let logger: Logger
    let location: String

    init(pooled: PooledConnection, logger: Logger, location: String) {
        self.connection = pooled.connection
        self.pooled = pooled
        self.logger = logger
        self.location = location
    }

    init(connection: PostgresConnection, logger: Logger, location: String) {
        self.connection = connection
        self.pooled = nil
        self.logger = logger
        self.location = location
    }

    /// SQLSTATEs after which a whole transaction is run again: serialization failure, deadlock.
    static let conflictStates: Set<String> = ["40001", "40P01"]
    /// `LedgerError.status` of a transaction that lost a conflict and may be run again.
    static let conflictStatus: Int32 = 40001

    /// Runs `query` and returns its rows.
    @discardableResult
    func rows(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) throws(LedgerError) -> [PostgresRow] {
        try send(query, file: file, line: line).rows()
    }

    /// Runs `query` and returns how many rows it changed (INSERT, UPDATE, DELETE).
    @discardableResult
    func execute(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) throws(LedgerError) -> Int {
        try send(query, file: file, line: line).changed()
    }

    /// Sends `query` now; its reply is waited for later (`Pending`). The statements sent on a
    /// connection run in the order they were sent, so several can be sent before the caller waits
    /// once for all of them. In a transaction, a statement that fails makes the server refuse the
    /// ones after it until the transaction ends: waiting for them in order reports the first failure.
    func send(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) -> Pending {
        Pending(future: connection.query(query, logger: logger, file: file, line: line), location: location)
    }

    /// A statement sent (`send`), its reply to come.
    struct Pending {
        let future: EventLoopFuture<PostgresQueryResult>
        let location: String

        /// Its rows, once it has run.
        @discardableResult
        func rows() throws(LedgerError) -> [PostgresRow] {
            do {
                return try future.wait().rows
            } catch {
                throw PostgresSession.mapped(error, location)
            }
        }

        /// How many rows it changed, once it has run.
        @discardableResult
        func changed() throws(LedgerError) -> Int {
            do {
                return try future.wait().metadata.rows ?? 0
            } catch {
                throw PostgresSession.mapped(error, location)
            }
        }
    }

    /// A statement's error as a `LedgerError`: a lost conflict is one its transaction may run again.
    static func mapped(_ error: any Error, _ location: String) -> LedgerError {
        if let state = PostgresErrors.sqlState(error), conflictStates.contains(state) {
            return LedgerError(
                .backend, "\(location): a concurrent transaction won (SQLSTATE \(state))", status: conflictStatus)
        }
        return PostgresErrors.map(error, location)
    }

    // `first` and `all` for one to seven columns (postgres-nio decodes a row into a tuple).

    /// The first row as A, or nil.
    func first<A: PostgresDecodable>(_ query: PostgresQuery, as type: A.Type) throws(LedgerError) -> A? {
        guard let row = try rows(query).first else { return nil }
        return try Self.decoding { try row.decode(type) }
    }

    /// Every row as A.
    func all<A: PostgresDecodable>(_ query: PostgresQuery, as type: A.Type) throws(LedgerError) -> [A] {
        var decoded: [A] = []
        for row in try rows(query) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }

    /// The first row as (A, B), or nil.
    func first<A: PostgresDecodable, B: PostgresDecodable>(_ query: PostgresQuery, as type: (A, B).Type)
        throws(LedgerError) -> (A, B)?
    {
        guard let row = try rows(query).first else { return nil }
        return try Self.decoding { try row.decode(type) }
    }

    /// Every row as (A, B).
    func all<A: PostgresDecodable, B: PostgresDecodable>(_ query: PostgresQuery, as type: (A, B).Type)
        throws(LedgerError) -> [(A, B)]
    {
        var decoded: [(A, B)] = []
        for row in try rows(query) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }

    /// The first row as (A, B, C), or nil.
    func first<A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable>(
        _ query: PostgresQuery, as type: (A, B, C).Type
    ) throws(LedgerError) -> (A, B, C)? {
        guard let row = try rows(query).first else { return nil }
        return try Self.decoding { try row.decode(type) }
    }

    /// Every row as (A, B, C).
    func all<A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable>(
        _ query: PostgresQuery, as type: (A, B, C).Type
    ) throws(LedgerError) -> [(A, B, C)] {
        var decoded: [(A, B, C)] = []
        for row in try rows(query) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }

    /// The first row as (A, B, C, D), or nil.
    func first<A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable>(
        _ query: PostgresQuery, as type: (A, B, C, D).Type
    ) throws(LedgerError) -> (A, B, C, D)? {
        guard let row = try rows(query).first else { return nil }
        return try Self.decoding { try row.decode(type) }
    }

    /// Every row as (A, B, C, D).
    func all<A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable>(
        _ query: PostgresQuery, as type: (A, B, C, D).Type
    ) throws(LedgerError) -> [(A, B, C, D)] {
        var decoded: [(A, B, C, D)] = []
        for row in try rows(query) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }

    /// The first row as (A, B, C, D, E), or nil.
    func first<
        A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable, E: PostgresDecodable
    >(_ query: PostgresQuery, as type: (A, B, C, D, E).Type) throws(LedgerError) -> (A, B, C, D, E)? {
        guard let row = try rows(query).first else { return nil }
        return try Self.decoding { try row.decode(type) }
    }

    /// Every row as (A, B, C, D, E).
    func all<
        A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable, E: PostgresDecodable
    >(_ query: PostgresQuery, as type: (A, B, C, D, E).Type) throws(LedgerError) -> [(A, B, C, D, E)] {
        var decoded: [(A, B, C, D, E)] = []
        for row in try rows(query) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }

    /// The first row as (A, B, C, D, E, F), or nil.
    func first<
        A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable, E: PostgresDecodable,
        F: PostgresDecodable
    >(_ query: PostgresQuery, as type: (A, B, C, D, E, F).Type) throws(LedgerError) -> (A, B, C, D, E, F)? {
        guard let row = try rows(query).first else { return nil }
        return try Self.decoding { try row.decode(type) }
    }

    /// Every row as (A, B, C, D, E, F).
    func all<
        A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable, E: PostgresDecodable,
        F: PostgresDecodable
    >(_ query: PostgresQuery, as type: (A, B, C, D, E, F).Type) throws(LedgerError) -> [(A, B, C, D, E, F)] {
        var decoded: [(A, B, C, D, E, F)] = []
        for row in try rows(query) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }

    /// The first row as (A, B, C, D, E, F, G), or nil.
    func first<
        A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable, E: PostgresDecodable,
        F: PostgresDecodable, G: PostgresDecodable
    >(_ query: PostgresQuery, as type: (A, B, C, D, E, F, G).Type) throws(LedgerError) -> (A, B, C, D, E, F, G)? {
        guard let row = try rows(query).first else { return nil }
        return try Self.decoding { try row.decode(type) }
    }

    /// Every row as (A, B, C, D, E, F, G).
    func all<
        A: PostgresDecodable, B: PostgresDecodable, C: PostgresDecodable, D: PostgresDecodable, E: PostgresDecodable,
        F: PostgresDecodable, G: PostgresDecodable
    >(_ query: PostgresQuery, as type: (A, B, C, D, E, F, G).Type) throws(LedgerError) -> [(A, B, C, D, E, F, G)] {
        var decoded: [(A, B, C, D, E, F, G)] = []
        for row in try rows(query) { decoded.append(try Self.decoding { try row.decode(type) }) }
        return decoded
    }

    /// Runs a row decoding; a row of unexpected types is a corrupt ledger.
    static func decoding<T>(_ body: () throws -> T) throws(LedgerError) -> T {
        do {
            return try body()
        } catch {
            throw LedgerError.corruptValue("a row of unexpected types: \(error)")
        }
    }
}

extension LedgerError {
    /// A stored value that cannot be read back.
    static func corruptValue(_ what: String) -> LedgerError {
        LedgerError(.corrupt, "corrupt ledger value: \(what)")
    }
}

extension ByteBuffer {
    /// The readable bytes.
    var bytes: [UInt8] { Array(readableBytesView) }
}

/// Calls `body` with `bytes` (a typed-throws `withUnsafeBytes`).
func withRawBytes<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(LedgerError) -> T) throws(LedgerError)
    -> T
{
    let result: Result<T, LedgerError> = bytes.withUnsafeBytes { raw in
        Result { () throws(LedgerError) -> T in try body(raw) }
    }
    return try result.get()
}

extension PostgresConnection {
    /// Closes the connection and waits until it is closed (postgres-nio requires a connection to
    /// be closed before it is released); an error closing it is of no interest.
    func closeQuietly() {
        guard !isClosed else { return }
        let closing: EventLoopFuture<Void> = close()
        try? closing.wait()
    }
}

extension Array where Element == UInt8 {
    /// The bytes as a `bytea` parameter (an `[UInt8]` would be sent as a `"char"[]` array).
    var bytea: ByteBuffer { ByteBuffer(bytes: self) }
}
