import ArgumentParser
import FaceClient

/// `facewatch name PERSON NAME`: names a found person by adding a picture of its best face to the
/// known folder.
struct NameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "name",
        abstract: "Name a person found among the faces: add a picture of its best face to known/NAME/.",
        discussion: """
            PERSON is a person's id as `facewatch people` lists it (at least its first 4 hex digits). \
            The picture (known/NAME/person-ID.jpg, the face with a margin) is a known picture like \
            any other: the daemon reads it, and the faces that resemble it are labelled NAME. The \
            known folder stays the truth of names: delete the picture to take the name back. Naming \
            two people with one name merges them under that name.
            """
    )

    @OptionGroup var rootOptions: RootOptions

    @Argument(help: "The person's id (or its first hex digits, at least 4).")
    var person: String

    @Argument(help: "The name: a folder name under the known folder.")
    var name: String

    func run() throws {
        let queries = try rootOptions.queries()
        do {
            let path = try queries.name(person, as: name)
            print(path)
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
