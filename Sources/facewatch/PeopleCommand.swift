import ArgumentParser
import FaceClient

/// `facewatch people`: the known people, their pictures and how many results name them.
struct PeopleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "people",
        abstract: "List the known people, their pictures and how many results each appears in.",
        discussion: """
            Known people are the pictures of the known folder (setting `known`, default ROOT/known): \
            known/alice.jpg is alice, every picture in known/bob/ is bob. A picture with no face is \
            listed as ignored. Read from the ledger (read-only; works while the daemon runs).
            """
    )

    @OptionGroup var rootOptions: RootOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let queries = try rootOptions.queries()
        do {
            let summary = try queries.people()
            print(json ? summary.json.pretty() : summary.text)
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
