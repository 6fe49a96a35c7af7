import ArgumentParser
import FaceDaemon
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import facewatch

/// `ledger export|import`: arguments, help and usage errors.
extension CommandParsingTests {
    @Test func ledgerExportAndImportReadTheirTargetAndTheRoot() throws {
        let export = try parse(["ledger", "export", "/tmp/copy", "--root", "/r"], as: LedgerExportCommand.self)
        #expect(export.target == "/tmp/copy" && export.rootOptions.root == "/r")
        let imported = try parse(
            ["ledger", "import", "postgres://u@h/db", "--config", "/etc/f.conf"], as: LedgerImportCommand.self)
        #expect(imported.source == "postgres://u@h/db" && imported.rootOptions.config == "/etc/f.conf")
        // Without one, the other ledger is $FACEWATCH_LEDGER_URL's (a password stays off argv).
        #expect(try parse(["ledger", "export", "--root", "/r"], as: LedgerExportCommand.self).target == nil)
        #expect(try parse(["ledger", "import", "--root", "/r"], as: LedgerImportCommand.self).source == nil)
    }

    @Test func ledgerUsageErrors() {
        expectUsageError(["ledger", "export", "a", "b"], saying: "Unexpected argument 'b'")
        expectUsageError(["ledger", "move", "a"], saying: "move")
    }

    @Test func ledgerHelpNamesBothSubcommandsAndWhatIsChecked() throws {
        let text = try help("ledger")
        #expect(text.contains("USAGE: facewatch ledger"), "\(text)")
        #expect(text.contains("export") && text.contains("import"), "\(text)")
        #expect(text.contains("every record"), "\(text)")
    }
}

/// The real binary moves a root's ledger out and into another root, and refuses while a daemon
/// holds the root.
@Suite(
    .timeLimit(.minutes(3)),
    .enabled(if: facewatchBinary != nil, "no facewatch binary: build it (swift build) before the tests"))
struct LedgerCommandBinaryTests {
    func facewatch(_ arguments: [String]) async throws -> ProgramOutput {
        try await runProgram(facewatchBinary!, arguments, timeout: .seconds(120))
    }

    @Test func exportThenImportGivesAnotherRootTheSameStats() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let created = try root.ingestor.ingest((1...5).map { root.drop("p\($0).png", TinyPNG.make(seed: $0)) })
        #expect(created.created.count == 5)
        let moved = root.directory.appending("moved-ledger")

        let export = try await facewatch(["ledger", "export", moved, "--root", root.directory.path])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("copied 5 records (5 queued)"), "\(export.stdout)")

        let other = ScratchDirectory()
        defer { other.remove() }
        let imported = try await facewatch(["ledger", "import", moved, "--root", other.path])
        #expect(imported.status == 0, "\(imported.stderr)")
        let before = try await facewatch(["stats", "--compact", "--root", root.directory.path])
        let after = try await facewatch(["stats", "--compact", "--root", other.path])
        #expect(Self.withoutTime(before.stdout) == Self.withoutTime(after.stdout), "\(before.stdout) \(after.stdout)")

        // A second import into the same (now full) root is refused.
        let again = try await facewatch(["ledger", "import", moved, "--root", other.path])
        #expect(again.status == 1 && again.stderr.contains("already holds records"), "\(again.stderr)")
    }

    @Test func anImportKilledHalfwayLeavesALedgerNoDaemonStartsOnAndASecondImportCompletesIt() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let created = try root.ingestor.ingest((1...9).map { root.drop("p\($0).png", TinyPNG.make(seed: $0)) })
        #expect(created.created.count == 9)
        let moved = root.directory.appending("moved-ledger")
        let export = try await facewatch(["ledger", "export", moved, "--root", root.directory.path])
        #expect(export.status == 0, "\(export.stderr)")

        // Killed after two batches of two records: a partial ledger, marked unfinished.
        let other = ScratchDirectory()
        defer { other.remove() }
        let killed = try await runProgram(
            facewatchBinary!, ["ledger", "import", "--root", other.path],
            environment: .inheritedUpdating([
                "FACEWATCH_LEDGER_URL": moved, "FACEWATCH_TEST_COPY_BATCH": "2", "FACEWATCH_TEST_KILL_COPY_AFTER": "4",
            ]), timeout: .seconds(120))
        #expect(killed.status != 0, "\(killed.stdout)")
        let partial = try await facewatch(["stats", "--compact", "--root", other.path])
        #expect(partial.stdout.contains("\"total\":4"), "\(partial.stdout) \(partial.stderr)")

        // No daemon starts on it, and it says what to run.
        let serve = try await runProgram(
            facewatchBinary!, ["serve", "--root", other.path, "--models", other.appending("no-models")],
            timeout: .seconds(60))
        #expect(serve.status == 1, "\(serve.stderr)")
        #expect(serve.stderr.contains("unfinished copy of \(moved)"), "\(serve.stderr)")
        #expect(serve.stderr.contains("run the same command again"), "\(serve.stderr)")

        // The same import again completes it: every record once, and checked.
        let resumed = try await facewatch(["ledger", "import", moved, "--root", other.path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("copied 9 records"), "\(resumed.stdout)")
        let before = try await facewatch(["stats", "--compact", "--root", root.directory.path])
        let after = try await facewatch(["stats", "--compact", "--root", other.path])
        #expect(Self.withoutTime(before.stdout) == Self.withoutTime(after.stdout), "\(before.stdout) \(after.stdout)")
    }

    @Test func aRootADaemonHoldsIsRefused() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let lock = try RootLock(root: root.directory.path)
        defer { lock.release() }
        let run = try await facewatch([
            "ledger", "export", root.directory.appending("x"), "--root", root.directory.path,
        ])
        #expect(run.status == 1 && run.stderr.contains("holds"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root.directory.appending("x")))
    }

    /// A stats line without `updated_at` (the time it was read).
    static func withoutTime(_ line: String) -> String {
        line.replacing(/"updated_at":"[^"]*"/, with: "")
    }
}

/// `ledger export postgres://…` and `ledger import postgres://…` with the real binary.
@Suite(
    .timeLimit(.minutes(3)),
    .enabled(if: facewatchBinary != nil, "no facewatch binary: build it (swift build) before the tests"),
    .enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster: `make test` starts one"))
struct LedgerCommandPostgresTests {
    @Test func aRootMovesIntoPostgreSQLAndBack() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let created = try root.ingestor.ingest((1...4).map { root.drop("p\($0).png", TinyPNG.make(seed: $0)) })
        #expect(created.created.count == 4)
        let url = try #require(try TestPostgres.freshDatabase())
        let run = { (arguments: [String]) async throws -> ProgramOutput in
            try await runProgram(facewatchBinary!, arguments, timeout: .seconds(120))
        }
        let export = try await run(["ledger", "export", url, "--root", root.directory.path])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("copied 4 records (4 queued)"), "\(export.stdout)")
        let other = ScratchDirectory()
        defer { other.remove() }
        let imported = try await run(["ledger", "import", url, "--root", other.path])
        #expect(imported.status == 0, "\(imported.stderr)")
        let before = try await run(["stats", "--compact", "--root", root.directory.path])
        let after = try await run(["stats", "--compact", "--root", other.path])
        #expect(
            LedgerCommandBinaryTests.withoutTime(before.stdout) == LedgerCommandBinaryTests.withoutTime(after.stdout))
    }
}
