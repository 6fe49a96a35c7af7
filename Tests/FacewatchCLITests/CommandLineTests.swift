import FaceCore
import FaceDaemon
import FaceTestSupport
import Foundation
import Testing

@testable import facewatch

/// The real `facewatch` binary where that is cheap (no daemon): usage errors exit with 2, `status
/// --json`, `encode --timings` and `submit --wait --timeout` with no daemon running.
@Suite(
    .timeLimit(.minutes(5)),
    .enabled(if: facewatchBinary != nil, "no facewatch binary: build it (swift build) before the tests"))
struct CommandLineTests {
    func facewatch(_ arguments: [String]) async throws -> ProgramOutput {
        try await runProgram(facewatchBinary!, arguments, timeout: .seconds(120))
    }

    @Test(arguments: [
        ["serve", "--workers", "many"],
        ["submit"],
        ["result", "not-a-uuid"],
        ["stats", "extra"],
        ["average", "--since", "24h", "--from", "2026-11-24"],
        ["status", "--failures", "some"],
        ["encode", "a.jpg", "--upsample", "9"],
        ["frobnicate"],
    ])
    func aUsageErrorExitsWith2AndSaysWhy(arguments: [String]) async throws {
        let run = try await facewatch(arguments)
        #expect(run.status == 2, "\(arguments): \(run.status) \(run.stderr)")
        #expect(run.stderr.contains("Error: "), "\(arguments): \(run.stderr)")
        #expect(
            run.stderr.contains("Usage: facewatch") || run.stderr.contains("USAGE: facewatch"),
            "\(arguments): \(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    /// Every command the binary has (a new one is covered as soon as `Facewatch.commands` lists it).
    @Test(arguments: Facewatch.commands.map { $0.configuration.commandName ?? "" })
    func helpExitsWith0(name: String) async throws {
        let run = try await facewatch([name, "--help"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("USAGE: facewatch \(name)"), "\(run.stdout)")
    }

    @Test func statusJSONWithNoDaemonHasEveryFieldAndExits3() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let created = try root.ingestor.ingest([root.drop("a.png", TinyPNG.make(seed: 1))])
        #expect(created.created.count == 1)

        let run = try await facewatch(["status", "--json", "--root", root.directory.path])
        #expect(run.status == 3, "no daemon runs: \(run.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        #expect(
            Set(object.keys) == ["root", "daemon_pid", "stats", "recent_failures", "metrics", "not_taken", "people"],
            "\(object.keys)")
        #expect((object["not_taken"] as? [Any])?.isEmpty == true)
        #expect(object["root"] as? String == root.directory.path)
        #expect(object["daemon_pid"] is NSNull)
        #expect(object["metrics"] is NSNull)
        #expect((object["recent_failures"] as? [Any])?.isEmpty == true)
        let stats = try #require(object["stats"] as? [String: Any])
        #expect(
            Set(stats.keys) == [
                "total", "created", "completed", "failed", "faces", "faces_by_person", "average_encoding",
                "images_per_minute", "updated_at",
            ])
        #expect(stats["total"] as? Int == 1)
        #expect(stats["created"] as? Int == 1)
    }

    @Test func statusWithoutALedgerExits1() async throws {
        let scratch = ScratchDirectory("facewatch-cli")
        defer { scratch.remove() }
        let run = try await facewatch(["status", "--json", "--root", scratch.path])
        #expect(run.status == 1)
        #expect(run.stderr.contains("no facewatch ledger"), "\(run.stderr)")
    }

    @Test(.enabled(if: testModelsDirectory != nil, "no models in <repo>/models: run `make models`"))
    func encodeTimingsAddsTheThreeStagesInSeconds() async throws {
        let scratch = ScratchDirectory("facewatch-cli")
        defer { scratch.remove() }
        write(TinyPNG.make(width: 32, height: 32, seed: 1), to: scratch.appending("a.png"))
        write(TinyPNG.make(width: 32, height: 32, seed: 2), to: scratch.appending("b.png"))

        let timed = try await facewatch([
            "encode", "--models", testModelsDirectory!, "--workers", "1", "--timings", scratch.path,
        ])
        #expect(timed.status == 0, "\(timed.stderr)")
        let lines = timed.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        for (line, name) in zip(lines, ["a.png", "b.png"]) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect((object["file"] as? String)?.hasSuffix(name) == true, "input order: \(line)")
            #expect(object["status"] as? String == "completed")
            let timings = try #require(object["timings"] as? [String: Any], "no timings in \(line)")
            #expect(Set(timings.keys) == ["decode", "detect", "encode"])
            #expect(timings.values.allSatisfy { ($0 as? NSNumber).map { $0.doubleValue >= 0 } == true }, "\(timings)")
        }
    }

    @Test func submitWaitTimesOutWithStatus1WhenNoDaemonRuns() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let scratch = ScratchDirectory("facewatch-cli")
        defer { scratch.remove() }
        write(TinyPNG.make(seed: 3), to: scratch.appending("photo.png"))

        let run = try await facewatch([
            "submit", "--root", root.directory.path, "--wait", "--timeout", "1s", scratch.appending("photo.png"),
        ])
        #expect(run.status == 1, "\(run.stderr)")
        let id = try #require(
            UUID(uuidString: run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "one UUID line: \(run.stdout)"
        )
        #expect(run.stderr.contains("no daemon is running"), "\(run.stderr)")
        #expect(run.stderr.contains("timed out waiting for 1 of 1 results: \(id.lowercased)"), "\(run.stderr)")
        // The file waits in the inbox under its UUID, for a daemon to take it.
        #expect(FileManager.default.fileExists(atPath: root.inbox + "/\(id.lowercased).png"))
    }
}
