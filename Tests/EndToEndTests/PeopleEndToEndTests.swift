import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Known people with the real daemon: results name the people of the known folder, follow its
/// changes, and a `kill -9` in the middle of a relabel loses nothing; a relabel while the results
/// directory is away waits for it, and a document that names the wrong people is written again at
/// the next start.
@Suite(
    .tags(.endToEnd),
    .serialized, .timeLimit(.minutes(5)),
    .enabled(if: canRunDaemon && testImagesDirectory != nil, Comment(rawValue: "\(whyNot), or no test images")))
struct PeopleEndToEndTests {
    /// `facewatch people --json` parsed.
    static func people(_ root: TestRoot) async throws -> [String: Any] {
        let output = try await facewatch(["people", "--root", root.root, "--json"])
        #expect(output.status == 0, "people: \(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any] ?? [:]
    }

    /// The person entry named `name` of `people --json`.
    static func person(_ name: String, in people: [String: Any]) -> [String: Any]? {
        (people["people"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    /// The names each face of the document `name` (by source name) is matched to; nil when a face
    /// has no `matches` at all.
    static func names(_ root: TestRoot, _ source: String) throws -> [[String]?] {
        guard let document = try root.documents().first(where: { $0.source?.name == source }) else { return [] }
        return document.faces.map { $0.matches?.map(\.name) }
    }

    /// Known people were read (a generation exists) and every result carries the newest one.
    static func relabelled(_ people: [String: Any]) -> Bool {
        (people["generation"] as? Int ?? 0) > 0 && people["relabelling"] as? Bool == false
    }

    /// Why the daemon is paused (`status --json`), or nil.
    static func pausedReason(_ root: TestRoot) async -> String? {
        guard let output = try? await facewatch(["status", "--root", root.root, "--json"]),
            let status = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
            let metrics = status["metrics"] as? [String: Any]
        else { return nil }
        return metrics["paused"] as? String
    }

    static func distance(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }.squareRoot()
    }

    @Test func resultsFollowTheKnownFolder() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("people")
        let known = root.root + "/known"
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        // A photo dropped before its person is known: two faces, nobody named.
        try FileManager.default.copyItem(atPath: images + "/astronaut.png", toPath: root.inbox + "/party.png")
        try FileManager.default.copyItem(atPath: images + "/chelsea.png", toPath: root.inbox + "/cat.png")
        #expect(await eventually { root.documentCount() == 2 })
        #expect(try Self.names(root, "party.png") == [[], []])

        // Her picture arrives, in a folder of her own, beside a picture with no face.
        write(TinyPNG.make(width: 64, height: 48, seed: 3), to: known + "/nobody.png")
        try FileManager.default.createDirectory(atPath: known + "/eileen", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: images + "/astronaut_gray.jpg", toPath: known + "/eileen/1.jpg")
        #expect(await eventually { (try? Self.names(root, "party.png")) == [["eileen"], []] }, "\(daemon.log)")

        // The distance is face_recognition's, from her picture's first face to the result's face.
        let encoded = try await facewatch(["encode", known + "/eileen/1.jpg", "--models", modelsDirectory!])
        let reference = try JSONDecoder().decode(ResultDocument.self, from: Data(encoded.stdout.utf8))
        let party = try #require(try root.documents().first { $0.source?.name == "party.png" })
        let match = try #require(party.faces[0].matches?.first)
        let expected = Self.distance(reference.faces[0].encoding, party.faces[0].encoding)
        #expect(abs(match.distance - expected) < 1e-9 && match.distance <= 0.6)

        // The ignored picture is in the log and in status; people and stats count her.
        #expect(
            daemon.log.split(separator: "\n").contains {
                $0.contains("known picture ignored") && $0.contains("path=nobody.png")
            })
        let status = try await facewatch(["status", "--root", root.root])
        #expect(status.stdout.contains("ignored known picture nobody.png: no face found"), "\(status.stdout)")
        #expect(await eventually { (try? await Self.people(root)).map(Self.relabelled) ?? false })
        let people = try await Self.people(root)
        #expect(Self.person("eileen", in: people)?["results"] as? Int == 1)
        #expect(Self.person("eileen", in: people)?["faces"] as? Int == 1)
        #expect((try await root.stats()["faces_by_person"] as? [String: Int]) == ["eileen": 1])

        // match: her picture's closest stored face is the party's first one, at the same distance.
        let found = try await facewatch([
            "match", known + "/eileen/1.jpg", "--root", root.root, "--models", modelsDirectory!, "--json", "--limit",
            "1",
        ])
        #expect(found.status == 0, "\(found.stderr)")
        let answer = try JSONSerialization.jsonObject(with: Data(found.stdout.utf8)) as? [String: Any]
        let closest = ((answer?["faces"] as? [[String: Any]])?.first?["closest"] as? [[String: Any]])?.first
        #expect(closest?["id"] as? String == party.id)
        #expect(abs((closest?["distance"] as? Double ?? -1) - expected) < 1e-9)

        // Her folder removed: the result is unlabelled again.
        try FileManager.default.removeItem(atPath: known + "/eileen")
        #expect(await eventually { (try? Self.names(root, "party.png")) == [[], []] }, "\(daemon.log)")
        #expect(await eventually { (try? await root.stats()["faces_by_person"] as? [String: Int]) == [:] })
        // The known folder is only read: the picture with no face is still there.
        #expect(FileManager.default.fileExists(atPath: known + "/nobody.png"))
    }

