import FaceCore
import FaceEncoding
import Foundation
import Logging

/// Everything `facewatch serve` can be told, resolved to values.
///
/// Three layers, each overriding the one before: built-in defaults, the config file (`--config FILE`,
/// `key = value` lines, see `ConfigFile`), command-line flags. Every setting has one key, spelled
/// `max_bytes` in the file and `--max-bytes` on the command line; `DaemonConfiguration.keys` lists them.
///
/// Paths: a relative `root` or `models` in the config file is relative to the file's directory; a
/// relative `inbox`, `store`, `results` or `db` (from the file or a flag) is relative to the root; any
/// other relative path given as a flag is relative to the current directory.
public struct DaemonConfiguration: Sendable, Equatable {
    /// The state root: the lock file, `stats.json` and, by default, every directory below.
    public var root: String
    /// Where files are dropped.
    public var inbox: String
    /// Where originals are kept, as `<shard>/<uuid>.<ext>`.
    public var store: String
    /// Where `<uuid>.json` result documents are written.
    public var results: String
    /// The LMDB environment directory.
    public var database: String
    /// Encoder workers; 0 means one per active processor core.
    public var workers: Int
    /// Files allowed in memory and in the encoders at once; 0 means twice the workers.
    public var inFlight: Int
    /// Largest file accepted, in bytes.
    public var maxBytes: Int
    /// Largest image accepted, in pixels (width × height, read from the header).
    public var maxPixels: Int
    /// Engine options: upsampling, jitters, landmark model, detector.
    public var encoder: EncoderOptions
    /// How long a file written in place must stay unchanged after its close before it is taken.
    public var settleMilliseconds: Int
    /// Reuse the faces of a completed file with the same SHA-256 instead of encoding again (the
    /// content was accepted once, so the limits are not checked again).
    public var dedup: Bool
    /// Least severe log level written to stderr.
    public var logLevel: Logger.Level
    /// The model directory, or nil to search the usual places (`FaceModels.locate`).
    public var models: String?
    /// How long a graceful shutdown waits for running encodes, in seconds.
    public var shutdownTimeout: Double
    /// How `results/<uuid>.json` files are written.
    public var resultFormat: ResultFormat
    /// Initial size of the LMDB map, in bytes (it grows when full).
    public var mapSize: Int
    /// The config file these values were read from, if any (for a reload).
    public var configFile: String?

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

    /// `stats.json` in the root.
    public var statsFile: String { (root as NSString).appendingPathComponent("stats.json") }
    /// The lock file held by the running daemon.
    public var lockFile: String { RootLock.path(inRoot: root) }
    /// Image limits for the engine.
    public var limits: ImageLimits { ImageLimits(maxBytes: maxBytes, maxPixels: maxPixels) }
    /// `workers`, with 0 resolved to the active processor count.
    public var effectiveWorkers: Int { workers > 0 ? workers : max(1, ProcessInfo.processInfo.activeProcessorCount) }
    /// `inFlight`, with 0 resolved to twice the effective workers.
    public var effectiveInFlight: Int { inFlight > 0 ? inFlight : 2 * effectiveWorkers }

    /// The built-in defaults for a root.
    public init(root: String) {
        let root = Self.standardize(root)
        self.root = root
        inbox = (root as NSString).appendingPathComponent("inbox")
        store = (root as NSString).appendingPathComponent("store")
        results = (root as NSString).appendingPathComponent("results")
        database = (root as NSString).appendingPathComponent("db")
        workers = 0
        inFlight = 0
        maxBytes = 50_000_000
        maxPixels = 50_000_000
        encoder = EncoderOptions()
        settleMilliseconds = 250
        dedup = true
        logLevel = .info
        models = nil
        shutdownTimeout = 30
        resultFormat = .pretty
        mapSize = 1 << 30
        configFile = nil
    }

    // MARK: - Keys

    /// One setting: its key in the file, its flag, and what values it takes.
    public struct Key: Sendable {
        /// The name in the config file.
        public var name: String
        /// Accepted values, for help texts and error messages.
        public var syntax: String
        /// What the setting does.
        public var help: String
        /// The command-line flag: `--` and the name with `_` as `-`.
        public var flag: String { "--" + name.replacingOccurrences(of: "_", with: "-") }
    }

