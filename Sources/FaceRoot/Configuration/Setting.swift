import FaceEncoding
import FaceLedger
import FaceLedgerPostgres
import Foundation
import Logging

/// One setting of `facewatch serve`, declared once in `Setting.all`.
///
/// The table is the only place a setting is described: the config-file parser, the defaults of
/// `DaemonConfiguration`, the startup summary, what a SIGHUP reload changes, the `serve` options'
/// help and docs/configuration.md's settings table all come from it. To add a setting: a stored property on
/// `DaemonConfiguration`, one row here, one `@Option` in `ServeCommand` (a test fails until the option
/// exists), and `make settings-table` for docs/configuration.md.
public struct Setting: Sendable, Identifiable {
    /// The key in the config file (`max_bytes`); the flag is the same with `-` (`--max-bytes`).
    public let key: String
    /// What values look like, for help and errors: `N`, `SIZE`, `DURATION`, `small|large`.
    public let syntax: String
    /// The built-in value, in the setting's own syntax (empty: none). `DaemonConfiguration(root:)`
    /// applies it through the same parser as a config file's value.
    public let defaultValue: String
    /// Whether a SIGHUP reload applies a change without a restart.
    public let reloadable: Bool
    /// What the setting does, in one line.
    public let help: String
    /// Sets the value from text; throws with `origin` in the message.
    fileprivate let assign: @Sendable (inout DaemonConfiguration, String, Origin) throws(ConfigurationError) -> Void
    /// The value in force, in the setting's syntax (the startup summary, reload comparisons).
    public let describe: @Sendable (DaemonConfiguration) -> String
    /// Copies this setting's value from one configuration to another (a reload).
    public let transfer: @Sendable (DaemonConfiguration, inout DaemonConfiguration) -> Void

    public var id: String { key }

    /// The command-line flag: `--` and the key with `_` as `-`.
    public var flag: String { "--" + key.replacingOccurrences(of: "_", with: "-") }

    /// Where a value came from: for error messages, and what a relative path is relative to.
    package struct Origin {
        /// `file.conf:3: workers`, or `--workers`.
        var label: String
        /// The config file's directory for a value from a file; the current directory for a flag.
        var baseDirectory: String
    }

    /// The setting named `key`, or nil.
    public static func named(_ key: String) -> Setting? {
        all.first { $0.key == key }
    }

    /// The help line of the setting named `key` with its default, for the command line's help.
    public static func help(for key: String) -> String {
        guard let setting = named(key) else { return "" }
        let shown = setting.defaultValue.isEmpty ? "" : " (default \(setting.defaultShown))"
        return setting.help.prefix(1).uppercased() + setting.help.dropFirst() + shown + "."
    }

    /// The default as documentation shows it: directories under the root as `ROOT/inbox`.
    public var defaultShown: String {
        if syntax == "DIR" && key != "root" && key != "models" { return "ROOT/" + defaultValue }
        return defaultValue.isEmpty ? "searched" : defaultValue
    }

    /// Applies `value`.
    /// - Throws: `ConfigurationError` naming `origin` when the value is not valid for this setting.
    package func apply(_ value: String, to configuration: inout DaemonConfiguration, origin: Origin)
        throws(ConfigurationError)
    {
        try assign(&configuration, value, origin)
    }
}

// MARK: - The table

