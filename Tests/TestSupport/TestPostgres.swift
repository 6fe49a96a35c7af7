import Foundation

/// The throwaway PostgreSQL cluster `make test` starts (scripts/test_postgres.sh): its socket
/// directory is in `FACEWATCH_TEST_POSTGRES`. Each test takes a fresh database of its own.
public enum TestPostgres {
    /// The environment variable naming the cluster's socket directory.
    public static let environmentVariable = "FACEWATCH_TEST_POSTGRES"

    /// The socket directory, or nil when no cluster was started (`swift test` outside `make test`).
    public static var socketDirectory: String? {
        ProcessInfo.processInfo.environment[environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether the PostgreSQL tests can run.
    public static var isAvailable: Bool { socketDirectory != nil }

    /// Creates a new, empty database and returns the ledger URL of it (user `postgres`, trusted on
    /// the socket), or nil when no cluster is available.
    /// - Throws: when `psql` cannot create it.
    public static func freshDatabase(user: String = "postgres", password: String? = nil) throws -> String? {
        guard let socket = socketDirectory else { return nil }
        let name = "fw_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try psql(socket: socket, "CREATE DATABASE \(name)")
        let credentials =
            password.map { "\(user):\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? user
        return "postgres://\(credentials)@/\(name)?host=\(socket)"
    }

    /// Runs one SQL command with `psql` as the cluster's superuser.
    /// - Throws: when psql fails.
    public static func psql(socket: String, database: String = "postgres", _ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [
            "-h", socket, "-U", "postgres", "-d", database, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", command,
        ]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw TestPostgresError(message: "psql \(command): \(text)")
        }
    }
}

/// psql failed.
public struct TestPostgresError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
