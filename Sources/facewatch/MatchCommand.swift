import ArgumentParser
import FaceClient
import FaceCore
import FaceEncoding
import FaceMatch
import Foundation

/// `facewatch match IMAGE|UUID`: the closest stored faces of each face of an image.
struct MatchCommand: AsyncParsableCommand, RunsTheFaceNetwork {
    static let configuration = CommandConfiguration(
        commandName: "match",
        abstract: "Print the stored faces closest to each face of an image or of a stored result.",
        discussion: """
            IMAGE is encoded here (the models are loaded); a UUID names a stored result, whose own faces \
            are left out of the answer. The search is exact (the same ranking as computing every \
            distance), over the face table DB/face-table.f32, rebuilt from the ledger when missing or \
            stale. Each line: distance, result UUID, source name, box (top, right, bottom, left). With \
            --json: {"query", "faces": [{"location", "closest": [{"distance", "id", "face", "source", \
            "location"}]}]}. Exit status: 0, 1 when the image or result cannot be read, 2 on a usage error.
            """
    )

    @Argument(help: "An image file, or the UUID of a stored result.")
    var query: String

    @Option(help: "Stored faces listed per face.")
    var limit: Int = 5

    @Option(help: "List only faces at most this far (Euclidean distance).")
    var tolerance: Double?

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(help: "Directory with the dlib model files, to encode IMAGE (default: as `encode`).")
    var models: String?

    @OptionGroup var rootOptions: RootOptions

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let tolerance, !(tolerance >= 0) { throw ValidationError("--tolerance must be a number >= 0") }
    }

    /// The UUID when `query` is one (a stored result), nil for a file.
    var resultID: UUID? {
        FileManager.default.fileExists(atPath: query) ? nil : UUID(uuidString: query)
    }

    func run() async throws {
        let queries = try rootOptions.queries()
        let faces: [Face]
        if let id = resultID {
            guard let record = try? queries.ledger.record(id), record.status == .completed else {
                printError("facewatch: no completed result \(query)")
                throw ExitCode(1)
            }
            faces = record.faces
        } else {
            faces = try await encode(query)
        }
        let search: FaceSearch
        do {
            let configuration = queries.configuration
            if configuration.ledgerIsShared {
                search = try FaceSearch(
                    sharedLedger: queries.ledger, cacheDirectory: FaceSearch.cacheDirectory(root: configuration.root))
            } else {
                search = try FaceSearch(ledger: queries.ledger, database: configuration.database)
            }
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
        var answers: [(Face, [FaceSearch.Hit])] = []
        for face in faces {
            do {
                answers.append(
                    (
                        face,
                        try search.closest(to: face.encoding, limit: limit, tolerance: tolerance, excluding: resultID)
                    ))
            } catch {
                printError("facewatch: \(error)")
                throw ExitCode(1)
            }
        }
        if json {
            let document = JSONValue.object([
                ("query", .string(query)),
                (
                    "faces",
                    .array(
                        answers.map { face, hits in
                            .object([
                                ("location", Self.box(face.location)), ("closest", .array(hits.map(\.json))),
                            ])
                        })
                ),
            ])
            print(document.pretty())
            return
        }
        if faces.isEmpty { print("no face in \(query)") }
        for (index, (face, hits)) in answers.enumerated() {
            print("face \(index + 1) \(Self.text(face.location)):")
            if hits.isEmpty { print("  no stored face" + (tolerance.map { " within \($0)" } ?? "")) }
            for hit in hits {
                print(
                    "  \(String(format: "%.6f", hit.distance))  \(hit.id.uuidString.lowercased())  \(TerminalText.printable(hit.source))  \(Self.text(hit.location))"
                )
            }
        }
    }

    private func encode(_ path: String) async throws -> [Face] {
        try Facewatch.requireSupportedCPU()
        let configuration = try rootOptions.configuration()
        do {
            let directory = try FaceModels.locate(explicit: models ?? configuration.models)
            let engine = try FaceEngine(models: try FaceModels(directory: directory, options: configuration.encoder))
            switch engine.encode(fileAt: path, limits: configuration.limits) {
            case .success(let image): return image.faces
            case .failure(let failure):
                printError("facewatch: \(path): \(failure.code.rawValue): \(failure.message)")
                throw ExitCode(1)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }

    static func box(_ l: FaceLocation) -> JSONValue {
        .object([
            ("top", .int(Int64(l.top))), ("right", .int(Int64(l.right))), ("bottom", .int(Int64(l.bottom))),
            ("left", .int(Int64(l.left))),
        ])
    }

    static func text(_ l: FaceLocation) -> String {
        "(top \(l.top), right \(l.right), bottom \(l.bottom), left \(l.left))"
    }
}
