import FaceCore
import FaceImage
import FaceEncoding
import FaceLedgerPostgres
import Foundation
import Logging

/// Everything `facewatch serve` can be told, resolved to values. Each setting is declared once, in
/// `Setting.all` (its key, syntax, default, help and whether a reload applies it); the initial values
/// below are placeholders that `init(root:)` replaces with the table's defaults.
///
/// Three layers, each overriding the one before: built-in defaults, the config file (`--config FILE`,
/// `key = value` lines, see `ConfigFile`), command-line flags. Every setting has one key, spelled
/// `max_bytes` in the file and `--max-bytes` on the command line; `Setting.all` lists them.
///
/// Paths: a relative `root` or `models` in the config file is relative to the file's directory; a
/// relative `inbox`, `store`, `results` or `db` (from the file or a flag) is relative to the root; any
/// other relative path given as a flag is relative to the current directory.
public struct DaemonConfiguration: Sendable, Equatable {
    /// The state root: the lock file, `stats.json` and, by default, every directory below.
    public var root: String
    /// Where files are dropped.
    public var inbox = ""
    /// Where originals are kept, as `<shard>/<uuid>.<ext>`.
    public var store = ""
    /// Where `<uuid>.json` result documents are written.
    public var results = ""
    /// The LMDB environment directory.
    public var database = ""
    /// Pictures of known people (watched, never moved).
    public var known = ""
    /// Largest face distance that names a known person.
    public var tolerance = 0.6
    /// Encoder workers; 0 means one per active processor core.
    public var workers = 0
    /// Files allowed in memory and in the encoders at once; 0 means twice the workers (four times on a
    /// PostgreSQL ledger).
    public var inFlight = 0
    /// Largest file accepted, in bytes.
    public var maxBytes = 0
    /// Largest image accepted, in pixels (width × height, read from the header).
    public var maxPixels = 0
    /// Memory the images being encoded may take at once, in bytes; nil: the default
    /// (`MemoryDefaults.budgetBytes`).
    public var memoryBudget: Int? = nil
    /// Engine options: upsampling, jitters, landmark model, detector.
    public var encoder = EncoderOptions()
    /// How long a file written in place must stay unchanged after its close before it is taken.
    public var settleMilliseconds = 0
    /// Where the daemon cannot see a file's writers (a network file system, no `CAP_LEASE`): how
    /// long, in seconds, a file no close was seen for must have been unchanged before it is taken.
    public var writerQuietSeconds = 0.0
    /// Reuse the faces of a completed file with the same SHA-256 instead of encoding again (the
    /// content was accepted once, so the limits are not checked again).
    public var dedup = true
    /// Least severe log level written to stderr.
    public var logLevel = Logger.Level.info
    /// The model directory, or nil to search the usual places (`FaceModels.locate`).
    public var models: String? = nil
    /// How long a graceful shutdown waits for running encodes, in seconds.
    public var shutdownTimeout = 0.0
    /// How `results/<uuid>.json` files are written.
    public var resultFormat = ResultFormat.pretty
    /// Initial size of the LMDB map, in bytes (it grows when full).
    public var mapSize = 0
    /// Where the ledger lives: `lmdb` (the LMDB environment in `database`) or a `postgres://` URL
    /// (a ledger and queue shared by several daemons). Holds the password the URL gives: log
    /// `ledgerLocation`, never this.
    public var ledger = "lmdb"
    /// How long a daemon's run stays alive in a shared ledger without renewing its lease, in seconds.
    public var ledgerLease = 30.0
    /// With a shared ledger: PostgreSQL's `lock_timeout` for the daemon's sessions, in seconds.
    public var ledgerLockTimeout = 5.0
    /// With a shared ledger: PostgreSQL's `statement_timeout`, in seconds.
    public var ledgerStatementTimeout = 60.0
    /// With a shared ledger: PostgreSQL's `idle_in_transaction_session_timeout`, in seconds.
    public var ledgerIdleTimeout = 60.0
    /// With a shared ledger over TCP: the keepalive idle time (and interval) of both ends, in seconds.
    public var ledgerKeepalive = 15.0
    /// Where the daemon writes the static HTML report (`FaceReport`), or nil for none.
    public var report: String? = nil
    /// How long a stored original is kept after its image came, in seconds; nil: for ever.
    public var keepOriginals: Double? = nil
    /// How long an image's record is kept before it is forgotten, in seconds; nil: for ever.
    public var keepResults: Double? = nil
    /// How often the daemon compacts the ledger after forgets, in seconds; nil: never.
    public var compactEvery: Double? = 86_400
    /// Whether each face's landmarks are kept in its record and shown in its document.
    public var resultLandmarks = false
    /// Largest face distance at which two faces are neighbours in the grouping into people.
    public var clusterDistance = 0.55
    /// Neighbours (itself included) a face needs to be a core face of a person.
    public var clusterMinFaces = 3
    /// Faces whose box's shorter side is under this many pixels take no part in people.
    public var clusterMinSize = 0
    /// Faces whose detection score is under this take no part in people.
    public var clusterMinScore = 0.3
    /// The config file these values were read from, if any (for a reload).
    public var configFile: String? = nil

