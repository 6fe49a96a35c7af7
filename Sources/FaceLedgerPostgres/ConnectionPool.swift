import FaceLedger
import Foundation
import Logging
import PostgresNIO

/// A small bounded pool of PostgreSQL connections for a synchronous API.
///
/// The `Ledger` API is synchronous and is called from Dispatch threads and from async tasks alike,
/// so the pool never touches Swift concurrency: connections run on their own NIO event loop group,
/// and a caller blocks its own thread on `EventLoopFuture.wait()` (as it would on an LMDB fsync).
/// A caller checks a connection out (waiting on a condition while all `limit` are busy), runs its
/// statements, and returns it; a connection that broke is closed and replaced by a new one at the
/// next checkout, so a PostgreSQL that restarts is reconnected to without restarting the daemon.
///
/// Each open connection has a slot (0 ..< `limit`, the lowest free one when it connects): the
/// counters part a transaction writes is its daemon's and its slot's (`CounterParts`), so that two
/// workers of one daemon never wait for each other's part row.
final class ConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: every mutable property is read and written with `condition` locked.
    private let group: MultiThreadedEventLoopGroup
    private let postgresLocation: PostgresLocation
    private let settings: PostgresSessionSettings
    private let tls: PostgresConnection.Configuration.TLS
    private let logger: Logger
    private let limit: Int
    let location: String
    private let condition = NSCondition()
    private var idle: [PooledConnection] = []
    /// Slots of open connections, and of connections being opened.
    private var slots: Set<Int> = []
    private var open = 0
    private var nextID = 1
    private var closed = false

    /// How long connecting (TCP and the session's start) may take.
    static let connectTimeout: TimeAmount = .seconds(10)

    init(location: PostgresLocation, settings: PostgresSessionSettings, limit: Int, logger: Logger)
        throws(LedgerError)
    {
        self.postgresLocation = location
        self.settings = settings
        self.tls = try location.tlsSetting()
        self.location = location.redacted
        self.limit = max(1, limit)
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Runs `body` on a checked-out connection; a connection `body` found broken is not reused.
    func withConnection<T>(_ body: (PooledConnection) throws(LedgerError) -> T) throws(LedgerError) -> T {
        let connection = try checkout()
        do {
            let value = try body(connection)
            checkin(connection)
            return value
        } catch {
            checkin(connection)
            throw error
        }
    }

    /// A new connection outside the pool (the publisher role's session lock lives on one).
    func connect() throws(LedgerError) -> PostgresConnection {
        let id = condition.withLock {
            nextID += 1
            return nextID
        }
        let loop = group.next()
        var channel: (any Channel)?
        if postgresLocation.socketDirectory == nil {
            channel = try settings.connectTCP(
                host: postgresLocation.host ?? "localhost", port: postgresLocation.port, on: loop,
                timeout: Self.connectTimeout)
        }
        let configuration = postgresLocation.connectionConfiguration(settings: settings, tls: tls, channel: channel)
        do {
            return try PostgresConnection.connect(
                on: channel?.eventLoop ?? loop, configuration: configuration, id: id, logger: logger
            ).wait()
        } catch {
            channel?.close(promise: nil)
            throw PostgresErrors.map(error, "connect to \(location)")
        }
    }

    /// Closes every connection and the event loops; later calls fail with `.unavailable`.
    func shutdown() {
        let connections = condition.withLock {
            closed = true
            let list = idle
            idle = []
            condition.broadcast()
            return list
        }
        for pooled in connections { try? (pooled.connection.close() as EventLoopFuture<Void>).wait() }
        try? group.syncShutdownGracefully()
    }

    private func checkout() throws(LedgerError) -> PooledConnection {
        condition.lock()
        while true {
            if closed {
                condition.unlock()
                throw LedgerError(.unavailable, "the ledger at \(location) is closed")
            }
            if let pooled = idle.popLast() {
                if pooled.connection.isClosed {
                    open -= 1
                    slots.remove(pooled.slot)
                    continue
                }
                condition.unlock()
                return pooled
            }
            if open < limit {
                open += 1
                let slot = (0..<limit).first { !slots.contains($0) } ?? open - 1
                slots.insert(slot)
                condition.unlock()
                do {
                    return PooledConnection(connection: try connect(), slot: slot)
                } catch {
                    condition.withLock {
                        open -= 1
                        slots.remove(slot)
                        condition.signal()
                    }
                    throw error
                }
            }
            condition.wait()
        }
    }

    private func checkin(_ pooled: PooledConnection) {
        condition.lock()
        if pooled.connection.isClosed || closed {
            open -= 1
            slots.remove(pooled.slot)
            condition.signal()
            condition.unlock()
            if !pooled.connection.isClosed { pooled.connection.closeQuietly() }
            return
        }
        idle.append(pooled)
        condition.signal()
        condition.unlock()
    }
}

/// A connection of the pool, its slot, and what this process prepared on it.
///
/// @unchecked Sendable: a pooled connection is used by one thread at a time, the one that checked
/// it out (the pool hands it over under its lock), so its mutable properties need no lock of their own.
final class PooledConnection: @unchecked Sendable {
    let connection: PostgresConnection
    let slot: Int
    /// Statements prepared on this connection, by their SQL text (`PostgresSession.prepared`).
    var statements: [String: PreparedQuery] = [:]
    /// Counters parts known to have their row (`PostgresLedger.ensurePart`).
    var partsReady: Set<String> = []
    /// Counters parts' values as this connection last read or wrote them (`OneStatementTransitions`).
    var partValues: [String: PartValues] = [:]

    init(connection: PostgresConnection, slot: Int) {
        self.connection = connection
        self.slot = slot
    }
}
