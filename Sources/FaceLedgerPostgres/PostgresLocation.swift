import FaceLedger
import Foundation
import PostgresNIO

/// Where a PostgreSQL ledger lives, read from a `postgres://` URL as libpq reads one:
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=MODE&host=/socket/dir`.
///
/// - user, password, host, port (5432) and database from the URL; the user defaults to the process's
///   user name and the database to the user;
/// - `host=/dir` in the query (libpq's spelling) connects over the Unix socket `/dir/.s.PGSQL.PORT`;
/// - `sslmode`: `disable`, `prefer` (the default: TLS when the server offers it, certificate not
///   checked), `require` (TLS or fail, certificate not checked), `verify-ca` (checked against the
///   system's roots), `verify-full` (and the host name). A Unix socket never uses TLS.
///
/// - a password the URL does not give is looked for as libpq does (`PostgresPassword`): the
///   `passfile=` parameter, `PGPASSWORD`, `PGPASSFILE`, `~/.pgpass`.
///
/// The password is never part of `redacted`, which is what logs and messages show.
public struct PostgresLocation: Sendable, Equatable {
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    /// The TCP host, or nil with `socketDirectory`.
    public var host: String?
    public var port: Int
    public var socketDirectory: String?
    public var database: String
    public var tls: TLSMode
    /// Whether the password was written in the URL itself (rather than found in a password file
    /// or the environment): then whatever holds the URL holds the password.
    public var passwordInURL: Bool
    /// Why a password file was passed over, when one was (logged by the daemon at start).
    public var passwordFileIgnored: String?

    /// Parses a `postgres://` or `postgresql://` URL.
    /// - Throws: `LedgerError(.invalidArgument)` naming what is wrong (never the password).
    public init(url text: String) throws(LedgerError) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else {
            throw LedgerError(.invalidArgument, "not a postgres:// URL: \(Self.redact(text))")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        for key in query.keys
        where !["sslmode", "host", "port", "user", "password", "dbname", "passfile"].contains(key) {
            throw LedgerError(.invalidArgument, "unknown parameter `\(key)` in \(Self.redact(text))")
        }
        user = query["user"] ?? components.user ?? ProcessInfo.processInfo.userName
        password = query["password"] ?? components.password
        if let socket = query["host"], socket.hasPrefix("/") {
            socketDirectory = socket
            host = nil
        } else {
            let named = query["host"] ?? components.host
            host = (named?.isEmpty ?? true) ? "localhost" : named
            socketDirectory = nil
        }
        if let portText = query["port"] {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw LedgerError(.invalidArgument, "bad port `\(portText)` in \(Self.redact(text))")
            }
            port = value
        } else {
            port = components.port ?? 5432
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = query["dbname"] ?? (path.isEmpty ? user : path)
        let mode = query["sslmode"] ?? "prefer"
        guard let tls = TLSMode(rawValue: mode) else {
            throw LedgerError(
                .invalidArgument,
                "sslmode `\(mode)` is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.tls = tls
        passwordInURL = password != nil
        passwordFileIgnored = nil
        if password == nil {
            (password, passwordFileIgnored) = PostgresPassword.find(for: self, passfile: query["passfile"])
        }
    }

    /// Whether `text` names a PostgreSQL ledger (rather than `lmdb`).
    public static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// The URL as logs show it: without the password.
    public var redacted: String {
        var text = "postgres://\(user)@"
        text += socketDirectory == nil ? "\(host ?? "localhost"):\(port)" : ""
        text += "/\(database)"
        var parameters: [String] = []
        if let socketDirectory { parameters.append("host=\(socketDirectory)") }
        if socketDirectory != nil && port != 5432 { parameters.append("port=\(port)") }
        if tls != .prefer { parameters.append("sslmode=\(tls.rawValue)") }
        return parameters.isEmpty ? text : text + "?" + parameters.joined(separator: "&")
    }

    /// `text` with any password taken out, for a message about a URL that could not be parsed.
    public static func redact(_ text: String) -> String {
        guard var components = URLComponents(string: text) else { return "(an unreadable URL)" }
        if components.password != nil { components.password = "***" }
        if var items = components.queryItems {
            for index in items.indices where items[index].name == "password" { items[index].value = "***" }
            components.queryItems = items
        }
        return components.string ?? "(an unreadable URL)"
    }

    /// The TLS postgres-nio uses for this location (`.disable` over a Unix socket).
    /// - Throws: `LedgerError(.invalidArgument)` when the TLS context cannot be made.
    func tlsSetting() throws(LedgerError) -> PostgresConnection.Configuration.TLS {
        guard socketDirectory == nil else { return .disable }
        let tlsSetting: PostgresConnection.Configuration.TLS
        if tls == .disable {
            tlsSetting = .disable
        } else {
            var configuration = TLSConfiguration.makeClientConfiguration()
            switch tls {
            case .verifyFull: configuration.certificateVerification = .fullVerification
            case .verifyCA: configuration.certificateVerification = .noHostnameVerification
            default: configuration.certificateVerification = .none
            }
            let context: NIOSSLContext
            do {
                context = try NIOSSLContext(configuration: configuration)
            } catch {
                throw LedgerError(.invalidArgument, "cannot set up TLS for \(redacted): \(error)")
            }
            tlsSetting = tls == .prefer ? .prefer(context) : .require(context)
        }
        return tlsSetting
    }

    /// postgres-nio's configuration for a session at this location under `settings`: over TCP on
    /// `channel` (connected with keepalives by `PostgresSessionSettings.connectTCP`), else over the
    /// Unix socket.
    func connectionConfiguration(
        settings: PostgresSessionSettings, tls: PostgresConnection.Configuration.TLS,
        channel: (any Channel)?
    ) -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let channel {
            configuration = PostgresConnection.Configuration(
                establishedChannel: channel, tls: tls, username: user, password: password, database: database)
            // The host name checks the certificate (verify-full) and is sent as SNI.
            if let host, !host.allSatisfy({ $0.isNumber || $0 == "." }), !host.contains(":") {
                configuration.options.tlsServerName = host
            }
        } else {
            let path = ((socketDirectory ?? "/run/postgresql") as NSString).appendingPathComponent(".s.PGSQL.\(port)")
            configuration = PostgresConnection.Configuration(
                unixSocketPath: path, username: user, password: password, database: database)
        }
        configuration.options.additionalStartupParameters = settings.startupParameters
        return configuration
    }
}