    /// How result documents are laid out in files.
    public enum ResultFormat: String, Sendable, CaseIterable {
        /// Indented by two spaces; arrays of numbers stay on one line.
        case pretty
        /// One line.
        case compact
    }

    /// The default root when neither `--root`, the config file nor `$FACEWATCH_ROOT` gives one.
    public static let defaultRoot = "./var"
    /// The environment variable naming the default root.
    public static let rootEnvironmentVariable = "FACEWATCH_ROOT"
    /// The environment variable naming a config file read when `--config` is not given.
    public static let configEnvironmentVariable = "FACEWATCH_CONFIG"

    /// Whether the ledger is a PostgreSQL database (shared by several daemons).
    public var ledgerIsShared: Bool { PostgresLocation.isPostgresURL(ledger) }
    /// The ledger for logs and messages: the LMDB directory, or the URL without its password.
    public var ledgerLocation: String {
        guard ledgerIsShared else { return database }
        return (try? PostgresLocation(url: ledger).redacted) ?? PostgresLocation.redact(ledger)
    }

    /// `stats.json` in the root.
    public var statsFile: String { (root as NSString).appendingPathComponent("stats.json") }
    /// The lock file held by the running daemon.
    public var lockFile: String { RootLock.path(inRoot: root) }
    /// Image limits for the engine.
    public var limits: ImageLimits { ImageLimits(maxBytes: maxBytes, maxPixels: maxPixels) }
    /// `workers`, with 0 resolved to the active processor count.
    public var effectiveWorkers: Int { workers > 0 ? workers : max(1, ProcessInfo.processInfo.activeProcessorCount) }
    /// `memoryBudget`, with the default resolved.
    public var effectiveMemoryBudget: Int { memoryBudget ?? MemoryDefaults.budgetBytes() }
    /// `inFlight`, with 0 resolved to twice the effective workers, or four times on a PostgreSQL
    /// ledger: each file there waits for its round trips (claim, final commit) besides its encode,
    /// and more files in flight keep the workers busy meanwhile (`make bench`, part f).
    public var effectiveInFlight: Int { inFlight > 0 ? inFlight : (ledgerIsShared ? 4 : 2) * effectiveWorkers }

    /// The built-in defaults (`Setting.all`'s `defaultValue`s) for a root.
    public init(root: String) {
        self.root = Self.standardize(root)
        let origin = Setting.Origin(label: "default", baseDirectory: self.root)
        for setting in Setting.all where !setting.defaultValue.isEmpty && setting.key != "root" {
            do {
                try setting.apply(setting.defaultValue, to: &self, origin: origin)
            } catch {
                // A default the parser refuses is a bug in the table; ConfigurationTests catch it.
                preconditionFailure("the default of \(setting.key) is invalid: \(error)")
            }
        }
    }

