import ArgumentParser
import FaceClient
import FaceDaemon
import FaceRoot
import Foundation

/// `facewatch forget UUID... | --name GLOB | --before DATE | --person NAME [--faces-only]`: forgets
/// images everywhere, or only a known person's faces.
struct ForgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Forget images: their originals, results, faces, encodings and thumbnails.",
        discussion: """
            Each image is forgotten in one ledger transaction: its record becomes a tombstone (id, inbox \
            name, when it came, when and why it was forgotten; no face, no encoding), and the counts, \
            faces, the running encoding sum and the counts per person change exactly as if it had never \
            come. Then its stored original, results/<uuid>.json, report thumbnails and the face table are \
            removed; a crash between leaves the tombstone, and the removals are done again at the next \
            forget or daemon start. `facewatch result UUID` then says "forgotten". Each image gets one \
            line in ROOT/forgotten.log.

            With --faces-only (and --person only), the photos stay: the faces labelled as that person \
            go from the record, the counts, the encoding sum and the counts per person, as if they had \
            never been found; the other faces stay; results/<uuid>.json is rewritten without them. \
            Thumbnails and the original still show the person (they are the photo): forget the photos \
            to remove those.

            Run it as the service user or root (whoever may write the ledger); a running daemon is no \
            obstacle. The deleted bytes stay in the ledger's free pages until the daemon compacts it \
            (compact_every, and at its start) or `facewatch ledger compact`.

            Exit status: 0 done (also when nothing matched), 1 an error (files that could not be removed \
            included), 2 usage error.
            """
    )

    @Argument(help: "Image UUIDs to forget.")
    var ids: [String] = []

    @Option(name: .customLong("name"), help: "Forget images whose inbox name matches this glob (* also matches /).")
    var names: [String] = []

    @Option(help: "Forget images that came before this time (2026-01-31, 2026-01-31T12:00:00Z).")
    var before: String?

    @Option(
        name: .customLong("person"),
        help:
            "Forget images with a face labelled as this known person (a name under known/), or in this found person (its id, 16 hex digits, as `facewatch people` lists it)."
    )
    var people: [String] = []

    @Flag(help: "With --person: forget only that person's faces, keep the photos and their other faces.")
    var facesOnly = false

    @Flag(help: "List the images that would be forgotten; change nothing.")
    var dryRun = false

    @Flag(help: "Print only the summary.")
    var quiet = false

    @OptionGroup var rootOptions: RootOptions

    func validate() throws {
        for id in ids where UUID(uuidString: id) == nil { throw ValidationError("not a UUID: \(id)") }
        if let before, ValueParsing.date(before) == nil {
            throw ValidationError("--before: expected a time such as 2026-01-31T18:00:00Z, got \(before)")
        }
        if facesOnly && (people.isEmpty || !ids.isEmpty || !names.isEmpty || before != nil) {
            throw ValidationError("--faces-only goes with --person only")
        }
        if facesOnly, let id = people.first(where: ForgetSelection.isPersonID) {
            throw ValidationError("--faces-only takes known people's names, not a found person's id (\(id))")
        }
        if ids.isEmpty && names.isEmpty && before == nil && people.isEmpty {
            throw ValidationError("name what to forget: UUIDs, --name, --before or --person")
        }
    }

    func run() throws {
        let configuration = try rootOptions.configuration()
        if facesOnly { return try forgetFaces(configuration) }
        let selection = ForgetSelection(
            ids: ids.compactMap(UUID.init(uuidString:)), nameGlobs: names,
            before: before.flatMap { ValueParsing.date($0) },
            people: people, peopleFilter: PeopleFilter(configuration))
        do {
            let reason = "facewatch forget \(selection.summary) (uid \(getuid()))"
            let (selected, report) = try Forgetting.forget(
                configuration, selection, reason: reason, dryRun: dryRun,
                store: DirectoryIdentity.storeID(of: configuration))
            if dryRun {
                for id in selected { print(id.uuidString.lowercased()) }
                print("would forget \(selected.count) images")
                return
            }
            if !quiet {
                for tombstone in report.forgotten {
                    print("forgot \(tombstone.id.uuidString.lowercased()) \(tombstone.name)")
                }
                for id in report.unknown { printError("facewatch: no image \(id.uuidString.lowercased())") }
            }
            for error in report.fileErrors { printError("facewatch: cannot remove \(error)") }
            print(
                "forgot \(report.forgotten.count) images (\(report.alreadyForgotten.count) already forgotten, "
                    + "\(report.unknown.count) unknown)")
            if !report.fileErrors.isEmpty || (!report.unknown.isEmpty && report.forgotten.isEmpty && !ids.isEmpty) {
                throw ExitCode(1)
            }
        } catch let error as ClientError {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }

    /// `--person NAME --faces-only`.
    private func forgetFaces(_ configuration: DaemonConfiguration) throws {
        do {
            let reason =
                "facewatch forget --faces-only \(people.map { "--person \($0)" }.joined(separator: " ")) (uid \(getuid()))"
            let (selected, report) = try Forgetting.forgetFaces(
                configuration, of: people, reason: reason, dryRun: dryRun,
                documents: ResultsWriter.documentWriter(for: configuration),
                store: DirectoryIdentity.storeID(of: configuration))
            if dryRun {
                for id in selected { print(id.uuidString.lowercased()) }
                print("would forget faces in \(selected.count) images")
                return
            }
            if !quiet {
                for changed in report.changed {
                    print("forgot \(changed.faces) faces of \(changed.id.uuidString.lowercased())")
                }
            }
            for error in report.fileErrors { printError("facewatch: cannot rewrite \(error)") }
            let faces = report.changed.reduce(0) { $0 + $1.faces }
            print("forgot \(faces) faces in \(report.changed.count) images (\(report.untouched.count) unchanged)")
            if !report.fileErrors.isEmpty { throw ExitCode(1) }
        } catch let error as ClientError {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
