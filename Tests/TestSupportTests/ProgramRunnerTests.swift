import FaceTestSupport
import Foundation
import Testing

/// The runner every test uses to run a program: what it captures, how it reports an end by signal,
/// and that a program past its deadline is killed and reported, not waited for.
@Suite(.timeLimit(.minutes(2)))
struct ProgramRunnerTests {
    @Test func capturesBothStreamsAndTheExitStatus() async throws {
        let run = try await runProgram("/bin/sh", ["-c", "echo out; echo err >&2; exit 7"])
        #expect(run.status == 7)
        #expect(run.stdout == "out\n")
        #expect(run.stderr == "err\n")
    }

    @Test func aSignalIsReportedAs128PlusItsNumberAndIsNotBlockedInTheChild() async throws {
        // The test's threads block SIGTERM; the child must start without that mask, as from a shell.
        let run = try await runProgram("/bin/sh", ["-c", "kill -TERM $$; sleep 30"])
        #expect(run.status == 128 + SIGTERM)
    }

    @Test func aProgramPastItsDeadlineIsKilledAndReported() async throws {
        // Were the child not killed at the deadline, the runner would wait for it and the suite's
        // time limit would fail the test.
        let error = await #expect(throws: ProgramTimedOut.self) {
            try await runProgram("/bin/sleep", ["600"], timeout: .seconds(1))
        }
        #expect(error?.command == "/bin/sleep 600")
    }

    @Test func environmentAndWorkingDirectoryAreTheOnesGiven() async throws {
        let directory = ScratchDirectory("runner")
        defer { directory.remove() }
        let exact = try await runProgram(
            "/bin/sh", ["-c", "echo \"$ONLY:${HOME:-unset}\"; pwd"], environment: .exactly(["ONLY": "1"]),
            workingDirectory: directory.path)
        let resolved = URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path
        #expect(exact.stdout == "1:unset\n\(resolved)\n")
        let updated = try await runProgram(
            "/bin/sh", ["-c", "echo \"$ADDED:${PATH:+path}\""], environment: .inheritedUpdating(["ADDED": "2"]))
        #expect(updated.stdout == "2:path\n")
    }

    @Test func aProgramThatCannotStartThrows() async {
        await #expect(throws: (any Error).self) { try await runProgram("/nonexistent/program", []) }
    }
}
