import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `facewatch forget`, `ledger compact` and retention with the real binary, models and LMDB: what is
/// forgotten is gone from every file, and the root answers as one that never saw it.
@Suite(
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: canRunDaemon && testImagesDirectory != nil, Comment(rawValue: "\(whyNot), or no test images")))
struct ForgetEndToEndTests {
    /// What `stats`, `average` and the counts per person say, without the times.
    struct Answers: Equatable, CustomStringConvertible {
        var counts: [Int]
        var facesByPerson: [String: Int]
        var averageFaces: Int
        var average: [Double]

        var description: String { "counts \(counts), people \(facesByPerson), \(averageFaces) faces averaged" }

        func matches(_ other: Answers) -> Bool {
            counts == other.counts && facesByPerson == other.facesByPerson && averageFaces == other.averageFaces
                && average.count == other.average.count
                && zip(average, other.average).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
        }
    }

    static func answers(_ root: TestRoot) async throws -> Answers {
        let stats = try await root.stats()
        let averageOutput = try await facewatch(["average", "--root", root.root])
        #expect(averageOutput.status == 0, "average: \(averageOutput.stderr)")
        let average = try JSONSerialization.jsonObject(with: Data(averageOutput.stdout.utf8)) as? [String: Any] ?? [:]
        return Answers(
            counts: ["total", "created", "completed", "failed", "faces"].map { stats[$0] as? Int ?? -1 },
            facesByPerson: stats["faces_by_person"] as? [String: Int] ?? [:],
            averageFaces: average["faces"] as? Int ?? -1,
            average: (average["average_encoding"] as? [Double]) ?? [])
    }

    /// `facewatch result ID` parsed.
    static func result(_ root: TestRoot, _ id: String) async throws -> [String: Any] {
        let output = try await facewatch(["result", id, "--root", root.root, "--compact"])
        #expect(output.status == 0, "result \(id): \(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any] ?? [:]
    }