    /// Every setting, in the order the documentation lists them.
    public static let keys: [Key] = [
        Key(name: "root", syntax: "DIR", help: "state root (default $FACEWATCH_ROOT or ./var)"),
        Key(name: "inbox", syntax: "DIR", help: "drop directory (default ROOT/inbox)"),
        Key(name: "store", syntax: "DIR", help: "originals (default ROOT/store)"),
        Key(name: "results", syntax: "DIR", help: "result documents (default ROOT/results)"),
        Key(name: "db", syntax: "DIR", help: "LMDB environment (default ROOT/db)"),
        Key(name: "workers", syntax: "N", help: "encoder workers; 0 = one per core (default 0)"),
        Key(name: "in_flight", syntax: "N", help: "files held at once; 0 = 2 x workers (default 0)"),
        Key(name: "max_bytes", syntax: "SIZE", help: "largest file, e.g. 50MB (default 50MB)"),
        Key(name: "max_pixels", syntax: "N", help: "largest image in pixels, e.g. 50M (default 50M)"),
        Key(name: "upsample", syntax: "N", help: "times the image is doubled before detection (default 1)"),
        Key(name: "jitters", syntax: "N", help: "jittered chips averaged per face (default 1)"),
        Key(name: "landmarks", syntax: "small|large", help: "5- or 68-point landmarks (default small)"),
        Key(name: "detector", syntax: "hog|cnn", help: "face detector (default hog)"),
        Key(name: "settle_ms", syntax: "MS", help: "quiet time after a close before a file is taken (default 250)"),
        Key(name: "dedup", syntax: "BOOL", help: "reuse faces of identical content (default true)"),
        Key(name: "log_level", syntax: "LEVEL", help: "trace|debug|info|notice|warning|error|critical (default info)"),
        Key(name: "models", syntax: "DIR", help: "model directory (default: searched)"),
        Key(name: "shutdown_timeout", syntax: "DURATION", help: "wait for running encodes at shutdown, e.g. 30s (default 30s)"),
        Key(name: "result_format", syntax: "pretty|compact", help: "layout of results/<uuid>.json (default pretty)"),
        Key(name: "map_size", syntax: "SIZE", help: "initial LMDB map size, grows when full (default 1GiB)"),
    ]

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
        let known = Set(keys.map(\.name))
        if let file {
            for entry in file.entries where !known.contains(entry.key) {
                throw ConfigurationError("\(file.path):\(entry.line): unknown setting `\(entry.key)`; known: \(keys.map(\.name).joined(separator: ", "))")
            }
        }
        for key in flags.keys where !known.contains(key) {
            throw ConfigurationError("unknown setting `\(key)`")
        }
        let fileDirectory = file.map { (absolute($0.path, relativeTo: currentDirectory) as NSString).deletingLastPathComponent }

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
                try configuration.apply(
                    key: entry.key, value: entry.value, origin: "\(file.path):\(entry.line): \(entry.key)",
                    baseDirectory: fileDirectory)
            }
        }
        for key in keys.map(\.name) where key != "root" {
            guard let value = flags[key] else { continue }
            let flag = "--" + key.replacingOccurrences(of: "_", with: "-")
            try configuration.apply(key: key, value: value, origin: flag, baseDirectory: currentDirectory)
        }
        return configuration
    }

    /// Sets one key from its text. `origin` names where the value came from, for errors;
    /// `baseDirectory` is what a relative `models` path is relative to.
    mutating func apply(key: String, value: String, origin: String, baseDirectory: String) throws(ConfigurationError) {
        func invalid(_ expected: String) -> ConfigurationError {
            ConfigurationError("\(origin): expected \(expected), got `\(value)`")
        }
        func integer(_ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
                throw invalid("a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        func size(_ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let number = ValueParsing.byteCount(value), range.contains(number) else {
                throw invalid("a size such as 50MB or 48MiB, at least \(range.lowerBound)")
            }
            return number
        }
        func path() throws(ConfigurationError) -> String {
            guard !value.isEmpty else { throw invalid("a directory") }
            return Self.absolute(value, relativeTo: root)
        }
        switch key {
        case "inbox": inbox = try path()
        case "store": store = try path()
        case "results": results = try path()
        case "db": database = try path()
        case "workers": workers = try integer(0...256)
        case "in_flight": inFlight = try integer(0...4096)
        case "max_bytes": maxBytes = try size(1...Int(Int32.max) * 4)
        case "max_pixels": maxPixels = try size(1...Int(Int32.max))
        case "upsample": encoder.upsample = try integer(EncoderOptions.upsampleRange)
        case "jitters": encoder.jitters = try integer(EncoderOptions.jittersRange)
        case "landmarks":
            guard let landmarks = Landmarks(rawValue: value.lowercased()) else { throw invalid("small or large") }
            encoder.landmarks = landmarks
        case "detector":
            guard let detector = DetectorKind(rawValue: value.lowercased()) else { throw invalid("hog or cnn") }
            encoder.detector = detector
        case "settle_ms": settleMilliseconds = try integer(0...60_000)
        case "dedup":
            guard let flag = ValueParsing.bool(value) else { throw invalid("true or false") }
            dedup = flag
        case "log_level":
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                throw invalid(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))
            }
            logLevel = level
        case "models":
            guard !value.isEmpty else { throw invalid("a directory") }
            models = Self.absolute(value, relativeTo: baseDirectory)
        case "shutdown_timeout":
            guard let seconds = ValueParsing.seconds(value), seconds <= 86_400 else {
                throw invalid("a duration such as 30s or 2m")
            }
            shutdownTimeout = seconds
        case "result_format":
            guard let format = ResultFormat(rawValue: value.lowercased()) else { throw invalid("pretty or compact") }
            resultFormat = format
        case "map_size": mapSize = try size(1 << 20...1 << 40)
        default: throw ConfigurationError("\(origin): unknown setting")
        }
    }

    // MARK: - Paths

    /// `path` made absolute against `base` and standardized (`.` and `..` removed).
    public static func absolute(_ path: String, relativeTo base: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if expanded.hasPrefix("/") { return standardize(expanded) }
        return standardize((base as NSString).appendingPathComponent(expanded))
    }

    static func standardize(_ path: String) -> String {
        let standardized = (path as NSString).standardizingPath
        return standardized.isEmpty ? path : standardized
    }

    // MARK: - Description

    /// The settings as `key = value` lines, in the config file's syntax (logged at startup).
    public var summary: [(String, String)] {
        [
            ("root", root), ("inbox", inbox), ("store", store), ("results", results), ("db", database),
            ("workers", String(effectiveWorkers)), ("in_flight", String(effectiveInFlight)),
            ("max_bytes", String(maxBytes)), ("max_pixels", String(maxPixels)),
            ("upsample", String(encoder.upsample)), ("jitters", String(encoder.jitters)),
            ("landmarks", encoder.landmarks.rawValue), ("detector", encoder.detector.rawValue),
            ("settle_ms", String(settleMilliseconds)), ("dedup", String(dedup)),
            ("log_level", logLevel.rawValue), ("models", models ?? "(searched)"),
            ("shutdown_timeout", String(shutdownTimeout)), ("result_format", resultFormat.rawValue),
            ("map_size", String(mapSize)),
        ]
    }
}
