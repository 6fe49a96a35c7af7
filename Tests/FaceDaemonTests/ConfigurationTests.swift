import FaceEncoding
import FaceImage
import FaceRoot
import Foundation
import Logging
import FaceTestSupport
import Testing

@testable import FaceDaemon

@Suite struct ConfigFileTests {
    @Test func parsesKeysValuesCommentsAndQuotes() throws {
        let text = """
            # facewatch config
            root = /srv/facewatch

            workers=4   # four encoders
            max-bytes = 20MB
            inbox = "/srv/drop #1"   # quoted: keeps the # and blanks
            log_level = debug\r
            models = "a \\"quoted\\" name"
            """
        let file = try ConfigFile(text: text, path: "test.conf")
        #expect(file.entries.map(\.key) == ["root", "workers", "max_bytes", "inbox", "log_level", "models"])
        #expect(file["workers"] == "4")
        #expect(file["max_bytes"] == "20MB")
        #expect(file["inbox"] == "/srv/drop #1")
        #expect(file["log_level"] == "debug")
        #expect(file["models"] == "a \"quoted\" name")
        #expect(file.entries.first { $0.key == "workers" }?.line == 4)
    }

    @Test func rejectsMalformedLinesWithTheirLineNumber() {
        #expect(throws: ConfigurationError("x.conf:2: expected `key = value`")) {
            try ConfigFile(text: "# ok\nworkers 4\n", path: "x.conf")
        }
        // A line that is not `key = value` is never echoed: it may be a password.
        #expect(throws: ConfigurationError("x.conf:1: expected `key = value`")) {
            try ConfigFile(text: "postgres://fw:s3cret@db/fw\n", path: "x.conf")
        }
        #expect(throws: ConfigurationError("x.conf:1: unexpected text after the quoted value")) {
            try ConfigFile(text: "ledger = \"postgres://fw@db/fw\" s3cret\n", path: "x.conf")
        }
        #expect(throws: ConfigurationError("x.conf:3: `workers` is already set on line 1")) {
            try ConfigFile(text: "workers = 1\n\nworkers = 2\n", path: "x.conf")
        }
        #expect(throws: ConfigurationError("x.conf:1: unterminated quoted value")) {
            try ConfigFile(text: "inbox = \"/srv\n", path: "x.conf")
        }
        #expect(throws: ConfigurationError("x.conf:1: invalid key `Max Bytes`")) {
            try ConfigFile(text: "Max Bytes = 1\n", path: "x.conf")
        }
    }
}

@Suite struct DaemonConfigurationTests {
    let environment: [String: String] = [:]

    @Test func defaultsLiveInsideTheRoot() throws {
        let configuration = try DaemonConfiguration.resolve(
            file: nil, flags: ["root": "state"], environment: environment, currentDirectory: "/work")
        #expect(configuration.root == "/work/state")
        #expect(configuration.inbox == "/work/state/inbox")
        #expect(configuration.store == "/work/state/store")
        #expect(configuration.results == "/work/state/results")
        #expect(configuration.database == "/work/state/db")
        #expect(configuration.statsFile == "/work/state/stats.json")
        #expect(configuration.lockFile == "/work/state/.facewatch.lock")
        #expect(configuration.maxBytes == 50_000_000)
        #expect(configuration.settleMilliseconds == 250)
        #expect(configuration.dedup)
        #expect(configuration.logLevel == .info)
        #expect(configuration.shutdownTimeout == 30)
        #expect(configuration.encoder == EncoderOptions())
        #expect(configuration.effectiveInFlight == 2 * configuration.effectiveWorkers)
        var shared = configuration
        shared.ledger = "postgres://facewatch@db.example/facewatch"
        #expect(shared.effectiveInFlight == 4 * configuration.effectiveWorkers)
        shared.inFlight = 3
        #expect(shared.effectiveInFlight == 3)
    }