    /// The raw little-endian float32 bytes of an encoding, as the ledger stores them.
    static func rawBytes(_ encoding: [Float]) -> Data {
        Data(encoding.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } })
    }

    /// Every regular file under `directory` that holds `bytes`.
    static func files(under directory: String, holding bytes: Data) -> [String] {
        var found: [String] = []
        for relative in FileManager.default.subpaths(atPath: directory) ?? [] {
            let path = directory + "/" + relative
            guard let kind = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType,
                kind == .typeRegular, let data = FileManager.default.contents(atPath: path)
            else { continue }
            if data.range(of: bytes) != nil { found.append(relative) }
        }
        return found
    }

    static let known = "astronaut_gray.jpg"
    /// The photos: inbox name and test image (the first came before the others).
    static let photos: [(String, String)] = [
        ("old/first.jpg", "astronaut_exif6.jpg"), ("party/a.png", "astronaut.png"),
        ("party/b.jpg", "astronaut_progressive.jpg"), ("solo.jpg", "astronaut_exif3.jpg"),
        ("two.png", "two_faces.png"), ("cat.png", "chelsea.png"), ("keep.jpg", "astronaut.jpg"),
    ]

    static func prepareKnown(_ root: TestRoot, _ images: String) throws {
        try FileManager.default.createDirectory(atPath: root.root + "/known", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: images + "/" + known, toPath: root.root + "/known/eileen.jpg")
    }

    static func drop(_ root: TestRoot, _ images: String, _ photo: (String, String)) throws {
        let staging = root.staging()
        let path = root.inbox + "/" + photo.0
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // Staged and renamed in: the inbox takes whole files.
        let staged = staging + "/" + UUID().uuidString
        try FileManager.default.copyItem(atPath: images + "/" + photo.1, toPath: staged)
        try FileManager.default.moveItem(atPath: staged, toPath: path)
    }

    @Test func forgetsPhotosEverywhereAsIfTheyNeverCame() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("forget")
        try Self.prepareKnown(root, images)
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        try Self.drop(root, images, Self.photos[0])
        #expect(await eventually { root.documentCount() == 1 }, "\(daemon.log)")
        let cutoff = Timestamp.format(Date())
        for photo in Self.photos.dropFirst() { try Self.drop(root, images, photo) }
        #expect(await eventually { root.documentCount() == Self.photos.count }, "\(daemon.log)")
        #expect(
            await eventually {
                (try? await PeopleEndToEndTests.people(root)).map(PeopleEndToEndTests.relabelled) == true
            })
        let documents = try root.documents()
        let byName = Dictionary(uniqueKeysWithValues: documents.map { ($0.source?.name ?? "", $0) })
        func id(_ name: String) -> String { byName[name]?.id ?? "missing \(name)" }
        // Thumbnails and the face table exist before the forget.
        #expect(try await facewatch(["report", "--root", root.root]).status == 0)
        let match = try await facewatch([
            "match", images + "/astronaut.jpg", "--root", root.root, "--json", "--models", modelsDirectory!,
        ])
        #expect(match.status == 0, "\(match.stderr)")
        #expect(FileManager.default.fileExists(atPath: root.root + "/db/face-table.f32"))

        // By id, by name, by date, by person.
        var forgotten: [String] = []
        func forget(_ arguments: [String], _ names: [String]) async throws {
            let output = try await facewatch(["forget", "--root", root.root] + arguments)
            #expect(output.status == 0, "forget \(arguments): \(output.stderr)")
            #expect(output.stdout.contains("forgot \(names.count) images"), "\(output.stdout)")
            forgotten += names
        }
        try await forget([id("solo.jpg")], ["solo.jpg"])
        try await forget(["--name", "party/*"], ["party/a.png", "party/b.jpg"])
        try await forget(["--before", cutoff], ["old/first.jpg"])
        let eileens = documents.filter { document in
            !forgotten.contains(document.source?.name ?? "")
                && document.faces.contains { $0.matches?.contains { $0.name == "eileen" } ?? false }
        }.map { $0.source?.name ?? "" }
        #expect(eileens.contains("keep.jpg"))
        try await forget(["--person", "eileen"], eileens)

        let stored = root.storedEntries()
        for name in forgotten {
            let uuid = id(name)
            #expect(stored[uuid] == nil, "\(name)'s original remains")
            #expect(
                !FileManager.default.fileExists(atPath: root.results + "/\(uuid).json"), "\(name)'s document remains")
            #expect(!FileManager.default.fileExists(atPath: root.root + "/report/thumbs/\(uuid).jpg"))
            let answer = try await Self.result(root, uuid)
            #expect(
                answer["status"] as? String == "forgotten"
                    && (answer["source"] as? [String: Any])?["name"] as? String == name)
            #expect(answer["faces"] == nil)
        }
        #expect(!FileManager.default.fileExists(atPath: root.root + "/db/face-table.f32"))
        let audit = try String(contentsOfFile: root.root + "/forgotten.log", encoding: .utf8)
        #expect(audit.split(separator: "\n").count == forgotten.count)
        // The face search finds none of them (the table is rebuilt from the ledger).
        let after = try await facewatch([
            "match", images + "/astronaut.jpg", "--root", root.root, "--json", "--models", modelsDirectory!,
        ])
        for name in forgotten { #expect(!after.stdout.contains(id(name))) }

        // A root that never saw them answers the same.
        let control = TestRoot("forget-control")
        try Self.prepareKnown(control, images)
        let controlDaemon = try await control.startDaemon()
        let kept = Self.photos.filter { !forgotten.contains($0.0) }
        for photo in kept { try Self.drop(control, images, photo) }
        #expect(await eventually { control.documentCount() == kept.count }, "\(controlDaemon.log)")
        #expect(
            await eventually {
                (try? await PeopleEndToEndTests.people(control)).map(PeopleEndToEndTests.relabelled) == true
            })
        let expected = try await Self.answers(control)
        controlDaemon.stop()
        let answers = try await Self.answers(root)
        #expect(answers.matches(expected), "\(answers) vs \(expected)")

        // Dedup never answers from a forgotten photo: the same bytes again are encoded afresh.
        try Self.drop(root, images, ("again.jpg", "astronaut.jpg"))
        #expect(await eventually { root.documentCount() == kept.count + 1 })
        let again = try #require(try root.documents().first { $0.source?.name == "again.jpg" })
        #expect(again.status == .completed && again.faces.count == byName["keep.jpg"]!.faces.count)
        // The daemon logs `dedup=true` for a result answered from a twin; this one was encoded.
        func completedLine() -> Substring? {
            daemon.log.split(separator: "\n").first {
                $0.contains(" completed ") && $0.contains("id=\(again.id ?? "")")
            }
        }
        #expect(await eventually { completedLine() != nil })
        #expect(completedLine().map { !$0.contains("dedup=true") && $0.contains("seconds=") } == true, "\(daemon.log)")

        // After compact, no forgotten face's 128 float32s are in any file under the root.
        daemon.stop()
        let forgottenFaces = forgotten.flatMap { byName[$0]!.faces.map { Self.rawBytes($0.encoding) } }
        #expect(!forgottenFaces.isEmpty)
        let compact = try await facewatch(["ledger", "compact", "--root", root.root])
        #expect(compact.status == 0, "compact: \(compact.stderr)")
        // keep.jpg was forgotten and the same bytes came back as again.jpg: its encoding is live again.
        let live = Set(try root.documents().flatMap { $0.faces.map { Self.rawBytes($0.encoding) } })
        for bytes in forgottenFaces where !live.contains(bytes) {
            #expect(
                Self.files(under: root.root, holding: bytes).isEmpty, "\(Self.files(under: root.root, holding: bytes))")
        }
        for bytes in live { #expect(!Self.files(under: root.root, holding: bytes).isEmpty) }
        // The compacted ledger answers as before: the kept photos and again.jpg.
        let compacted = try await Self.answers(root).counts
        let total = answers.counts[0] + 1
        let completed = answers.counts[2] + 1
        let faces = answers.counts[4] + again.faces.count
        #expect(compacted == [total, answers.counts[1], completed, answers.counts[3], faces])
    }

    @Test func compactRefusesWhileTheDaemonRuns() async throws {
        let root = TestRoot("forget-busy")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let compact = try await facewatch(["ledger", "compact", "--root", root.root])
        #expect(compact.status == 1 && compact.stderr.contains("stop it first"), "\(compact.stderr)")
    }
}