extension Setting {
    /// Every setting, in the order the documentation lists them.
    public static let all: [Setting] = [
        Setting(
            key: "root", syntax: "DIR", defaultValue: DaemonConfiguration.defaultRoot, reloadable: false,
            help: "the state root: lock, stats.json, metrics.prom and the directories below ($FACEWATCH_ROOT)",
            // Resolved first, by `DaemonConfiguration.resolve`: every other path depends on it.
            assign: { _, _, _ throws(ConfigurationError) in }, describe: { $0.root }, transfer: { _, _ in }),
        .directory("inbox", \.inbox, help: "where files are dropped"),
        .directory("store", \.store, help: "where originals are kept; may be on another file system"),
        .directory("results", \.results, help: "where results/<uuid>.json documents are written"),
        .directory("db", \.database, help: "the LMDB environment, the truth"),
        .directory(
            "known", \.known,
            help: "pictures of known people, watched and never moved: known/alice.jpg or known/alice/*.jpg"),
        .stored(
            "tolerance", \.tolerance, syntax: "NUMBER", default: "0.6", reloadable: false,
            help: "largest face distance that names a known person (face_recognition's --tolerance)",
            expected: "a number from 0 to 2",
            parse: { text, _ in
                Double(text.trimmingCharacters(in: .whitespaces)).flatMap { (0...2).contains($0) ? $0 : nil }
            },
            show: { String($0) }),
        .integer(
            "workers", \.workers, 0...256, default: "0", reloadable: true,
            help: "encoder workers; 0 means one per CPU core"),
        .integer(
            "in_flight", \.inFlight, 0...4096, default: "0", reloadable: true,
            help: "files held in memory and the encoders at once; 0 means twice the workers (four times on PostgreSQL)"),
        .size(
            "max_bytes", \.maxBytes, 1...Int(Int32.max) * 4, default: "50MB", reloadable: true,
            help: "largest accepted file"),
        .size(
            "max_pixels", \.maxPixels, 1...Int(Int32.max), default: "50M", reloadable: true,
            help: "largest accepted image in pixels (width x height, from its header)"),
        Setting(
            key: "memory_budget", syntax: "SIZE|auto", defaultValue: "auto", reloadable: true,
            help:
                "memory the images being encoded may take at once; auto: 3/4 of the cgroup's memory.high or memory.max, else half the RAM",
            assign: { configuration, value, origin throws(ConfigurationError) in
                if value.trimmingCharacters(in: .whitespaces).lowercased() == "auto" {
                    configuration.memoryBudget = nil
                    return
                }
                guard let bytes = ValueParsing.byteCount(value), bytes >= 1 << 20 else {
                    throw invalid(origin, "auto or a size such as 4GiB, at least 1MiB", value)
                }
                configuration.memoryBudget = bytes
            },
            describe: { $0.memoryBudget.map(String.init) ?? "auto" }, transfer: { $1.memoryBudget = $0.memoryBudget }),
        .integer(
            "upsample", \.encoder.upsample, EncoderOptions.upsampleRange, default: "1", reloadable: false,
            help: "times the image is doubled before detection"),
        .integer(
            "jitters", \.encoder.jitters, EncoderOptions.jittersRange, default: "1", reloadable: false,
            help: "jittered copies of each face averaged"),
        .choice(
            "landmarks", \.encoder.landmarks, default: .small, reloadable: false,
            help: "5-point (small) or 68-point (large) landmarks"),
        .choice("detector", \.encoder.detector, default: .hog, reloadable: false, help: "the face detector"),
        .boolean(
            "result_landmarks", \.resultLandmarks, default: false, reloadable: false,
            help: "keep each face's landmarks (5 or 68 points, per landmarks) and show them in its result"),
        .integer(
            "settle_ms", \.settleMilliseconds, 0...60_000, default: "250", reloadable: false,
            help: "quiet time, in ms, after a file written in place is closed before it is taken"),
        .duration(
            "writer_quiet", \.writerQuietSeconds, default: "10m", reloadable: true,
            help:
                "where writers cannot be seen (NFS, SMB, no CAP_LEASE): how long a file found without a seen close must be unchanged before it is taken"
        ),
        .boolean(
            "dedup", \.dedup, default: true, reloadable: true,
            help: "reuse the faces of identical content instead of encoding it again"),
        .choice(
            "log_level", \.logLevel, default: .info, reloadable: true, help: "least severe level logged to stderr"),
        Setting(
            key: "models", syntax: "DIR", defaultValue: "", reloadable: false,
            help: "model directory (default: $FACEWATCH_MODELS, ./models, PREFIX/share/facewatch/models)",
            assign: { configuration, value, origin throws(ConfigurationError) in
                // Relative to the config file's directory (or, for a flag, the current one).
                configuration.models =
                    value.isEmpty ? nil : DaemonConfiguration.absolute(value, relativeTo: origin.baseDirectory)
            },
            describe: { $0.models ?? "" }, transfer: { $1.models = $0.models }),
        .duration(
            "shutdown_timeout", \.shutdownTimeout, default: "30s", reloadable: true,
            help: "how long a graceful stop waits for the files being encoded"),
        .choice(
            "result_format", \.resultFormat, default: .pretty, reloadable: false,
            help: "layout of results/<uuid>.json"),
        .size(
            "map_size", \.mapSize, 1 << 20...1 << 40, default: "1GiB", reloadable: false,
            help: "initial LMDB map size; it grows when full"),
        Setting(
            key: "ledger", syntax: "lmdb|URL", defaultValue: "lmdb", reloadable: false,
            help:
                "where the ledger lives: lmdb (in db) or postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=MODE, shared by several daemons",
            assign: { configuration, value, origin throws(ConfigurationError) in
                let text = value.trimmingCharacters(in: .whitespaces)
                if text.lowercased() == "lmdb" {
                    configuration.ledger = "lmdb"
                    return
                }
                guard PostgresLocation.isPostgresURL(text) else {
                    throw invalid(origin, "lmdb or a postgres:// URL", PostgresLocation.redact(text))
                }
                do throws(LedgerError) {
                    _ = try PostgresLocation(url: text)
                } catch {
                    throw ConfigurationError("\(origin.label): \(error.message)")
                }
                configuration.ledger = text
            },
            // The password stays out of the startup summary and every message.
            describe: { $0.ledgerIsShared ? $0.ledgerLocation : "lmdb" },
            transfer: { $1.ledger = $0.ledger }),
        .duration(
            "ledger_lease", \.ledgerLease, default: "30s", reloadable: false,
            help:
                "with a postgres ledger: how long a daemon that stops renewing its lease (every third of it) keeps its files before others take them"
        ),
        .duration(
            "ledger_lock_timeout", \.ledgerLockTimeout, default: "5s", reloadable: false,
            help:
                "with a postgres ledger: how long a statement waits for a row another session holds before it gives up (logged, tried again later)"
        ),
        .duration(
            "ledger_statement_timeout", \.ledgerStatementTimeout, default: "60s", reloadable: false,
            help: "with a postgres ledger: how long one statement may run before the server cancels it"),
        .duration(
            "ledger_idle_timeout", \.ledgerIdleTimeout, default: "60s", reloadable: false,
            help:
                "with a postgres ledger: how long the server keeps a session idle inside a transaction (a daemon stopped or cut off mid-transaction) before it ends it and frees its locks"
        ),
        .duration(
            "ledger_keepalive", \.ledgerKeepalive, default: "15s", reloadable: false,
            help:
                "with a postgres ledger over TCP: after how long a silent connection is probed (both ends; dead after 3 more such periods)"
        ),
        Setting(
            key: "report", syntax: "DIR|off", defaultValue: "off", reloadable: false,
            help: "the static HTML report, rewritten at most once a minute when the counts changed (relative to ROOT)",
            assign: { configuration, value, origin throws(ConfigurationError) in
                let text = value.trimmingCharacters(in: .whitespaces)
                configuration.report =
                    text.isEmpty || text == "off"
                    ? nil : DaemonConfiguration.absolute(text, relativeTo: configuration.root)
            },
            describe: { $0.report ?? "off" }, transfer: { $1.report = $0.report }),
        .retention(
            "keep_originals", \.keepOriginals,
            help: "how long a stored original is kept after the image came; then it is removed and the result stays"),
        .retention(
            "keep_results", \.keepResults,
            help: "how long an image is kept; then it is forgotten everywhere (facewatch forget), a tombstone stays"),
        .stored(
            "compact_every", \.compactEvery, syntax: "DURATION|never", default: "1d", reloadable: false,
            help:
                "how often the daemon compacts the ledger when something was forgotten since it last did, so that forgotten encodings leave its files (at start too); never: only facewatch ledger compact",
            expected: "a duration of at least 1s such as 1h or 1d, or never",
            parse: { text, _ -> Double?? in
                if text.trimmingCharacters(in: .whitespaces).lowercased() == "never" { return .some(nil) }
                return RetentionPeriod.seconds(text).map { .some($0) }
            },
            show: { $0.map(RetentionPeriod.describe) ?? "never" }),
        .number(
            "cluster_distance", \.clusterDistance, 0...2, default: "0.55",
            help: "largest face distance at which two faces are neighbours when faces are grouped into people"),
        .integer(
            "cluster_min_faces", \.clusterMinFaces, 1...1000, default: "3", reloadable: false,
            help: "faces within cluster_distance of a face, itself included, that make it the core of a person"),
        .integer(
            "cluster_min_size", \.clusterMinSize, 0...100_000, default: "0", reloadable: false,
            help: "faces whose box's shorter side is under this many pixels take no part in people"),
        .number(
            "cluster_min_score", \.clusterMinScore, -100...100, default: "0.3",
            help: "faces whose detection score is under this take no part in people"),
    ]
}

