import ArgumentParser
import FaceCore
import FaceEncoding
import Foundation
import Glibc

/// A command that runs the face network, so OpenBLAS's kernel matters to it (`BLASKernel`).
protocol RunsTheFaceNetwork {}

/// The `facewatch` command. Each subcommand lives in its own file; logic lives in the libraries.
@main
struct Facewatch: AsyncParsableCommand {
    /// Every subcommand, in the order `facewatch --help` lists them. Add new commands here.
    static let commands: [any ParsableCommand.Type] = [
        ServeCommand.self,
        SubmitCommand.self,
        ResultCommand.self,
        StatsCommand.self,
        AverageCommand.self,
        StatusCommand.self,
        PeopleCommand.self,
        NameCommand.self,
        MatchCommand.self,
        EncodeCommand.self,
        AnnotateCommand.self,
        ReportCommand.self,
        LedgerCommand.self,
        ForgetCommand.self,
    ]

    static let configuration = CommandConfiguration(
        commandName: "facewatch",
        abstract: "Turns images into 128-number face encodings (dlib, face_recognition's results).",
        discussion: """
            Exit status: 0 success, 1 failure (for encode: at least one image failed), 2 usage error.
            """,
        version: FacewatchVersion.current,
        subcommands: commands
    )

    /// Exit status for a command line that cannot be parsed or does not validate.
    static let usageExitCode: Int32 = 2

    /// ArgumentParser exits with 64 (EX_USAGE) on usage errors; facewatch uses 2, like most Unix tools.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if command is any RunsTheFaceNetwork { BLASKernel.useAVX2KernelIfOpenBLASChoseAnOlderOne() }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                terminate(usageExitCode)
            }
            exit(withError: error)
        }
    }
}

extension Facewatch {
    /// Fails with a plain message when the CPU cannot run the face engine (x86_64 without AVX2).
    /// Every command that encodes calls it before loading the models.
    static func requireSupportedCPU() throws {
        if let reason = CPUFeatures.unsupportedReason {
            printError("facewatch: \(reason)")
            throw ExitCode(1)
        }
    }
}

/// Ends the process with `code` at once.
func terminate(_ code: Int32) -> Never {
    Glibc.exit(code)
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
