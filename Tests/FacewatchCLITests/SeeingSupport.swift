import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceTestSupport
import Foundation

/// What the annotate and report tests share: the test images, real faces from `facewatch encode`,
/// and a root whose ledger holds completed records built from them.

/// The conformance images (`make test-images`): `$FACEWATCH_TEST_IMAGES` or `<repo>/.cache/test-images`.
let seeingTestImages: String? = {
    let candidate =
        ProcessInfo.processInfo.environment["FACEWATCH_TEST_IMAGES"] ?? repositoryRoot + "/.cache/test-images"
    return FileManager.default.fileExists(atPath: candidate + "/two_faces.png") ? candidate : nil
}()

/// Whether the binary, the models and the test images are all there.
let canSee = facewatchBinary != nil && testModelsDirectory != nil && seeingTestImages != nil
let whyNotSee = "needs the facewatch binary, the models (make models) and the test images (make test-images)"

/// Runs the real binary with the test models.
func runFacewatch(_ arguments: [String], workingDirectory: String? = nil) async throws -> ProgramOutput {
    try await runProgram(
        facewatchBinary!, arguments, environment: .inheritedUpdating(["FACEWATCH_MODELS": testModelsDirectory!]),
        workingDirectory: workingDirectory, timeout: .seconds(120))
}

/// `facewatch encode FILE...`'s documents, in order: the faces the engine finds, as the daemon would
/// record them (one run: the models load once).
func encodedDocuments(_ paths: [String]) async throws -> [ResultDocument] {
    let run = try await runFacewatch(["encode"] + paths)
    guard run.status == 0 else { throw SeeingTestError("encode \(paths): \(run.status) \(run.stderr)") }
    return try run.stdout.split(separator: "\n").map {
        try JSONDecoder().decode(ResultDocument.self, from: Data($0.utf8))
    }
}

/// `facewatch encode FILE`'s document.
func encodedDocument(_ path: String) async throws -> ResultDocument {
    try await encodedDocuments([path])[0]
}

/// Decodes a picture file the way the daemon does (upright).
func decodePicture(_ path: String) throws -> DecodedImage {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    return try ImageDecoder.decode(bytes, limits: ImageLimits())
}

struct SeeingTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension TestRoot {
    /// Ingests the test image `name` into the store and ledger and completes it with the faces
    /// `facewatch encode` finds; `matches` (by face index) go into its result document, as the
    /// known-people matcher writes them.
    @discardableResult
    func addCompleted(_ name: String, matches: [Int: [(String, Double)]] = [:]) async throws -> LedgerRecord {
        try await addCompleted([name], matches: [name: matches])[0]
    }

    /// `addCompleted` for several images, encoded in one run; `matches` by image name.
    @discardableResult
    func addCompleted(_ names: [String], matches: [String: [Int: [(String, Double)]]] = [:]) async throws
        -> [LedgerRecord]
    {
        let documents = try await encodedDocuments(names.map { seeingTestImages! + "/" + $0 })
        var records: [LedgerRecord] = []
        for (name, document) in zip(names, documents) {
            records.append(try complete(name, document, matches: matches[name] ?? [:]))
        }
        return records
    }

    private func complete(_ name: String, _ document: ResultDocument, matches: [Int: [(String, Double)]]) throws
        -> LedgerRecord
    {
        let path = seeingTestImages! + "/" + name
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let created = try ingestor.ingest([drop(name, bytes)]).created
        guard let id = created.first?.id else { throw SeeingTestError("\(name) was not ingested") }
        let record = try ledger.complete(
            id, image: document.image!, faces: document.faces, completedAt: Date(), duration: 0.5)
        try results.write(record)
        if !matches.isEmpty {
            let file = results.path(for: id)
            var object =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
            var faces = object["faces"] as! [[String: Any]]
            for (index, people) in matches {
                faces[index]["matches"] = people.map { ["name": $0.0, "distance": $0.1] }
            }
            object["faces"] = faces
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: file))
        }
        return record
    }

    /// Ingests `bytes` as `name` and fails it with `code`.
    func addFailed(_ name: String, _ bytes: [UInt8], code: FailureCode) throws {
        let created = try ingestor.ingest([drop(name, bytes)]).created
        guard let id = created.first?.id else { throw SeeingTestError("\(name) was not ingested") }
        let record = try ledger.fail(id, Failure(code, "made by the test"), completedAt: Date(), duration: 0.01)
        try results.write(record)
    }
}