    @Test func killDuringARelabelLosesNothing() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("relabel-kill")
        let known = root.root + "/known"
        let photos = 8
        // The debug build's hook: one record per relabel batch, a pause before each commit.
        var daemon = try DaemonProcess(
            root: root.root, arguments: ["--workers", "2"], environment: ["FACEWATCH_TEST_RELABEL_PAUSE_MS": "1000"])
        try await daemon.waitUntilReady()
        for i in 0..<photos {
            try FileManager.default.copyItem(atPath: images + "/astronaut.png", toPath: root.inbox + "/p\(i).png")
        }
        #expect(await eventually { root.documentCount() == photos })
        try FileManager.default.createDirectory(atPath: known, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: images + "/astronaut_gray.jpg", toPath: known + "/eileen.jpg")
        #expect(
            await eventually {
                guard let people = try? await Self.people(root) else { return false }
                return people["relabelling"] as? Bool == true && (people["relabel_visited"] as? Int ?? 0) >= 3
            })
        daemon.send(SIGKILL)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) != nil)

        // Mid-way: the ledger says so, and every document is whole and labelled with one of the two
        // generations (nobody, or eileen), never half of one.
        #expect(try await Self.people(root)["relabelling"] as? Bool == true)
        var labelled = 0
        for i in 0..<photos {
            let names = try Self.names(root, "p\(i).png")
            #expect(names == [[], []] || names == [["eileen"], []], "p\(i).png: \(names)")
            if names == [["eileen"], []] { labelled += 1 }
        }
        #expect(labelled >= 3 && labelled < photos, "\(labelled) labelled")

        // The restart resumes: every result names her, the counts agree.
        daemon = try await root.startDaemon()
        defer { daemon.stop() }
        #expect(await eventually { (try? await Self.people(root)).map(Self.relabelled) ?? false }, "\(daemon.log)")
        for i in 0..<photos {
            #expect(try Self.names(root, "p\(i).png") == [["eileen"], []], "p\(i).png")
        }
        let people = try await Self.people(root)
        #expect(Self.person("eileen", in: people)?["results"] as? Int == photos)
        #expect(Self.person("eileen", in: people)?["faces"] as? Int == photos)
        #expect(root.documentCount() == photos)
    }

    @Test func aRelabelWhileTheResultsAreAwayWaitsForThem() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("relabel-away")
        let known = root.root + "/known"
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        try FileManager.default.copyItem(atPath: images + "/astronaut.png", toPath: root.inbox + "/party.png")
        #expect(await eventually { root.documentCount() == 1 })
        #expect(try Self.names(root, "party.png") == [[], []])

        // An empty directory where the results were, as an unmounted mount point would be.
        let real = root.base + "/results.real"
        #expect(rename(root.results, real) == 0)
        try FileManager.default.createDirectory(atPath: root.results, withIntermediateDirectories: false)
        #expect(await eventually(timeout: .seconds(30)) { await Self.pausedReason(root)?.contains("results") == true })

        // Her picture arrives meanwhile: the known people change, and the relabel waits.
        try FileManager.default.copyItem(atPath: images + "/astronaut_gray.jpg", toPath: known + "/eileen.jpg")
        #expect(await eventually { daemon.log.contains("relabel waits") }, "\(daemon.log)")
        #expect((try await Self.people(root))["relabelling"] as? Bool == true)
        #expect(root.documentCount() == 0, "a document went into the empty results directory")

        // The real directory back: its document names her.
        #expect(rmdir(root.results) == 0)
        #expect(rename(real, root.results) == 0)
        #expect(await eventually { (try? Self.names(root, "party.png")) == [["eileen"], []] }, "\(daemon.log)")
        #expect(await eventually { (try? await Self.people(root)).map(Self.relabelled) ?? false })
        #expect(root.documentCount() == 1)
    }

    @Test func aDocumentNamingTheWrongPeopleIsWrittenAgainAtStart() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("relabel-stale")
        let known = root.root + "/known"
        var daemon = try await root.startDaemon()
        try FileManager.default.copyItem(atPath: images + "/astronaut.png", toPath: root.inbox + "/party.png")
        #expect(await eventually { root.documentCount() == 1 })
        let party = try #require(try root.documents().first)
        let path = root.results + "/" + (party.id ?? "") + ".json"
        let unlabelled = try Data(contentsOf: URL(fileURLWithPath: path))
        try FileManager.default.copyItem(atPath: images + "/astronaut_gray.jpg", toPath: known + "/eileen.jpg")
        #expect(await eventually { (try? Self.names(root, "party.png")) == [["eileen"], []] }, "\(daemon.log)")
        #expect(await eventually { (try? await Self.people(root)).map(Self.relabelled) ?? false })
        daemon.send(SIGKILL)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) != nil)

        // The document from before her picture put back (a restored backup, a write that went
        // elsewhere): newer than its record, whole, but naming nobody.
        try unlabelled.write(to: URL(fileURLWithPath: path))
        #expect(try Self.names(root, "party.png") == [[], []])
        daemon = try await root.startDaemon()
        defer { daemon.stop() }
        #expect(await eventually { (try? Self.names(root, "party.png")) == [["eileen"], []] }, "\(daemon.log)")
    }
}
