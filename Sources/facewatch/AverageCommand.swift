import ArgumentParser
import FaceClient
import FaceDaemon
import FaceRoot
import Foundation

/// `facewatch average [--since 24h | --from T --to T]`: the true mean face encoding.
struct AverageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "average",
        abstract: "Print the mean of every face encoding of completed images, optionally in a time window.",
        discussion: """
            The true component-wise mean over every face (not a mean of pairwise means), of completed \
            images created in the window [from, to). All time by default (O(1), from the ledger's running \
            sum); a window is streamed in constant memory. Output: \
            {"from","to","images","faces","average_encoding"}; "average_encoding" is empty when no face \
            was found. Times: RFC 3339 (2026-11-24T18:00:00Z), a UTC date (2026-11-24), or now.
            """
    )

    @Option(help: "Only images created in this last span: 90m, 24h, 7d, 2w, 1h30m.")
    var since: String?

    @Option(help: "Only images created at or after this time.")
    var from: String?

    @Option(help: "Only images created before this time.")
    var to: String?

    @OptionGroup var rootOptions: RootOptions

    @Flag(help: "One line instead of indented JSON.")
    var compact = false

    func validate() throws {
        if since != nil && from != nil { throw ValidationError("give --since or --from, not both") }
        if let since, ValueParsing.seconds(since) == nil {
            throw ValidationError("--since: expected a span such as 24h, 7d or 90m, got \(since)")
        }
        if let from, ValueParsing.date(from) == nil {
            throw ValidationError("--from: expected a time such as 2026-11-24T18:00:00Z, got \(from)")
        }
        if let to, ValueParsing.date(to) == nil {
            throw ValidationError("--to: expected a time such as 2026-11-24T18:00:00Z, got \(to)")
        }
    }

    func run() throws {
        let now = Date()
        var lower = from.flatMap { ValueParsing.date($0, now: now) }
        let upper = to.flatMap { ValueParsing.date($0, now: now) }
        if let since, let seconds = ValueParsing.seconds(since) { lower = now.addingTimeInterval(-seconds) }
        let queries = try rootOptions.queries()
        do {
            let json = try queries.average(from: lower, to: upper).json
            print(compact ? json.serialized() : json.pretty())
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
