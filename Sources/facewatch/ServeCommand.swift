import ArgumentParser
import FaceDaemon
import FaceEncoding
import FaceRoot
import Foundation
import Logging

/// `facewatch serve`: the daemon.
struct ServeCommand: AsyncParsableCommand, RunsTheFaceNetwork {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Watch the inbox and encode every image dropped into it.",
        discussion: """
            Files dropped into ROOT/inbox (or renamed into it) get a UUID, move to ROOT/store, are encoded, \
            and get ROOT/results/<uuid>.json; ROOT/stats.json is kept up to date. Settings come from the \
            built-in defaults, then --config FILE (`key = value` lines, # comments; keys are the option \
            names with _ for -, e.g. max_bytes = 20MB), then the options below. One daemon per root. \
            SIGTERM or SIGINT: stop taking files, finish the files being encoded (--shutdown-timeout), \
            write stats, exit 0. SIGHUP: re-read the config file (log level, limits, dedup, workers, \
            in-flight, shutdown timeout) without dropping work; an invalid file is logged and ignored. \
            ROOT/metrics.prom (Prometheus text format) is rewritten with stats.json. Under systemd \
            (Type=notify) it sends READY=1, STATUS=, RELOADING=1, STOPPING=1 to $NOTIFY_SOCKET and \
            WATCHDOG=1 every half of $WATCHDOG_USEC while its workers make progress. \
            Exit status: 0 after a graceful stop, 1 when it cannot start (another daemon holds the root, \
            missing models, bad config), 2 on a usage error.
            """
    )

    // One option per row of the settings table (`Setting.all`), which gives each its help and
    // default; `SettingsTableTests` fails when a row has no option here.
    @Option(help: .setting("root")) var root: String?
    @Option(help: "A config file in `key = value` format (default: $FACEWATCH_CONFIG if set).")
    var config: String?
    @Option(help: .setting("inbox")) var inbox: String?
    @Option(help: .setting("store")) var store: String?
    @Option(help: .setting("results")) var results: String?
    @Option(help: .setting("db")) var db: String?
    @Option(help: .setting("known")) var known: String?
    @Option(help: .setting("tolerance")) var tolerance: Double?
    @Option(help: .setting("workers")) var workers: Int?
    @Option(help: .setting("in_flight")) var inFlight: Int?
    @Option(help: .setting("max_bytes")) var maxBytes: SizeArgument?
    @Option(help: .setting("max_pixels")) var maxPixels: SizeArgument?
    @Option(help: .setting("memory_budget")) var memoryBudget: MemoryBudgetArgument?
    @Option(help: .setting("upsample")) var upsample: Int?
    @Option(help: .setting("jitters")) var jitters: Int?
    @Option(help: .setting("landmarks")) var landmarks: Landmarks?
    @Option(help: .setting("detector")) var detector: DetectorKind?
    @Option(help: .setting("settle_ms")) var settleMs: Int?
    @Option(help: .setting("writer_quiet")) var writerQuiet: DurationArgument?
    @Flag(inversion: .prefixedNo, help: .setting("dedup")) var dedup: Bool?
    @Option(help: .setting("log_level")) var logLevel: Logger.Level?
    @Option(help: .setting("models")) var models: String?
    @Option(help: .setting("shutdown_timeout")) var shutdownTimeout: DurationArgument?
    @Option(help: .setting("result_format")) var resultFormat: DaemonConfiguration.ResultFormat?
    @Option(help: .setting("map_size")) var mapSize: SizeArgument?
    @Option(help: .setting("report")) var report: String?
    @Option(help: .setting("ledger")) var ledger: String?
    @Option(help: .setting("ledger_lease")) var ledgerLease: DurationArgument?
    @Option(help: .setting("keep_originals")) var keepOriginals: String?
    @Option(help: .setting("keep_results")) var keepResults: String?
    @Option(help: .setting("compact_every")) var compactEvery: String?
    @Option(help: .setting("ledger_lock_timeout")) var ledgerLockTimeout: DurationArgument?
    @Option(help: .setting("ledger_statement_timeout")) var ledgerStatementTimeout: DurationArgument?
    @Option(help: .setting("ledger_idle_timeout")) var ledgerIdleTimeout: DurationArgument?
    @Option(help: .setting("ledger_keepalive")) var ledgerKeepalive: DurationArgument?
    @Flag(inversion: .prefixedNo, help: .setting("result_landmarks")) var resultLandmarks: Bool?
    @Option(help: .setting("cluster_distance")) var clusterDistance: Double?
    @Option(help: .setting("cluster_min_faces")) var clusterMinFaces: Int?
    @Option(help: .setting("cluster_min_size")) var clusterMinSize: Int?
    @Option(help: .setting("cluster_min_score")) var clusterMinScore: Double?

    /// The command-line settings by key, as text in the config file's syntax.
    var flags: DaemonConfiguration.Flags {
        let given: [(String, String?)] = [
            ("root", root), ("inbox", inbox), ("store", store), ("results", results), ("db", db),
            ("known", known), ("tolerance", tolerance.map { String($0) }),
            ("workers", workers.map(String.init)), ("in_flight", inFlight.map(String.init)),
            ("max_bytes", maxBytes?.text), ("max_pixels", maxPixels?.text),
            ("memory_budget", memoryBudget?.text), ("upsample", upsample.map(String.init)),
            ("jitters", jitters.map(String.init)), ("landmarks", landmarks?.rawValue),
            ("detector", detector?.rawValue), ("settle_ms", settleMs.map(String.init)),
            ("writer_quiet", writerQuiet?.text),
            ("dedup", dedup.map(String.init)), ("log_level", logLevel?.rawValue), ("models", models),
            ("shutdown_timeout", shutdownTimeout?.text), ("result_format", resultFormat?.rawValue),
            ("map_size", mapSize?.text), ("report", report), ("ledger", ledger),
            ("ledger_lease", ledgerLease?.text), ("keep_originals", keepOriginals), ("keep_results", keepResults),
            ("compact_every", compactEvery),
            ("ledger_lock_timeout", ledgerLockTimeout?.text),
            ("ledger_statement_timeout", ledgerStatementTimeout?.text),
            ("ledger_idle_timeout", ledgerIdleTimeout?.text), ("ledger_keepalive", ledgerKeepalive?.text),
            ("result_landmarks", resultLandmarks.map(String.init)),
            ("cluster_distance", clusterDistance.map { String($0) }),
            ("cluster_min_faces", clusterMinFaces.map(String.init)),
            ("cluster_min_size", clusterMinSize.map(String.init)),
            ("cluster_min_score", clusterMinScore.map { String($0) }),
        ]
        var flags: DaemonConfiguration.Flags = [:]
        for case let (key, value?) in given { flags[key] = value }
        return flags
    }

    /// Out-of-range values are usage errors (exit 2), found before the config file is read.
    func validate() throws {
        do {
            _ = try DaemonConfiguration.resolve(file: nil, flags: flags, environment: [:])
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let source = Daemon.Source(configFile: config, flags: flags)
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.resolve(configFile: source.configFile, flags: source.flags)
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
        let output = LogOutput(level: configuration.logLevel)
        output.bootstrap()
        let service = ServiceIntegration(configuration: configuration, source: source, output: output)
        do {
            try await service.run()
        } catch {
            output.logger().critical("cannot start: \(error)")
            throw ExitCode(1)
        }
    }
}
