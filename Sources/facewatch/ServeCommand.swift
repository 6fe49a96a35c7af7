import ArgumentParser
import FaceWatch
import Foundation
import Logging

/// `facewatch serve`: the daemon.
struct ServeCommand: AsyncParsableCommand {
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

    @Option(help: "The state root: inbox, store, results, db, stats.json (default: $FACEWATCH_ROOT or ./var).")
    var root: String?
    @Option(help: "A config file in `key = value` format (default: $FACEWATCH_CONFIG if set).")
    var config: String?
    @Option(help: "Drop directory (default ROOT/inbox).")
    var inbox: String?
    @Option(help: "Where originals are kept (default ROOT/store); may be on another file system.")
    var store: String?
    @Option(help: "Where result documents are written (default ROOT/results).")
    var results: String?
    @Option(help: "LMDB directory (default ROOT/db).")
    var db: String?
    @Option(help: "Encoder workers (default: one per CPU core).")
    var workers: String?
    @Option(help: "Files held in memory and the encoders at once (default: 2 x workers).")
    var inFlight: String?
    @Option(help: "Largest accepted file: 50MB, 48MiB, bytes (default 50MB).")
    var maxBytes: String?
    @Option(help: "Largest accepted image in pixels, from its header: 50M (default 50M).")
    var maxPixels: String?
    @Option(help: "Times the image is doubled before detection, 0-8 (default 1).")
    var upsample: String?
    @Option(help: "Jittered copies of each face averaged, 1-1000 (default 1).")
    var jitters: String?
    @Option(help: "Landmarks: small (5 points) or large (68) (default small).")
    var landmarks: String?
    @Option(help: "Face detector: hog or cnn (default hog).")
    var detector: String?
    @Option(help: "Quiet time after a file written in place is closed before it is taken, ms (default 250).")
    var settleMs: String?
    @Flag(help: "Encode identical content again instead of reusing the faces found before.")
    var noDedup = false
    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?
    @Option(help: "Model directory (default: $FACEWATCH_MODELS, ./models, <prefix>/share/facewatch/models).")
    var models: String?
    @Option(help: "How long a graceful stop waits for files being encoded: 30s, 2m (default 30s).")
    var shutdownTimeout: String?
    @Option(help: "Result documents: pretty or compact (default pretty).")
    var resultFormat: String?
    @Option(help: "Initial LMDB map size; it grows when full (default 1GiB).")
    var mapSize: String?

    /// The command-line settings by config key.
    var flags: DaemonConfiguration.Flags {
        var flags: DaemonConfiguration.Flags = [:]
        let pairs: [(String, String?)] = [
            ("root", root), ("inbox", inbox), ("store", store), ("results", results), ("db", db),
            ("workers", workers), ("in_flight", inFlight), ("max_bytes", maxBytes), ("max_pixels", maxPixels),
            ("upsample", upsample), ("jitters", jitters), ("landmarks", landmarks), ("detector", detector),
            ("settle_ms", settleMs), ("log_level", logLevel), ("models", models),
            ("shutdown_timeout", shutdownTimeout), ("result_format", resultFormat), ("map_size", mapSize),
        ]
        for case let (key, value?) in pairs { flags[key] = value }
        if noDedup { flags["dedup"] = "false" }
        return flags
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