    // MARK: - Resolving

    /// A value given on the command line, by key name (`max_bytes`, not `--max-bytes`).
    public typealias Flags = [String: String]

    /// Resolves defaults, then the config file, then `flags`.
    ///
    /// The config file is `configFile` if given, else `$FACEWATCH_CONFIG` if set, else none. The root
    /// is `flags["root"]`, else the file's `root`, else `$FACEWATCH_ROOT`, else `./var`.
    public static func resolve(
        configFile: String?, flags: Flags,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(ConfigurationError) -> DaemonConfiguration {
        let filePath = configFile ?? environment[configEnvironmentVariable].flatMap { $0.isEmpty ? nil : $0 }
        let file = try filePath.map { path throws(ConfigurationError) in
            try ConfigFile(contentsOf: absolute(path, relativeTo: currentDirectory))
        }
        return try resolve(file: file, flags: flags, environment: environment, currentDirectory: currentDirectory)
    }

    /// Resolves defaults, then `file`, then `flags`.
    public static func resolve(
        file: ConfigFile?, flags: Flags,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(ConfigurationError) -> DaemonConfiguration {
        let known = Set(Setting.all.map(\.key))
        if let file {
            for entry in file.entries where !known.contains(entry.key) {
                throw ConfigurationError(
                    "\(file.path):\(entry.line): unknown setting `\(entry.key)`; known: \(Setting.all.map(\.key).joined(separator: ", "))"
                )
            }
        }
        for key in flags.keys where !known.contains(key) {
            throw ConfigurationError("unknown setting `\(key)`")
        }
        let fileDirectory = file.map {
            (absolute($0.path, relativeTo: currentDirectory) as NSString).deletingLastPathComponent
        }

        // The root comes first: the directories default to places inside it.
        let root: String
        if let flag = flags["root"] {
            root = absolute(flag, relativeTo: currentDirectory)
        } else if let file, let fileRoot = file["root"], let fileDirectory {
            root = absolute(fileRoot, relativeTo: fileDirectory)
        } else if let fromEnvironment = environment[rootEnvironmentVariable], !fromEnvironment.isEmpty {
            root = absolute(fromEnvironment, relativeTo: currentDirectory)
        } else {
            root = absolute(defaultRoot, relativeTo: currentDirectory)
        }
        var configuration = DaemonConfiguration(root: root)
        configuration.configFile = file.map { absolute($0.path, relativeTo: currentDirectory) }

        if let file, let fileDirectory {
            for entry in file.entries where entry.key != "root" {
                guard let setting = Setting.named(entry.key) else { continue }
                let origin = Setting.Origin(
                    label: "\(file.path):\(entry.line): \(entry.key)", baseDirectory: fileDirectory)
                try setting.apply(entry.value, to: &configuration, origin: origin)
            }
        }
        for setting in Setting.all where setting.key != "root" {
            guard let value = flags[setting.key] else { continue }
            let origin = Setting.Origin(label: setting.flag, baseDirectory: currentDirectory)
            try setting.apply(value, to: &configuration, origin: origin)
        }
        return configuration
    }

    // MARK: - Paths

    /// `path` made absolute against `base` and standardized (`.` and `..` removed).
    public static func absolute(_ path: String, relativeTo base: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return standardize(expanded) }
        return standardize((base as NSString).appendingPathComponent(expanded))
    }

    package static func standardize(_ path: String) -> String {
        let standardized = (path as NSString).standardizingPath
        return standardized.isEmpty ? path : standardized
    }

    // MARK: - Description

    /// The settings as `(key, value)` pairs in the config file's syntax, in `Setting.all`'s order
    /// (logged at startup, compared by a reload).
    public var summary: [(String, String)] {
        Setting.all.map { ($0.key, $0.describe(self)) }
    }
}
