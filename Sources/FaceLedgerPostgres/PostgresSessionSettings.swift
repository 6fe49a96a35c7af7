import FaceLedger
import Foundation
import PostgresNIO

/// The limits every session of the ledger runs under, so that no daemon waits for ever on
/// another one, on an operator's open transaction, or on a connection that went silent.
///
/// - `lock`: `lock_timeout`. A statement that waits longer for a row another session holds fails
///   (SQLSTATE 55P03): the daemon logs why and tries the file again later; nothing waits behind it.
/// - `statement`: `statement_timeout` (57014), the same for a statement that runs too long.
/// - `idleInTransaction`: `idle_in_transaction_session_timeout` (25P03). The server ends a session
///   left inside a transaction (a daemon stopped with `SIGSTOP`, or cut off mid-transaction), so
///   its row locks are freed: a lease's expiry alone frees no database lock.
/// - `keepalive`: TCP keepalives of both ends: the server's (`tcp_keepalives_idle` and
///   `_interval`, 3 probes: it ends the session of a host that vanished, freeing its locks) and the
///   daemon's socket (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`: a statement
///   waiting for a reply on a dead connection fails instead of waiting for ever). A Unix socket
///   has none.
///
/// They are sent in the connection's startup message (no extra round trip), so they hold for every
/// statement from the first one on.
public struct PostgresSessionSettings: Sendable, Equatable {
    public var lock: Duration
    public var statement: Duration
    public var idleInTransaction: Duration
    public var keepalive: Duration
    /// Keepalive probes that go unanswered before a connection is dead.
    static let keepaliveProbes = 3

    public init(
        lock: Duration = .seconds(5), statement: Duration = .seconds(60), idleInTransaction: Duration = .seconds(60),
        keepalive: Duration = .seconds(15)
    ) {
        self.lock = lock
        self.statement = statement
        self.idleInTransaction = idleInTransaction
        self.keepalive = keepalive
    }

    /// The run-time parameters of the startup message.
    var startupParameters: [(String, String)] {
        let keepaliveSeconds = String(Self.wholeSeconds(keepalive))
        return [
            ("lock_timeout", String(Self.milliseconds(lock))),
            ("statement_timeout", String(Self.milliseconds(statement))),
            ("idle_in_transaction_session_timeout", String(Self.milliseconds(idleInTransaction))),
            ("tcp_keepalives_idle", keepaliveSeconds),
            ("tcp_keepalives_interval", keepaliveSeconds),
            ("tcp_keepalives_count", String(Self.keepaliveProbes)),
            ("application_name", "facewatch"),
        ]
    }

    /// A TCP connection to `host:port` with keepalives on, for postgres-nio to start a session on.
    /// - Throws: `.unavailable` when it cannot connect within `timeout`.
    func connectTCP(host: String, port: Int, on loop: any EventLoop, timeout: TimeAmount) throws(LedgerError)
        -> any Channel
    {
        let seconds = Int(Self.wholeSeconds(keepalive))
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .channelOption(ChannelOptions.Types.SocketOption(level: IPPROTO_TCP, name: TCP_KEEPIDLE), value: seconds)
            .channelOption(ChannelOptions.Types.SocketOption(level: IPPROTO_TCP, name: TCP_KEEPINTVL), value: seconds)
            .channelOption(
                ChannelOptions.Types.SocketOption(level: IPPROTO_TCP, name: TCP_KEEPCNT),
                value: Self.keepaliveProbes)
        do {
            return try bootstrap.connect(host: host, port: port).wait()
        } catch {
            throw LedgerError(.unavailable, "cannot connect to \(host):\(port): \(error)")
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    static func wholeSeconds(_ duration: Duration) -> Int64 {
        max(1, (milliseconds(duration) + 999) / 1000)
    }
}