// MARK: - Kinds of setting

/// A value a setting can hold that is one of a few words (`small|large`, `pretty|compact`).
public protocol SettingChoice: RawRepresentable<String>, CaseIterable, Sendable {}

extension Landmarks: SettingChoice {}
extension DetectorKind: SettingChoice {}
extension DaemonConfiguration.ResultFormat: SettingChoice {}
extension Logger.Level: SettingChoice {}

extension Setting {
    fileprivate typealias Path<Value> = WritableKeyPath<DaemonConfiguration, Value> & Sendable

    fileprivate static func invalid(_ origin: Origin, _ expected: String, _ value: String) -> ConfigurationError {
        ConfigurationError("\(origin.label): expected \(expected), got `\(value)`")
    }

    /// A setting stored at `path`: `parse` turns text into a value (nil: invalid, and the error says
    /// `expected`), `show` writes it back in the same syntax. Every kind below is one of these.
    fileprivate static func stored<Value>(
        _ key: String, _ path: Path<Value>, syntax: String, default value: String, reloadable: Bool, help: String,
        expected: String, parse: @escaping @Sendable (String, DaemonConfiguration) -> Value?,
        show: @escaping @Sendable (Value) -> String
    ) -> Setting {
        Setting(
            key: key, syntax: syntax, defaultValue: value, reloadable: reloadable, help: help,
            assign: { configuration, text, origin throws(ConfigurationError) in
                guard let value = parse(text, configuration) else { throw invalid(origin, expected, text) }
                configuration[keyPath: path] = value
            },
            describe: { show($0[keyPath: path]) }, transfer: { $1[keyPath: path] = $0[keyPath: path] })
    }

