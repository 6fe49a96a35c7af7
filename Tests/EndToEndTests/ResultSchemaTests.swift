#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// docs/result.schema.json describes the documents the real binary writes: `facewatch encode` lines
/// and a daemon's `results/<uuid>.json`, completed with and without faces, with known people's
/// matches, and failed with several codes. The check is `jsonschema` (Draft 2020-12) from
/// `.venv-tools`, through scripts/check_result_schema.py.
@Suite(
    .tags(.endToEnd), .timeLimit(.minutes(5)), .enabled(if: canRunDaemon && schemaChecker != nil, "\(whyNoSchemaCheck)")
)
struct ResultSchemaTests {
    @Test func encodeLinesFollowTheSchema() async throws {
        let images = try #require(testImagesDirectory, "make test-images")
        let root = TestRoot("schema-encode")
        let folder = root.staging("files")
        // Every decoded format names itself in "image".
        let names = [
            "astronaut.png", "two_faces.png", "camera.png", "no_time_for_that_tiny.gif", "astronaut.heic",
            "astronaut.avif", "astronaut_lossy.webp",
        ]
        for name in names {
            try FileManager.default.copyItem(atPath: images + "/" + name, toPath: folder + "/" + name)
        }
        write([], to: folder + "/empty.jpg")
        write(noise(300, seed: 5), to: folder + "/noise.png")
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: images + "/astronaut.jpg"))
        write(Array(jpeg.prefix(jpeg.count / 3)), to: folder + "/truncated.jpg")

        let output = try await facewatch(["encode", "--models", modelsDirectory!, "--timings", folder])
        #expect(output.status == 1, "some files fail: \(output.stderr)")
        let lines = output.stdout.split(separator: "\n")
        #expect(lines.count == 10, "\(output.stdout.prefix(500))")
        let path = root.base + "/encode.jsonl"
        write(Array(output.stdout.utf8), to: path)
        let check = try await checkSchema([path])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("checked 10 documents, 0 invalid"), "\(check.stdout)")
    }

    @Test func daemonDocumentsFollowTheSchema() async throws {
        let images = try #require(testImagesDirectory, "make test-images")
        let root = TestRoot("schema-daemon")
        let known = root.staging("known")
        try FileManager.default.copyItem(atPath: images + "/astronaut.png", toPath: known + "/eileen.png")
        let daemon = try await root.startDaemon(["--known", known, "--result-landmarks"])
        defer { daemon.stop() }
        let staging = root.staging()
        for name in ["astronaut_exif6.jpg", "camera.png", "no_time_for_that_tiny.gif"] {
            try FileManager.default.copyItem(atPath: images + "/" + name, toPath: staging + "/" + name)
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }
        write([], to: staging + "/empty.png")
        #expect(rename(staging + "/empty.png", root.inbox + "/empty.png") == 0)
        #expect(symlink("/etc/hostname", root.inbox + "/link.jpg") == 0)
        #expect(await eventually { root.documentCount() == 5 }, "\(daemon.log)")
        // A known person's match is part of what is checked: a document written before the known
        // picture was read gets it when the relabel writes it again.
        #expect(
            await eventually {
                (try? root.documents())?.contains { $0.faces.contains { !($0.matches ?? []).isEmpty } } == true
            }, "no match: \(daemon.log)")
        let documents = try root.documents()
        // So are each face's score and, with result_landmarks, its 5 landmarks (the default model).
        let faces = documents.flatMap(\.faces)
        #expect(!faces.isEmpty && faces.allSatisfy { $0.score != nil && $0.landmarks?.points.count == 5 })

        let paths = try FileManager.default.contentsOfDirectory(atPath: root.results)
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { root.results + "/" + $0 }
        let check = try await checkSchema(paths)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("checked 5 documents, 0 invalid"), "\(check.stdout)")
    }

    /// The check can fail: a document without `status`, with a 127-number encoding or an unknown
    /// error code is refused.
    @Test func theCheckRefusesWrongDocuments() async throws {
        let root = TestRoot("schema-wrong")
        let encoding = [String](repeating: "0.5", count: 127).joined(separator: ",")
        let wrong = [
            #"{"source":null,"image":null,"faces":[],"face_encoding":[],"created_at":null,"completed_at":null,"error":null}"#,
            #"{"status":"completed","source":null,"image":null,"faces":[{"location":{"top":1,"right":2,"bottom":2,"left":1},"encoding":["#
                + encoding
                + #"]}],"face_encoding":[],"created_at":null,"completed_at":null,"error":null}"#,
            #"{"status":"failed","source":null,"image":null,"faces":[],"face_encoding":[],"created_at":null,"completed_at":null,"error":{"code":"oops","message":"m"}}"#,
        ]
        for (index, text) in wrong.enumerated() {
            let path = root.base + "/wrong-\(index).json"
            write(Array(text.utf8), to: path)
            let check = try await checkSchema([path])
            #expect(check.status == 1, "document \(index) passed: \(check.stdout)")
        }
    }
}

/// `.venv-tools/bin/python` (made by `make test-images`) with `jsonschema`, or nil.
let schemaChecker: String? = {
    let python = repositoryRoot + "/.venv-tools/bin/python"
    guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: python)
    probe.arguments = ["-c", "import jsonschema"]
    probe.standardError = FileHandle.nullDevice
    guard (try? probe.run()) != nil else { return nil }
    probe.waitUntilExit()
    return probe.terminationStatus == 0 ? python : nil
}()

let whyNoSchemaCheck =
    canRunDaemon ? "no .venv-tools with jsonschema (run `make test-images`)" : whyNot

private func checkSchema(_ paths: [String]) async throws -> ProgramOutput {
    try await runProgram(
        schemaChecker!,
        [repositoryRoot + "/scripts/check_result_schema.py", repositoryRoot + "/docs/result.schema.json"] + paths)
}
