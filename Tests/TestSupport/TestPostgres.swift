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

    /// Runs one SQL query with `psql` as the cluster's superuser and returns its output, trimmed
    /// (unaligned, tuples only: `1|x` per row).
    /// - Throws: when psql fails.
    public static func query(socket: String, database: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [
            "-h", socket, "-U", "postgres", "-d", database, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestPostgresError(message: "psql \(sql) failed") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
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

extension TestPostgres {
    /// A cluster of a test's own (scripts/test_postgres.sh), for a test that stops and starts the
    /// server. The test calls `remove()` when done (a `defer` cannot await).
    public struct PrivateCluster: Sendable {
        /// The cluster's directory (its socket is in `socket/`).
        public let directory: String

        /// Starts one.
        /// - Throws: when the script fails.
        public static func start() async throws -> PrivateCluster {
            PrivateCluster(directory: try await script(["start"]).trimmingCharacters(in: .whitespacesAndNewlines))
        }

        /// The socket directory.
        public var socket: String { directory + "/socket" }

        /// Stops the server at once, as a crash would.
        /// - Throws: when the script fails.
        public func halt() async throws { _ = try await Self.script(["halt", directory]) }

        /// Starts the server again.
        /// - Throws: when the script fails.
        public func resume() async throws { _ = try await Self.script(["resume", directory]) }

        /// Stops the server and deletes the cluster.
        public func remove() async { _ = try? await Self.script(["stop", directory]) }

        /// A new database; its ledger URL.
        /// - Throws: when psql fails.
        public func database() async throws -> String {
            let name = "fw_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let output = try await runProgram(
                "/usr/bin/psql",
                ["-h", socket, "-U", "postgres", "-d", "postgres", "-qAt", "-c", "CREATE DATABASE \(name)"])
            guard output.status == 0 else { throw TestPostgresError(message: "psql: \(output.stderr)") }
            return "postgres://postgres@/\(name)?host=\(socket)"
        }

        private static func script(_ arguments: [String]) async throws -> String {
            let output = try await runProgram(repositoryRoot + "/scripts/test_postgres.sh", arguments)
            guard output.status == 0 else {
                throw TestPostgresError(
                    message: "test_postgres.sh \(arguments.joined(separator: " ")): \(output.stderr)")
            }
            return output.stdout
        }
    }
}

/// psql failed.
public struct TestPostgresError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