    /// A directory, relative to the root unless absolute; its default is the key under the root.
    fileprivate static func directory(_ key: String, _ path: Path<String>, help: String) -> Setting {
        stored(
            key, path, syntax: "DIR", default: key, reloadable: false, help: help, expected: "a directory",
            parse: { text, configuration in
                text.isEmpty ? nil : DaemonConfiguration.absolute(text, relativeTo: configuration.root)
            }, show: { $0 })
    }

    fileprivate static func integer(
        _ key: String, _ path: Path<Int>, _ range: ClosedRange<Int>, default value: String, reloadable: Bool,
        help: String
    ) -> Setting {
        stored(
            key, path, syntax: "N", default: value, reloadable: reloadable, help: help,
            expected: "a whole number from \(range.lowerBound) to \(range.upperBound)",
            parse: { text, _ in Int(text.trimmingCharacters(in: .whitespaces)).flatMap { range.contains($0) ? $0 : nil }
            },
            show: { String($0) })
    }

    fileprivate static func number(
        _ key: String, _ path: Path<Double>, _ range: ClosedRange<Double>, default value: String, help: String
    ) -> Setting {
        stored(
            key, path, syntax: "NUMBER", default: value, reloadable: false, help: help,
            expected: "a number from \(range.lowerBound) to \(range.upperBound)",
            parse: { text, _ in
                Double(text.trimmingCharacters(in: .whitespaces)).flatMap { range.contains($0) ? $0 : nil }
            },
            show: { String($0) })
    }