    @Test func rootComesFromFlagThenFileThenEnvironmentThenDefault() throws {
        let file = try ConfigFile(text: "root = data\n", path: "/etc/fw/facewatch.conf")
        let fromFlag = try DaemonConfiguration.resolve(
            file: file, flags: ["root": "/r"], environment: ["FACEWATCH_ROOT": "/e"], currentDirectory: "/cwd")
        #expect(fromFlag.root == "/r")
        let fromFile = try DaemonConfiguration.resolve(
            file: file, flags: [:], environment: ["FACEWATCH_ROOT": "/e"], currentDirectory: "/cwd")
        #expect(fromFile.root == "/etc/fw/data")  // relative to the file's directory
        let fromEnvironment = try DaemonConfiguration.resolve(
            file: nil, flags: [:], environment: ["FACEWATCH_ROOT": "/e"], currentDirectory: "/cwd")
        #expect(fromEnvironment.root == "/e")
        let byDefault = try DaemonConfiguration.resolve(
            file: nil, flags: [:], environment: [:], currentDirectory: "/cwd")
        #expect(byDefault.root == "/cwd/var")
    }

    @Test func flagsOverrideTheFileWhichOverridesDefaults() throws {
        let file = try ConfigFile(
            text: """
                workers = 3
                max_bytes = 2MiB
                landmarks = large
                detector = cnn
                upsample = 2
                jitters = 5
                dedup = no
                log_level = warning
                shutdown_timeout = 2m
                settle_ms = 100
                inbox = /srv/in
                store = elsewhere
                result_format = compact
                """, path: "/etc/facewatch.conf")
        let configuration = try DaemonConfiguration.resolve(
            file: file, flags: ["root": "/r", "workers": "2", "log_level": "debug", "max_pixels": "1M"],
            environment: [:], currentDirectory: "/cwd")
        #expect(configuration.workers == 2)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.maxPixels == 1_000_000)
        #expect(configuration.maxBytes == 2 * 1_048_576)
        #expect(configuration.encoder == EncoderOptions(upsample: 2, jitters: 5, landmarks: .large, detector: .cnn))
        #expect(!configuration.dedup)
        #expect(configuration.shutdownTimeout == 120)
        #expect(configuration.settleMilliseconds == 100)
        #expect(configuration.inbox == "/srv/in")
        #expect(configuration.store == "/r/elsewhere")  // relative to the root
        #expect(configuration.resultFormat == .compact)
        #expect(configuration.limits == ImageLimits(maxBytes: 2 * 1_048_576, maxPixels: 1_000_000))
        #expect(configuration.configFile == "/etc/facewatch.conf")
    }

    @Test func invalidValuesNameWhereTheyCameFrom() throws {
        let file = try ConfigFile(text: "\nworkers = many\n", path: "f.conf")
        #expect(throws: ConfigurationError("f.conf:2: workers: expected a whole number from 0 to 256, got `many`")) {
            try DaemonConfiguration.resolve(file: file, flags: [:], environment: [:], currentDirectory: "/")
        }
        #expect(throws: ConfigurationError("--detector: expected hog, dlib-hog, cnn or dlib-cnn, got `dnn`")) {
            try DaemonConfiguration.resolve(
                file: nil, flags: ["detector": "dnn"], environment: [:], currentDirectory: "/")
        }
        let unknown = try ConfigFile(text: "wrokers = 2\n", path: "f.conf")
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.resolve(file: unknown, flags: [:], environment: [:], currentDirectory: "/")
        }
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.resolve(
                file: nil, flags: ["max_bytes": "lots"], environment: [:], currentDirectory: "/")
        }
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.resolve(
                file: nil, flags: ["shutdown_timeout": "-3s"], environment: [:], currentDirectory: "/")
        }
    }

    @Test func readsTheConfigFileNamedByTheEnvironment() throws {
        let directory = ScratchDirectory()
        defer { directory.remove() }
        let path = directory.appending("facewatch.conf")
        try "root = state\nworkers = 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try DaemonConfiguration.resolve(
            configFile: nil, flags: [:], environment: ["FACEWATCH_CONFIG": path], currentDirectory: "/")
        #expect(configuration.root == directory.appending("state"))
        #expect(configuration.workers == 1)
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.resolve(
                configFile: directory.appending("missing.conf"), flags: [:], environment: [:])
        }
    }

    @Test func everyKeyIsAcceptedInTheFile() throws {
        // A value each key accepts, so a key added to `keys` without a parser fails here.
        let samples = [
            "root": "/r", "inbox": "i", "store": "s", "results": "o", "db": "d", "known": "k",
            "tolerance": "0.45", "workers": "1", "in_flight": "8",
            "max_bytes": "1MB", "max_pixels": "1000", "memory_budget": "2GiB", "upsample": "0", "jitters": "1",
            "landmarks": "small",
            "detector": "hog", "settle_ms": "0", "writer_quiet": "90s", "dedup": "true", "log_level": "error",
            "models": "/m",
            "shutdown_timeout": "5s", "result_format": "pretty", "map_size": "64MiB", "report": "html",
            "ledger": "postgres://u:secret@db.example/facewatch?sslmode=require", "ledger_lease": "12s",
            "keep_originals": "30d", "keep_results": "1y", "compact_every": "never",
            "ledger_lock_timeout": "2s", "ledger_statement_timeout": "20s", "ledger_idle_timeout": "40s",
            "ledger_keepalive": "5s", "result_landmarks": "true", "cluster_distance": "0.5", "cluster_min_faces": "2",
            "cluster_min_size": "40", "cluster_min_score": "-0.25",
        ]
        #expect(Set(samples.keys) == Set(Setting.all.map(\.key)))
        let text = Setting.all.map { "\($0.key) = \(samples[$0.key]!)" }.joined(separator: "\n")
        let configuration = try DaemonConfiguration.resolve(
            file: try ConfigFile(text: text, path: "/c/all.conf"), flags: [:], environment: [:], currentDirectory: "/")
        #expect(configuration.inFlight == 8)
        #expect(configuration.mapSize == 64 * 1_048_576)
        #expect(configuration.models == "/m")
        #expect(configuration.known == "/r/k")
        #expect(configuration.tolerance == 0.45)
        #expect(configuration.report == "/r/html", "a relative report directory is under the root")
        #expect(configuration.keepOriginals == 30 * 86_400 && configuration.keepResults == 365 * 86_400)
        #expect(configuration.compactEvery == nil)
        #expect(configuration.resultLandmarks && configuration.clusterDistance == 0.5)
        #expect(configuration.clusterMinFaces == 2 && configuration.clusterMinSize == 40)
        #expect(configuration.clusterMinScore == -0.25)
    }
}

