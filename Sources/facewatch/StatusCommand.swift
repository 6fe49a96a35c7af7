import ArgumentParser
import FaceClient
import FaceDaemon

/// `facewatch status`: is a daemon running, the backlog, the rate, the latest failures.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show whether a daemon runs on the root, the backlog, the rate and the latest failures.",
        discussion:
            "Exit status: 0 when a daemon holds the root, 3 when none runs (like `systemctl status`), 1 on errors."
    )

    @OptionGroup var rootOptions: RootOptions

    @Option(help: "How many recent failures to list.")
    var failures: Int = 5

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let queries = try rootOptions.queries()
        let report: StatusReport
        do {
            report = try queries.status(recentFailures: max(0, failures))
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
        print(json ? report.json.pretty() : report.text())
        if report.daemonPID == nil { throw ExitCode(3) }
    }
}
