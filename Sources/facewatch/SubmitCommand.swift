import ArgumentParser
import FaceCore
import FaceClient
import FaceDaemon
import FaceRoot
import Foundation

/// `facewatch submit FILE|DIR... [--wait]`: hands files to the daemon, prints their UUIDs.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Copy files into the inbox and print one UUID per file.",
        discussion: """
            Each file is copied into the inbox under a hidden temporary name, synced, and renamed to \
            <uuid>.<ext>, so the daemon takes it at once and keeps that UUID. Directories are walked \
            recursively (hidden files, *.part, *.tmp and *~ skipped). Prints one UUID per line, in the \
            order of the files. \
            With --wait, shows progress on standard error and prints each result as one JSON line when \
            the daemon has written it, after checking that the result's sha256 is that of the bytes sent \
            (a result of other content is refused). Exit status: 0 all submitted (and, with --wait, all \
            final and of the bytes sent), 1 a file could not be submitted, a result was of other \
            content, or --timeout ran out.
            """
    )

    @Argument(help: "Image files or directories.")
    var paths: [String]

    @OptionGroup var rootOptions: RootOptions

    @Flag(help: "Wait for the results and print them as JSON lines.")
    var wait = false

    @Option(help: "With --wait: give up after this long (30s, 5m; default: wait forever).")
    var timeout: String?

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one file or directory") }
        if let timeout, ValueParsing.seconds(timeout) == nil {
            throw ValidationError("--timeout: expected a duration such as 30s or 5m, got \(timeout)")
        }
    }

    func run() async throws {
        let configuration = try rootOptions.configuration()
        let files: [String]
        do {
            files = try Submitter.expand(paths)
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
        guard FileManager.default.fileExists(atPath: configuration.inbox) else {
            printError(
                "facewatch: no inbox at \(configuration.inbox) (start `facewatch serve` on \(configuration.root) first)"
            )
            throw ExitCode(1)
        }
        let submitter = Submitter(inbox: configuration.inbox)
        var submitted: [UUID] = []
        var submissions: [UUID: Submitter.Submission] = [:]
        var failed = 0
        for file in files {
            do {
                let submission = try submitter.submit(file)
                submitted.append(submission.id)
                submissions[submission.id] = submission
                print(submission.id.lowercased)
            } catch {
                printError("facewatch: \(error)")
                failed += 1
            }
        }
        fflush(nil)  // all output streams: stdout is not concurrency-safe to name
        if wait, !submitted.isEmpty {
            if RootLock.holder(root: configuration.root) == nil {
                printError("facewatch: no daemon is running on \(configuration.root); the files wait in the inbox")
            }
            let interactive = isatty(STDERR_FILENO) == 1
            var lastLine = ContinuousClock.now - .seconds(10)
            let pending = await ResultWaiter(directory: configuration.results).wait(
                for: submitted, timeout: timeout.flatMap(ValueParsing.seconds),
                progress: { done, total in
                    if interactive {
                        FileHandle.standardError.write(Data("\r\u{1B}[K\(done)/\(total) done".utf8))
                        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
                    } else if done == total || ContinuousClock.now - lastLine >= .seconds(1) {
                        printError("\(done)/\(total) done")
                        lastLine = ContinuousClock.now
                    }
                },
                found: { id, document in
                    if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    if let submission = submissions[id], let why = Submitter.mismatch(document, for: submission) {
                        printError("facewatch: \(why)")
                        failed += 1
                        return
                    }
                    print(document.jsonLine())
                    fflush(nil)  // all output streams: stdout is not concurrency-safe to name
                })
            if !pending.isEmpty {
                if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
                printError(
                    "facewatch: timed out waiting for \(pending.count) of \(submitted.count) results: "
                        + pending.prefix(5).map(\.lowercased).joined(separator: " ") + (pending.count > 5 ? " ..." : "")
                )
                throw ExitCode(1)
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