@Suite struct ValueParsingTests {
    @Test func sizes() {
        #expect(ValueParsing.byteCount("50000000") == 50_000_000)
        #expect(ValueParsing.byteCount("50M") == 50_000_000)
        #expect(ValueParsing.byteCount("50 MB") == 50_000_000)
        #expect(ValueParsing.byteCount("48MiB") == 48 * 1_048_576)
        #expect(ValueParsing.byteCount("1.5k") == 1_500)
        #expect(ValueParsing.byteCount("2gib") == 2 * 1_073_741_824)
        #expect(ValueParsing.byteCount("") == nil)
        #expect(ValueParsing.byteCount("10 parsecs") == nil)
        #expect(ValueParsing.byteCount("-1") == nil)
    }

    @Test func durations() {
        #expect(ValueParsing.seconds("30") == 30)
        #expect(ValueParsing.seconds("250ms") == 0.25)
        #expect(ValueParsing.seconds("90m") == 5_400)
        #expect(ValueParsing.seconds("24h") == 86_400)
        #expect(ValueParsing.seconds("7d") == 604_800)
        #expect(ValueParsing.seconds("1h30m") == 5_400)
        #expect(ValueParsing.seconds("2w") == 1_209_600)
        #expect(ValueParsing.seconds("soon") == nil)
        #expect(ValueParsing.seconds("5y") == nil)
        #expect(ValueParsing.seconds("") == nil)
    }

    @Test func booleansAndDates() throws {
        #expect(ValueParsing.bool("Yes") == true)
        #expect(ValueParsing.bool("off") == false)
        #expect(ValueParsing.bool("maybe") == nil)
        let noon = try #require(ValueParsing.date("2026-11-24T12:00:00Z"))
        #expect(noon.timeIntervalSince1970 == 1_795_521_600)
        #expect(ValueParsing.date("2026-11-24T12:00:00.500Z")?.timeIntervalSince1970 == 1_795_521_600.5)
        #expect(ValueParsing.date("2026-11-24T13:00:00+01:00") == noon)
        #expect(ValueParsing.date("2026-11-24")?.timeIntervalSince1970 == 1_795_478_400)
        let now = Date(timeIntervalSince1970: 42)
        #expect(ValueParsing.date("now", now: now) == now)
        #expect(ValueParsing.date("yesterday") == nil)
    }
}
