import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `kill -9` of the daemon in the middle of its scheduled compaction (LMDB), with the copy written
/// and with the copy renamed over `data.mdb` (the old `lock.mdb` still there): after the restart
/// nothing is lost, the forgotten photo stays forgotten, the restarted daemon compacts, and the
/// forgotten encodings are in no file under the root.
@Suite(
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: canRunDaemon && testImagesDirectory != nil, Comment(rawValue: "\(whyNot), or no test images")))
struct CompactionCrashEndToEndTests {
    @Test(arguments: ["copied", "renamed"])
    func aKillDuringTheDaemonsCompactionLosesNothing(_ point: String) async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("compaction-crash-\(point)")
        let gate = root.staging("gate") + "/gate"
        let daemon = try await root.startDaemon(
            ["--compact-every", "1s"],
            environment: ["FACEWATCH_TEST_HOLD_COMPACTION": point, "FACEWATCH_TEST_PAUSE_GATE": gate])
        defer { daemon.stop() }
        let photos = [("a.png", "astronaut.png"), ("b.jpg", "astronaut_progressive.jpg"), ("c.png", "chelsea.png")]
        for photo in photos { try ForgetEndToEndTests.drop(root, images, photo) }
        #expect(await eventually { root.documentCount() == photos.count }, "\(daemon.log)")
        let documents = try root.documents()
        let gone = try #require(documents.first { $0.source?.name == "a.png" })
        let goneID = try #require(gone.id)
        let kept = documents.filter { $0.id != goneID }
        let forget = try await facewatch(["forget", "--root", root.root, goneID])
        #expect(forget.status == 0, "forget: \(forget.stderr)")
        #expect(
            await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: gate + ".compacting") },
            "\(daemon.log)")
        daemon.send(SIGKILL)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) != nil)

        let restarted = try await root.startDaemon(["--compact-every", "1s"])
        defer { restarted.stop() }
        #expect(
            await eventually(timeout: .seconds(60)) {
                restarted.log.split(separator: "\n").contains {
                    $0.contains("compacted the ledger") && $0.contains(" forgets=1")
                }
            },
            "\(restarted.log)")
        let stats = try await root.stats()
        #expect(stats["total"] as? Int == kept.count && stats["completed"] as? Int == kept.count, "\(stats)")
        #expect(stats["faces"] as? Int == kept.reduce(0) { $0 + $1.faces.count }, "\(stats)")
        let answer = try await ForgetEndToEndTests.result(root, goneID)
        #expect(answer["status"] as? String == "forgotten")
        for document in kept {
            let result = try await ForgetEndToEndTests.result(root, try #require(document.id))
            #expect(result["status"] as? String == "completed")
            #expect((result["faces"] as? [Any])?.count == document.faces.count)
        }
        let live = Set(kept.flatMap { $0.faces.map { ForgetEndToEndTests.rawBytes($0.encoding) } })
        for face in gone.faces {
            let bytes = ForgetEndToEndTests.rawBytes(face.encoding)
            guard !live.contains(bytes) else { continue }
            #expect(ForgetEndToEndTests.files(under: root.root, holding: bytes).isEmpty)
        }
        // The restarted daemon goes on writing the compacted ledger.
        try ForgetEndToEndTests.drop(root, images, ("d.jpg", "astronaut_exif3.jpg"))
        #expect(await eventually { root.documentCount() == photos.count }, "\(restarted.log)")
        #expect(try await root.stats()["completed"] as? Int == photos.count)
    }
}
