import ArgumentParser
import FaceDaemon
import FaceEncoding
import FaceImage
import Foundation
import Testing

@testable import facewatch

/// Every command's options as the parser reads them, its `--help`, and its usage errors (which the
/// binary turns into exit status 2; `CommandLineTests` checks that through the real binary).
/// `serve`'s one option per setting is covered by `SettingsTableTests`.
@Suite(.timeLimit(.minutes(2)))
struct CommandParsingTests {
    /// Parses `arguments` as `facewatch ARGUMENTS` and returns the subcommand, which must be a `C`.
    func parse<C: ParsableCommand>(_ arguments: [String], as type: C.Type) throws -> C {
        let command = try Facewatch.parseAsRoot(arguments)
        return try #require(command as? C, "\(arguments) parsed as \(Swift.type(of: command))")
    }

    /// The error parsing `arguments` throws; records an issue when it parses.
    func usageError(_ arguments: [String]) -> (any Error)? {
        do {
            let command = try Facewatch.parseAsRoot(arguments)
            Issue.record("\(arguments) parsed as \(type(of: command)), expected a usage error")
            return nil
        } catch {
            return error
        }
    }

    /// `arguments` is refused as a usage error (exit status 2) whose message contains `message`.
    func expectUsageError(
        _ arguments: [String], saying message: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let error = usageError(arguments) else { return }
        #expect(Facewatch.exitCode(for: error) == .validationFailure, "\(arguments)", sourceLocation: sourceLocation)
        let text = Self.unwrapped(Facewatch.fullMessage(for: error))
        #expect(text.contains(message), "\(arguments): \(text)", sourceLocation: sourceLocation)
    }

    /// `facewatch NAME --help`'s text (the binary's exit status 0 is checked by `CommandLineTests`).
    func help(_ name: String) throws -> String {
        let command = try #require(Facewatch.commands.first { $0.configuration.commandName == name })
        return Self.unwrapped(Facewatch.helpMessage(for: command, columns: 100))
    }

