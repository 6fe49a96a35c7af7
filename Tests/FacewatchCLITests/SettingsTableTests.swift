import ArgumentParser
import FaceDaemon
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import facewatch

/// The settings table (`Setting.all`) is the one place settings are declared: these tests fail when
/// `serve`, the defaults or docs/configuration.md drift from it.
@Suite(.timeLimit(.minutes(1)))
struct SettingsTableTests {
    @Test func everyDefaultIsAcceptedByItsOwnParser() throws {
        let defaults = DaemonConfiguration(root: "/r")
        // Every default but the root's, written out as a config file, gives the built-in defaults.
        let text = Setting.all.filter { !$0.defaultValue.isEmpty && $0.key != "root" }
            .map { "\($0.key) = \($0.defaultValue)" }
        let file = try ConfigFile(text: text.joined(separator: "\n"), path: "/etc/defaults.conf")
        var resolved = try DaemonConfiguration.resolve(
            file: file, flags: ["root": "/r"], environment: [:], currentDirectory: "/")
        resolved.configFile = nil
        #expect(resolved == defaults)
        #expect(Setting.named("root")?.defaultValue == DaemonConfiguration.defaultRoot)
    }

    @Test func serveHasOneOptionPerSetting() {
        let help = ServeCommand.helpMessage(columns: 400)
        for setting in Setting.all {
            #expect(help.contains(setting.flag), "serve has no \(setting.flag) option for `\(setting.key)`")
            #expect(help.contains(Setting.help(for: setting.key)), "help of \(setting.flag) is not the table's")
        }
    }

    @Test func everyOptionReachesItsSetting() throws {
        let samples: [String: String] = [
            "root": "/r", "inbox": "/i", "store": "/s", "results": "/o", "db": "/d", "known": "/k",
            "tolerance": "0.5", "workers": "3", "in_flight": "7",
            "max_bytes": "1MB", "max_pixels": "2M", "memory_budget": "3GiB", "upsample": "2", "jitters": "4",
            "landmarks": "large",
            "detector": "cnn", "settle_ms": "9", "writer_quiet": "2m", "log_level": "error", "models": "/m",
            "shutdown_timeout": "5s",
            "result_format": "compact", "map_size": "64MiB", "report": "/rep",
            "ledger": "postgres://u:secret@db.example:5433/fw", "ledger_lease": "9s",
            "ledger_lock_timeout": "7s", "ledger_statement_timeout": "8s", "ledger_idle_timeout": "11s",
            "ledger_keepalive": "13s", "keep_originals": "30d", "keep_results": "1y",
            "compact_every": "2h", "cluster_distance": "0.4", "cluster_min_faces": "4", "cluster_min_size": "30",
            "cluster_min_score": "0.5",
        ]
        // Boolean settings are flags: the one that differs from the default, and the value it gives.
        let switches: [String: (flag: String, value: String)] = [
            "dedup": ("--no-dedup", "false"), "result_landmarks": ("--result-landmarks", "true"),
        ]
        var arguments: [String] = switches.values.map(\.flag).sorted()
        for setting in Setting.all where switches[setting.key] == nil {
            let sample = try #require(samples[setting.key], "no sample value for \(setting.key)")
            arguments += [setting.flag, sample]
        }
        let command = try ServeCommand.parse(arguments)
        var expected = samples
        for (key, given) in switches { expected[key] = given.value }
        #expect(command.flags == expected)
        let configuration = try DaemonConfiguration.resolve(file: nil, flags: command.flags, environment: [:])
        let defaults = DaemonConfiguration(root: "/r")
        for setting in Setting.all where setting.key != "root" {
            #expect(setting.describe(configuration) != setting.describe(defaults), "\(setting.flag) changed nothing")
        }
    }

    @Test func outOfRangeValuesAreUsageErrors() {
        for arguments in [["--workers", "9999"], ["--max-bytes", "lots"], ["--landmarks", "medium"]] {
            do {
                _ = try ServeCommand.parse(arguments)
                Issue.record("\(arguments) parsed")
            } catch {
                // Exit status 2 (Facewatch.main maps validation failures to it), not 1.
                #expect(ServeCommand.exitCode(for: error) == .validationFailure, "\(arguments): \(error)")
            }
        }
    }

    /// docs/configuration.md's table is `Setting.markdownTable`. `make settings-table` sets
    /// FACEWATCH_UPDATE_DOCS=1 to rewrite it instead of failing.
    @Test func configurationPageShowsTheTable() throws {
        let path = repositoryRoot + "/docs/configuration.md"
        let page = try String(contentsOfFile: path, encoding: .utf8)
        let begin = "<!-- settings-table:begin -->\n"
        let end = "<!-- settings-table:end -->"
        let start = try #require(page.range(of: begin), "docs/configuration.md has no settings-table markers")
        let stop = try #require(page.range(of: end))
        let current = String(page[start.upperBound..<stop.lowerBound])
        let wanted = Setting.markdownTable + "\n"
        if current != wanted, ProcessInfo.processInfo.environment["FACEWATCH_UPDATE_DOCS"] == "1" {
            try page.replacingCharacters(in: start.upperBound..<stop.lowerBound, with: wanted)
                .write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        #expect(current == wanted, "docs/configuration.md's settings table is stale: run `make settings-table`")
    }
}
