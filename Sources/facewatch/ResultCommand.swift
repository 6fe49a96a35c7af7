import ArgumentParser
import FaceClient
import FaceDaemon
import Foundation

/// `facewatch result UUID`: the image's JSON document, from the ledger.
struct ResultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Print the JSON document of an image.",
        discussion: """
            Reads the ledger (read-only; works while the daemon runs), so it also answers for images \
            still waiting ("status": "created"), and for forgotten images ("status": "forgotten", with when \
            and why; see `facewatch forget`). Exit status: 0 found, 1 unknown UUID or no ledger.
            """
    )

    @Argument(help: "The image's UUID (as printed by submit, or the name of its results/<uuid>.json).")
    var id: String

    @OptionGroup var rootOptions: RootOptions

    @Flag(help: "One line instead of indented JSON.")
    var compact = false

    func validate() throws {
        if UUID(uuidString: id) == nil { throw ValidationError("not a UUID: \(id)") }
    }

    func run() throws {
        let queries = try rootOptions.queries()
        guard let uuid = UUID(uuidString: id) else { throw ExitCode(2) }
        do {
            guard let document = try queries.result(uuid) else {
                if let tombstone = try queries.tombstone(uuid) {
                    print(compact ? tombstone.json.serialized() : tombstone.json.pretty())
                    return
                }
                printError("facewatch: no image \(uuid.lowercased) in \(queries.configuration.root)")
                throw ExitCode(1)
            }
            print(compact ? document.jsonLine() : document.json.pretty())
        } catch let error as ClientError {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
