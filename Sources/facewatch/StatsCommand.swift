import ArgumentParser
import FaceClient
import FaceDaemon

/// `facewatch stats`: counts per status, faces, mean encoding, rate.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print the counts per status, faces, the mean encoding and the rate.",
        discussion: """
            The same object as ROOT/stats.json, read from the ledger's counters (O(1), read-only; works \
            while the daemon runs): {"total","created","completed","failed","faces","average_encoding", \
            "images_per_minute","updated_at"}. The rate is the running daemon's (0 when none runs).
            """
    )

    @OptionGroup var rootOptions: RootOptions

    @Flag(help: "One line instead of indented JSON.")
    var compact = false

    func run() throws {
        let queries = try rootOptions.queries()
        do {
            let json = try queries.stats().json
            print(compact ? json.serialized() : json.pretty())
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