    fileprivate static func size(
        _ key: String, _ path: Path<Int>, _ range: ClosedRange<Int>, default value: String, reloadable: Bool,
        help: String
    ) -> Setting {
        stored(
            key, path, syntax: "SIZE", default: value, reloadable: reloadable, help: help,
            expected: "a size such as 50MB or 48MiB, at least \(range.lowerBound)",
            parse: { text, _ in ValueParsing.byteCount(text).flatMap { range.contains($0) ? $0 : nil } },
            show: { String($0) })
    }

    fileprivate static func duration(
        _ key: String, _ path: Path<Double>, default value: String, reloadable: Bool, help: String
    ) -> Setting {
        stored(
            key, path, syntax: "DURATION", default: value, reloadable: reloadable, help: help,
            expected: "a duration such as 30s or 2m",
            parse: { text, _ in ValueParsing.seconds(text).flatMap { $0 <= 86_400 ? $0 : nil } },
            show: { String($0) + "s" })
    }

    /// A retention period (`RetentionPeriod`): a duration, or `forever` (nil).
    fileprivate static func retention(_ key: String, _ path: Path<Double?>, help: String) -> Setting {
        stored(
            key, path, syntax: "DURATION|forever", default: "forever", reloadable: false, help: help,
            expected: "a duration of at least 1s such as 30d or 1y, or forever",
            parse: { text, _ -> Double?? in
                if text.trimmingCharacters(in: .whitespaces).lowercased() == "forever" { return .some(nil) }
                return RetentionPeriod.seconds(text).map { .some($0) }
            },
            show: { $0.map(RetentionPeriod.describe) ?? "forever" })
    }

    fileprivate static func boolean(
        _ key: String, _ path: Path<Bool>, default value: Bool, reloadable: Bool, help: String
    ) -> Setting {
        stored(
            key, path, syntax: "BOOL", default: String(value), reloadable: reloadable, help: help,
            expected: "true or false", parse: { text, _ in ValueParsing.bool(text) }, show: { String($0) })
    }

    fileprivate static func choice<Value: SettingChoice>(
        _ key: String, _ path: Path<Value>, default value: Value, reloadable: Bool, help: String
    ) -> Setting {
        let names = Value.allCases.map(\.rawValue)
        return stored(
            key, path, syntax: names.joined(separator: "|"), default: value.rawValue, reloadable: reloadable,
            help: help, expected: names.dropLast().joined(separator: ", ") + " or " + names.last!,
            parse: { text, _ in Value(rawValue: text.lowercased()) }, show: { $0.rawValue })
    }
}

// MARK: - Documentation

extension Setting {
    /// docs/configuration.md's settings table (Markdown), one row per setting.
    public static var markdownTable: String {
        var lines = [
            "| Key (`--flag`) | Values | Default | Reload | Meaning |",
            "|---|---|---|---|---|",
        ]
        for setting in all {
            let shown = setting.defaultValue.isEmpty ? setting.defaultShown : "`\(setting.defaultShown)`"
            lines.append(
                "| `\(setting.key)` (`\(setting.flag)`) | \(setting.syntax.replacingOccurrences(of: "|", with: "\\|")) | \(shown) | \(setting.reloadable ? "yes" : "restart") | \(setting.help) |"
            )
        }
        return lines.joined(separator: "\n")
    }
}