    /// `text` with every run of white space (the help's line wrapping) made one space.
    static func unwrapped(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    // MARK: - Every command

    @Test func everyCommandIsListedInTheTopLevelHelp() {
        let help = Self.unwrapped(Facewatch.helpMessage(columns: 200))
        for command in Facewatch.commands {
            let name = try! #require(command.configuration.commandName)
            #expect(help.contains(name), "facewatch --help does not list \(name)")
            #expect(help.contains(command.configuration.abstract), "facewatch --help lacks \(name)'s abstract")
        }
        #expect(help.contains("2 usage error"))
    }

    @Test(arguments: ["serve", "submit", "result", "stats", "average", "status", "encode"])
    func helpShowsTheAbstractTheUsageAndTheExitStatus(name: String) throws {
        let command = try #require(Facewatch.commands.first { $0.configuration.commandName == name })
        let text = try help(name)
        #expect(text.contains("USAGE: facewatch \(name)"), "\(text)")
        #expect(text.contains(command.configuration.abstract), "\(text)")
        #expect(text.contains("-h, --help"))
        if name != "stats" && name != "average" {
            #expect(text.contains("Exit status"), "\(name) --help does not say its exit status")
        }
    }

    @Test(arguments: [
        ["serve"], ["submit", "a.jpg"], ["result", "0f5e1f35-6b55-4a50-9d0b-4b1f1d6d2d3c"], ["stats"], ["average"],
        ["status"], ["encode", "a.jpg"],
    ])
    func anUnknownOptionIsAUsageError(command: [String]) {
        expectUsageError(command + ["--no-such-option"], saying: "Unknown option '--no-such-option'")
    }

    @Test func aMissingOrUnknownCommandIsAUsageError() {
        expectUsageError(["frobnicate"], saying: "frobnicate")
    }

    // MARK: - serve

    @Test func serveRefusesValuesItsTypesDoNotAccept() {
        expectUsageError(["serve", "--workers", "many"], saying: "--workers")
        expectUsageError(["serve", "--landmarks", "medium"], saying: "--landmarks")
        expectUsageError(["serve", "--detector", "sift"], saying: "--detector")
        expectUsageError(["serve", "--log-level", "loud"], saying: "--log-level")
        expectUsageError(["serve", "--max-bytes", "lots"], saying: "--max-bytes")
        expectUsageError(["serve", "--shutdown-timeout", "soon"], saying: "--shutdown-timeout")
        expectUsageError(["serve", "extra"], saying: "Unexpected argument 'extra'")
    }

    @Test func serveHelpNamesTheSignals() throws {
        let text = try help("serve")
        for word in ["SIGTERM", "SIGHUP", "--config", "--no-dedup"] { #expect(text.contains(word), "\(word)") }
    }

    // MARK: - submit

    @Test func submitReadsItsPathsRootWaitAndTimeout() throws {
        let command = try parse(
            ["submit", "a.jpg", "dir", "--root", "/r", "--config", "/c.conf", "--wait", "--timeout", "30s"],
            as: SubmitCommand.self)
        #expect(command.paths == ["a.jpg", "dir"])
        #expect(command.rootOptions.root == "/r")
        #expect(command.rootOptions.config == "/c.conf")
        #expect(command.wait)
        #expect(command.timeout == "30s")
        let plain = try parse(["submit", "a.jpg"], as: SubmitCommand.self)
        #expect(!plain.wait && plain.timeout == nil && plain.rootOptions.root == nil)
    }

    @Test func submitUsageErrors() {
        expectUsageError(["submit"], saying: "Missing expected argument '<paths> ...'")
        expectUsageError(["submit", "a.jpg", "--timeout", "soon"], saying: "--timeout: expected a duration")
        expectUsageError(["submit", "a.jpg", "--timeout"], saying: "--timeout")
    }

    @Test func submitHelpExplainsTheTimeout() throws {
        let text = try help("submit")
        #expect(text.contains("--timeout"))
        #expect(text.contains("--timeout ran out"))
    }

    // MARK: - result

    @Test func resultReadsTheUUIDAndCompact() throws {
        let id = "0f5e1f35-6b55-4a50-9d0b-4b1f1d6d2d3c"
        let command = try parse(["result", id, "--compact", "--root", "/r"], as: ResultCommand.self)
        #expect(command.id == id)
        #expect(command.compact)
        #expect(command.rootOptions.root == "/r")
        #expect(try !parse(["result", id], as: ResultCommand.self).compact)
    }

    @Test func resultUsageErrors() {
        expectUsageError(["result"], saying: "Missing expected argument '<id>'")
        expectUsageError(["result", "not-a-uuid"], saying: "not a UUID: not-a-uuid")
    }

    // MARK: - stats

    @Test func statsReadsCompactAndRoot() throws {
        let command = try parse(["stats", "--compact", "--config", "/c.conf"], as: StatsCommand.self)
        #expect(command.compact)
        #expect(command.rootOptions.config == "/c.conf")
        #expect(try !parse(["stats"], as: StatsCommand.self).compact)
        expectUsageError(["stats", "extra"], saying: "Unexpected argument 'extra'")
    }

    // MARK: - average

    @Test func averageReadsItsWindow() throws {
        let since = try parse(["average", "--since", "24h", "--compact"], as: AverageCommand.self)
        #expect(since.since == "24h" && since.from == nil && since.to == nil && since.compact)
        let window = try parse(
            ["average", "--from", "2026-11-24", "--to", "2026-11-25T18:00:00Z"], as: AverageCommand.self)
        #expect(window.from == "2026-11-24" && window.to == "2026-11-25T18:00:00Z" && window.since == nil)
        let open = try parse(["average", "--to", "now"], as: AverageCommand.self)
        #expect(open.to == "now")
    }

    @Test func averageUsageErrors() {
        expectUsageError(
            ["average", "--since", "24h", "--from", "2026-11-24"], saying: "give --since or --from, not both")
        expectUsageError(["average", "--since", "a while"], saying: "--since: expected a span")
        expectUsageError(["average", "--from", "yesterday"], saying: "--from: expected a time")
        expectUsageError(["average", "--to", "2026-13-45"], saying: "--to: expected a time")
    }

    // MARK: - status

    @Test func statusReadsFailuresAndJSON() throws {
        let command = try parse(["status", "--failures", "12", "--json", "--root", "/r"], as: StatusCommand.self)
        #expect(command.failures == 12)
        #expect(command.json)
        let plain = try parse(["status"], as: StatusCommand.self)
        #expect(plain.failures == 5 && !plain.json)
    }

    @Test func statusUsageErrorsAndHelp() throws {
        expectUsageError(["status", "--failures", "some"], saying: "--failures")
        let text = try help("status")
        #expect(text.contains("--json"))
        #expect(text.contains("3 when none runs"))
    }

    // MARK: - encode

    @Test func encodeReadsEveryOption() throws {
        let command = try parse(
            [
                "encode", "a.jpg", "dir", "--workers", "3", "--models", "/m", "--upsample", "2", "--jitters", "10",
                "--landmarks", "large", "--detector", "cnn", "--max-bytes", "1000", "--max-pixels", "2000", "--timings",
            ],
            as: EncodeCommand.self)
        #expect(command.paths == ["a.jpg", "dir"])
        #expect(command.workers == 3)
        #expect(command.models == "/m")
        #expect(command.upsample == 2)
        #expect(command.jitters == 10)
        #expect(command.landmarks == "large")
        #expect(command.detector == "cnn")
        #expect(command.maxBytes == 1000)
        #expect(command.maxPixels == 2000)
        #expect(command.timings)
    }

    @Test func encodeDefaultsAreTheEnginesDefaults() throws {
        let command = try parse(["encode", "a.jpg"], as: EncodeCommand.self)
        #expect(command.workers == nil && command.models == nil && !command.timings)
        #expect(command.upsample == 1 && command.jitters == 1)
        #expect(command.landmarks == Landmarks.small.rawValue && command.detector == DetectorKind.hog.rawValue)
        #expect(command.maxBytes == ImageLimits().maxBytes && command.maxPixels == ImageLimits().maxPixels)
    }

    @Test func encodeUsageErrors() {
        expectUsageError(["encode"], saying: "Missing expected argument '<paths> ...'")
        expectUsageError(["encode", "a.jpg", "--workers", "0"], saying: "--workers must be at least 1")
        expectUsageError(["encode", "a.jpg", "--upsample", "9"], saying: "--upsample must be between 0 and 8")
        expectUsageError(["encode", "a.jpg", "--jitters", "0"], saying: "--jitters must be between 1 and 1000")
        expectUsageError(["encode", "a.jpg", "--landmarks", "medium"], saying: "--landmarks must be small or large")
        expectUsageError(
            ["encode", "a.jpg", "--detector", "sift"], saying: "--detector must be hog, dlib-hog, cnn or dlib-cnn")
        expectUsageError(["encode", "a.jpg", "--max-bytes", "0"], saying: "--max-bytes must be positive")
        expectUsageError(["encode", "a.jpg", "--max-pixels", "0"], saying: "--max-pixels must be positive")
    }

    @Test func encodeHelpDescribesTheTimings() throws {
        let text = try help("encode")
        #expect(text.contains("--timings"))
        #expect(text.contains("\"timings\": {\"decode\", \"detect\", \"encode\"}"))
    }
}
