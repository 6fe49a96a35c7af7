import ArgumentParser
import FaceClient
import FaceCore
import FaceDaemon

/// `facewatch people [--json] [--rebuild]`: the known people and the people found among the faces.
struct PeopleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "people",
        abstract: "List the known people and the people found among the stored faces.",
        discussion: """
            Known people are the pictures of the known folder (setting `known`, default ROOT/known): \
            known/alice.jpg is alice, every picture in known/bob/ is bob. A picture with no face is \
            listed as ignored. Found people are the groups of stored faces (settings cluster_*; \
            docs/people.md): each with its id, the known name most of its faces are labelled with \
            (or unnamed), its faces and photos, and the photo of its best face (the highest detection \
            score). `facewatch name PERSON NAME` names one. Read from the ledger (read-only; works \
            while the daemon runs).

            With --rebuild: groups every stored face again in one pass and writes again each result \
            document whose faces' "person" differs from it (the daemon must be stopped: it groups \
            again at each start).
            """
    )

    @OptionGroup var rootOptions: RootOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Group every stored face again in one pass and rewrite the documents that differ.")
    var rebuild = false

    func run() throws {
        if rebuild {
            try runRebuild()
            return
        }
        let queries = try rootOptions.queries()
        do {
            let summary = try queries.people()
            let found = try queries.foundPeople()
            if json {
                guard case .object(let members) = summary.json else { return }
                print(JSONValue.object(members + [("found", found.json)]).pretty())
            } else {
                print(([summary.text] + found.textLines).joined(separator: "\n"))
            }
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }

    private func runRebuild() throws {
        let configuration = try rootOptions.configuration()
        do {
            let report = try PeopleRebuild.run(configuration)
            print(
                "grouped \(report.faces) faces into \(report.people) people; rewrote \(report.rewritten) of \(report.checked) documents"
            )
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
