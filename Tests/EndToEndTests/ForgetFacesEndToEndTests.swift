import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// `facewatch forget --person NAME --faces-only` and the daemon's scheduled compaction, with the real
/// binary, models and LMDB, the daemon running throughout.
@Suite(
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: canRunDaemon && testImagesDirectory != nil, Comment(rawValue: "\(whyNot), or no test images")))
struct ForgetFacesEndToEndTests {
    static func hasMatch(_ face: Face, _ person: String) -> Bool {
        face.matches?.contains { $0.name == person } ?? false
    }

    /// How many times the daemon has logged a compaction.
    static func compactions(_ daemon: DaemonProcess) -> Int {
        daemon.log.split(separator: "\n").filter { $0.contains("compacted the ledger") }.count
    }

    @Test func forgetsOnePersonsFacesKeepsThePhotoAndTheDaemonCompactsThemAway() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("forget-faces")
        try FileManager.default.createDirectory(atPath: root.root + "/known", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: images + "/astronaut_gray.jpg", toPath: root.root + "/known/eileen.jpg")
        let daemon = try await root.startDaemon(["--compact-every", "1s"])
        defer { daemon.stop() }
        let photos = [("a.png", "astronaut.png"), ("two.png", "two_faces.png"), ("cat.png", "chelsea.png")]
        // (two_faces.png: two astronauts, both eileen's: the photo is left with no face.)
        for photo in photos { try ForgetEndToEndTests.drop(root, images, photo) }
        #expect(await eventually { root.documentCount() == photos.count }, "\(daemon.log)")
        #expect(
            await eventually {
                (try? await PeopleEndToEndTests.people(root)).map(PeopleEndToEndTests.relabelled) == true
            })
        // Documents name the people once the relabel is over.
        #expect(
            await eventually {
                (try? root.documents())?.contains { $0.faces.contains { Self.hasMatch($0, "eileen") } } == true
            }, "\(daemon.log)")
        // astronaut.png has two faces: the astronaut (eileen) and another one, which stays.
        let before = try root.documents()
        let photo = try #require(before.first { $0.source?.name == "a.png" })
        let photoID = try #require(photo.id)
        let doomed = before.flatMap { $0.faces.filter { Self.hasMatch($0, "eileen") } }
        let kept = photo.faces.filter { !Self.hasMatch($0, "eileen") }
        try #require(!kept.isEmpty && kept.count < photo.faces.count, "\(photo.faces.map { $0.matches ?? [] })")
        let statsBefore = try await root.stats()
        let compactedBefore = Self.compactions(daemon)

        let output = try await facewatch(["forget", "--root", root.root, "--person", "eileen", "--faces-only"])
        #expect(output.status == 0, "forget --faces-only: \(output.stderr)")
        #expect(output.stdout.contains("forgot \(doomed.count) faces in"), "\(output.stdout)")

        // The document is rewritten without them; the photo and the other faces stay.
        let after = try root.documents()
        let photoAfter = try #require(after.first { $0.id == photoID })
        #expect(photoAfter.status == .completed)
        #expect(photoAfter.faces.map(\.encoding) == kept.map(\.encoding))
        #expect(!after.contains { $0.faces.contains { Self.hasMatch($0, "eileen") } })
        #expect(root.storedEntries()[photoID] != nil, "the photo stays")
        let result = try await ForgetEndToEndTests.result(root, photoID)
        #expect((result["faces"] as? [Any])?.count == kept.count && result["status"] as? String == "completed")
        // The counters: fewer faces, the same photos; the average is the documents' mean; eileen has no face.
        let stats = try await root.stats()
        #expect(stats["faces"] as? Int == (statsBefore["faces"] as? Int ?? -1) - doomed.count)
        #expect(stats["completed"] as? Int == statsBefore["completed"] as? Int)
        #expect((stats["faces_by_person"] as? [String: Int])?["eileen"] == nil, "\(stats)")
        let averageOutput = try await facewatch(["average", "--root", root.root])
        let average = try JSONSerialization.jsonObject(with: Data(averageOutput.stdout.utf8)) as? [String: Any] ?? [:]
        let expected = meanEncoding(after)
        #expect(average["faces"] as? Int == expected.faces)
        let mean = average["average_encoding"] as? [Double] ?? []
        #expect(mean.count == 128 && zip(mean, expected.mean).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) })
        let audit = try String(contentsOfFile: root.root + "/forgotten.log", encoding: .utf8)
        let lines = audit.split(separator: "\n").filter {
            $0.contains(" forgot-faces ") && $0.contains("person=eileen")
        }
        let counted = lines.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("faces=") }.flatMap { Int($0.dropFirst(6)) }
        }
        #expect(counted.reduce(0, +) == doomed.count, "\(audit)")

        // The running daemon compacts the ledger after the forget: the forgotten faces' 128 float32s
        // are then in no file under the root, while the kept faces' still are (in the ledger).
        #expect(
            await eventually(timeout: .seconds(60)) { Self.compactions(daemon) > compactedBefore }, "\(daemon.log)")
        for face in doomed {
            let bytes = ForgetEndToEndTests.rawBytes(face.encoding)
            #expect(ForgetEndToEndTests.files(under: root.root, holding: bytes).isEmpty)
        }
        for face in kept {
            #expect(
                !ForgetEndToEndTests.files(under: root.root, holding: ForgetEndToEndTests.rawBytes(face.encoding))
                    .isEmpty)
        }

        // A whole photo forgotten while the daemon runs: its remaining face is compacted away too.
        let astronaut = try #require(after.first { $0.source?.name == "a.png" })
        #expect(astronaut.faces.count == kept.count)
        let compacted = Self.compactions(daemon)
        let forget = try await facewatch(["forget", "--root", root.root, try #require(astronaut.id)])
        #expect(forget.status == 0, "forget: \(forget.stderr)")
        #expect(await eventually(timeout: .seconds(60)) { Self.compactions(daemon) > compacted }, "\(daemon.log)")
        for face in astronaut.faces {
            let bytes = ForgetEndToEndTests.rawBytes(face.encoding)
            #expect(ForgetEndToEndTests.files(under: root.root, holding: bytes).isEmpty)
        }
        // Nothing forgotten since: no further compaction; and the daemon goes on with the compacted ledger.
        try ForgetEndToEndTests.drop(root, images, ("later.jpg", "astronaut_exif3.jpg"))
        #expect(await eventually { root.documentCount() == photos.count }, "\(daemon.log)")
        let later = try #require(try root.documents().first { $0.source?.name == "later.jpg" })
        #expect(later.status == .completed && !later.faces.isEmpty)
        let finalStats = try await root.stats()
        #expect(finalStats["completed"] as? Int == photos.count)
        #expect(Self.compactions(daemon) == compacted + 1, "\(daemon.log)")
    }

    /// The same on a PostgreSQL ledger: the faces go from the shared ledger and the document, and
    /// the daemon's scheduled compaction runs `VACUUM FULL` after the forget.
    @Test(.enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster (make test starts one)"))
    func forgetsOnePersonsFacesOnAPostgresLedgerAndTheDaemonVacuumsIt() async throws {
        let images = try #require(testImagesDirectory)
        let url = try #require(try TestPostgres.freshDatabase())
        let root = TestRoot("forget-faces-pg")
        try FileManager.default.createDirectory(atPath: root.root + "/known", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: images + "/astronaut_gray.jpg", toPath: root.root + "/known/eileen.jpg")
        let config = root.root + "/facewatch.conf"
        try "root = \(root.root)\nledger = \(url)\ncompact_every = 1s\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--config", config, "--workers", "2", "--log-level", "debug"])
        try await daemon.waitUntilReady()
        defer { daemon.stop() }
        func stats() async throws -> [String: Any] {
            let output = try await facewatch(["stats", "--config", config, "--compact"])
            #expect(output.status == 0, "stats: \(output.stderr)")
            return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any] ?? [:]
        }
        for photo in [("a.png", "astronaut.png"), ("cat.png", "chelsea.png")] {
            try ForgetEndToEndTests.drop(root, images, photo)
        }
        #expect(await eventually { root.documentCount() == 2 }, "\(daemon.log)")
        #expect(
            await eventually {
                (try? root.documents())?.contains { $0.faces.contains { Self.hasMatch($0, "eileen") } } == true
            }, "\(daemon.log)")
        let photo = try #require(try root.documents().first { $0.source?.name == "a.png" })
        let doomed = photo.faces.filter { Self.hasMatch($0, "eileen") }
        let kept = photo.faces.filter { !Self.hasMatch($0, "eileen") }
        try #require(!doomed.isEmpty && !kept.isEmpty)
        let before = try await stats()
        #expect(Self.compactions(daemon) == 0, "nothing was forgotten: \(daemon.log)")

        let output = try await facewatch(["forget", "--config", config, "--person", "eileen", "--faces-only"])
        #expect(output.status == 0, "forget --faces-only: \(output.stderr)")
        #expect(output.stdout.contains("forgot \(doomed.count) faces in 1 images"), "\(output.stdout)")
        let after = try #require(try root.documents().first { $0.id == photo.id })
        #expect(after.faces.map(\.encoding) == kept.map(\.encoding))
        let counted = try await stats()
        #expect(counted["faces"] as? Int == (before["faces"] as? Int ?? -1) - doomed.count)
        #expect((counted["faces_by_person"] as? [String: Int])?["eileen"] == nil, "\(counted)")
        #expect(
            await eventually(timeout: .seconds(60)) {
                daemon.log.split(separator: "\n").contains {
                    $0.contains("compacted the ledger") && $0.contains(" forgets=1")
                }
            },
            "\(daemon.log)")
    }
}
