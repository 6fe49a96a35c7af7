import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A forget killed half-way, and retention: whole or forgotten, never between, and the counters
/// always equal the results.
@Suite(
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: canRunDaemon && testImagesDirectory != nil, Comment(rawValue: "\(whyNot), or no test images")))
struct ForgetCrashEndToEndTests {
    @Test func killDuringAForgetOfAThousandPhotosLeavesEachWholeOrForgotten() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("forget-kill")
        var daemon = try await root.startDaemon()
        defer { daemon.stop() }
        // 1,000 small pictures and three photos with faces, renamed in from a staging folder.
        let staging = root.staging()
        for index in 0..<1_000 {
            write(TinyPNG.make(width: 8, height: 8, seed: index), to: staging + "/tiny-\(index).png")
        }
        for name in ["astronaut.png", "two_faces.png", "astronaut_exif3.jpg"] {
            try FileManager.default.copyItem(atPath: images + "/" + name, toPath: staging + "/face-" + name)
        }
        let total = 1_003
        for name in try FileManager.default.contentsOfDirectory(atPath: staging) {
            try FileManager.default.moveItem(atPath: staging + "/" + name, toPath: root.inbox + "/" + name)
        }
        #expect(await eventually(timeout: .seconds(300)) { root.documentCount() == total }, "\(daemon.log)")
        let documents = try root.documents()
        let faces = Dictionary(uniqueKeysWithValues: documents.map { ($0.id ?? "", $0.faces.count) })

        // The forget runs beside the daemon and is killed once a few hundred photos are forgotten.
        let forget = Process()
        forget.executableURL = URL(fileURLWithPath: facewatchBinary!)
        forget.arguments = ["forget", "--root", root.root, "--name", "*", "--quiet"]
        forget.standardOutput = FileHandle.nullDevice
        forget.standardError = FileHandle.nullDevice
        try forget.run()
        let audit = root.root + "/forgotten.log"
        let started = await eventually(timeout: .seconds(120), interval: .milliseconds(2)) {
            ((try? String(contentsOfFile: audit, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 200
                || !forget.isRunning
        }
        kill(forget.processIdentifier, SIGKILL)
        forget.waitUntilExit()
        #expect(started)
        #expect(forget.terminationReason == .uncaughtSignal, "the forget finished before it was killed")

        // After the restart: each photo whole (record, document, original) or forgotten (none).
        daemon.stop()
        daemon = try await root.startDaemon()
        let stored = root.storedEntries()
        var whole = 0
        var wholeFaces = 0
        var forgottenIDs: [String] = []
        for document in documents {
            let id = document.id ?? ""
            let hasDocument = FileManager.default.fileExists(atPath: root.results + "/\(id).json")
            let hasOriginal = stored[id] != nil
            #expect(hasDocument == hasOriginal, "\(id): document \(hasDocument), original \(hasOriginal)")
            if hasDocument {
                whole += 1
                wholeFaces += faces[id] ?? 0
            } else {
                forgottenIDs.append(id)
            }
        }
        #expect(forgottenIDs.count >= 200 && whole > 0, "\(forgottenIDs.count) forgotten")
        let stats = try await root.stats()
        #expect(stats["total"] as? Int == whole && stats["completed"] as? Int == whole)
        #expect(stats["faces"] as? Int == wholeFaces)
        for id in [forgottenIDs.first!, forgottenIDs.last!] {
            let answer = try await facewatch(["result", id, "--root", root.root, "--compact"])
            #expect(answer.status == 0 && answer.stdout.contains("\"status\":\"forgotten\""), "\(answer.stdout)")
        }

        // The same forget again finishes the rest, with the daemon running.
        let rest = try await facewatch(["forget", "--root", root.root, "--name", "*", "--quiet"])
        #expect(rest.status == 0 && rest.stdout.contains("forgot \(whole) images"), "\(rest.stdout) \(rest.stderr)")
        let empty = try await root.stats()
        #expect(empty["total"] as? Int == 0 && empty["faces"] as? Int == 0)
        #expect((empty["average_encoding"] as? [Double])?.isEmpty == true)
        #expect(root.documentCount() == 0 && root.storedEntries().isEmpty)
    }

    @Test func retentionRemovesOriginalsThenForgetsResults() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("forget-retention")
        var daemon = try await root.startDaemon(["--keep-originals", "2s"])
        defer { daemon.stop() }
        try FileManager.default.copyItem(atPath: images + "/astronaut.png", toPath: root.inbox + "/a.png")
        #expect(await eventually { root.documentCount() == 1 }, "\(daemon.log)")
        let id = try #require(try root.documents().first?.id ?? nil)
        // The original goes once it is older than keep_originals; the result stays.
        #expect(await eventually(timeout: .seconds(60)) { root.storedEntries().isEmpty }, "\(daemon.log)")
        // Logged right after the unlink the wait above saw.
        #expect(await eventually { daemon.log.contains("removed an original past keep_originals id=\(id)") })
        let result = try await facewatch(["result", id, "--root", root.root, "--compact"])
        #expect(result.stdout.contains("\"status\":\"completed\""))
        let annotate = try await facewatch(["annotate", id, "--root", root.root, "-o", root.base + "/a.jpg"])
        #expect(annotate.status == 1 && annotate.stderr.contains("no longer stored"), "\(annotate.stderr)")

        // With keep_results the whole image is forgotten in its time.
        daemon.stop()
        daemon = try await root.startDaemon(["--keep-results", "3s"])
        #expect(await eventually(timeout: .seconds(60)) { root.documentCount() == 0 }, "\(daemon.log)")
        let forgotten = try await facewatch(["result", id, "--root", root.root, "--compact"])
        #expect(forgotten.stdout.contains("\"status\":\"forgotten\"") && forgotten.stdout.contains("keep_results=3s"))
        let stats = try await root.stats()
        #expect(stats["total"] as? Int == 0 && stats["faces"] as? Int == 0)
    }
}
