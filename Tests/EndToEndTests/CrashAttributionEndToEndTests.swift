import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Crash attribution against the real binary: random `kill -9`s charge no innocent file, and a
/// real poison file (the debug build's test hook makes the engine abort on it) still ends `crashed`
/// while the files beside it complete; a known picture that crashes the daemon is charged itself,
/// never a suspect file running alone, and is set aside after three crashes.
@Suite(.tags(.endToEnd), .serialized, .timeLimit(.minutes(10)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct CrashAttributionEndToEndTests {
    /// A stream of drops, eight `kill -9`s at moments picked from the daemon's own progress, and
    /// restarts: every file ends with exactly one final result under its own name, none `crashed`.
    @Test func killsAtRandomMomentsFailNoInnocentFile() async throws {
        let root = TestRoot("torture")
        var generator = SystemRandomNumberGenerator()
        let staging = root.staging()
        var names: [String] = []
        // Some real faces (when the test images are there) among small generated images.
        var faceImages: [String] = []
        if let images = testImagesDirectory {
            faceImages = ["astronaut.png", "chelsea.png", "two_faces.png"].map { images + "/" + $0 }
                .filter { FileManager.default.fileExists(atPath: $0) }
        }
        // A wave is a folder renamed into the inbox at once: the daemon removes an inbox subfolder
        // it has emptied, so files renamed one by one into a shared subfolder could race with that.
        func dropWave(_ wave: Int, count: Int) {
            let folder = staging + "/w\(wave)"
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for i in 0..<count {
                let path = folder + "/f\(i).png"
                if wave % 3 == 0, i < faceImages.count {
                    #expect((try? FileManager.default.copyItem(atPath: faceImages[i], toPath: path)) != nil)
                } else {
                    write(TinyPNG.make(width: 160 + i, height: 120, seed: 10_000 * wave + i), to: path)
                }
                names.append("w\(wave)/f\(i).png")
            }
            #expect(rename(folder, root.inbox + "/w\(wave)") == 0)
        }
        try FileManager.default.createDirectory(atPath: root.inbox, withIntermediateDirectories: true)
        for wave in 0..<8 {
            let daemon = try await root.startDaemon()
            let before = root.documentCount()
            dropWave(wave, count: 15)
            // A moment chosen by the daemon's progress: some stored, or some more finished.
            if Bool.random(using: &generator) {
                let target = Int.random(in: 1...15, using: &generator) + before
                #expect(await eventually(timeout: .seconds(120)) { root.storedEntries().count >= target })
            } else {
                let target = before + Int.random(in: 1...10, using: &generator)
                #expect(await eventually(timeout: .seconds(120)) { root.documentCount() >= target })
            }
            daemon.send(SIGKILL)
            #expect(await daemon.waitForExit(timeout: .seconds(30)) != nil)
        }
        let daemon = try await root.startDaemon()
        dropWave(8, count: 10)
        #expect(
            await eventually(timeout: .seconds(300)) { root.documentCount() >= names.count },
            "\(root.documentCount()) of \(names.count)")
        daemon.stop()

        let documents = try root.documents()
        #expect(documents.count == names.count)
        #expect(
            documents.compactMap(\.source?.name).sorted() == names.sorted(),
            "a file lost its name or was recorded twice")
        for document in documents where document.status != .completed {
            Issue.record(
                "\(document.source?.name ?? "?") ended \(document.status.rawValue): \(document.error?.message ?? "")")
        }
        let stored = root.storedEntries()
        #expect(stored.count == names.count)
        #expect(Set(stored.keys) == Set(documents.compactMap(\.id)))
        #expect(
            root.inboxLeftovers().allSatisfy { !$0.hasSuffix(".png") }, "left in the inbox: \(root.inboxLeftovers())")

        // stats.json, `stats` and `average` add up to what the documents say.
        let (faces, mean) = meanEncoding(documents)
        let statsFile =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: root.root + "/stats.json"))) as? [String: Any] ?? [:]
        for stats in [statsFile, try await root.stats()] {
            #expect(stats["total"] as? Int == names.count)
            #expect(stats["completed"] as? Int == names.count)
            #expect(stats["faces"] as? Int == faces)
        }
        let output = try await facewatch(["average", "--root", root.root, "--compact"])
        let average = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(average["faces"] as? Int == faces)
        let averaged = (average["average_encoding"] as? [NSNumber])?.map(\.doubleValue) ?? []
        #expect(averaged.count == mean.count)
        #expect(zip(averaged, mean).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// The poison aborts the process each time it is encoded. Beside other files its first death
    /// charges nothing; alone, it is charged a crash each time, and after three it is failed.
    @Test func aPoisonFileEndsCrashedWhileTheFilesBesideItComplete() async throws {
        let root = TestRoot("poison")
        let staging = root.staging()
        let names = ["poison.png"] + (0..<6).map { "n\($0).png" }
        for (i, name) in names.enumerated() {
            write(TinyPNG.make(width: 200, height: 150, seed: 9_000 + i), to: staging + "/" + name)
        }
        try FileManager.default.createDirectory(atPath: root.inbox, withIntermediateDirectories: true)
        for name in names { #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0) }
        var deaths = 0
        while root.documentCount() < names.count, deaths <= 8 {
            let daemon = try DaemonProcess(
                root: root.root, arguments: ["--workers", "2", "--log-level", "debug"],
                environment: ["FACEWATCH_TEST_POISON": "poison"])
            let ended = await eventually(timeout: .seconds(120)) {
                !daemon.process.isRunning || root.documentCount() == names.count
            }
            #expect(ended, "\(daemon.log)")
            if daemon.process.isRunning {
                daemon.stop()
                break
            }
            daemon.process.waitUntilExit()
            #expect(daemon.process.terminationReason == .uncaughtSignal, "\(daemon.log)")
            deaths += 1
        }
        // Once beside another file (charged nothing), then three times alone.
        #expect(deaths == 4)
        let documents = try root.documents()
        #expect(documents.count == names.count)
        for document in documents {
            if document.source?.name == "poison.png" {
                #expect(document.status == .failed)
                #expect(document.error?.code == .crashed)
            } else {
                #expect(
                    document.status == .completed, "\(document.source?.name ?? "?"): \(document.error?.message ?? "")")
            }
        }
    }

    /// Two files in flight at a `kill -9` become suspects that run alone; a known picture that
    /// aborts the process when encoded is dropped into `known/`. The suspects are never charged
    /// (the known picture waits while one runs alone); the picture is charged nothing the first
    /// time (it ran beside others), then a crash each time it runs alone, and after three it is
    /// kept with the problem `crashed` and the daemon stays up.
    @Test func aKnownPictureThatCrashesIsChargedItselfNotTheSuspects() async throws {
        let root = TestRoot("known-poison")
        let staging = root.staging()
        let gate = root.base + "/gate"
        let names = ["held1.png", "held2.png"]
        let first = try DaemonProcess(
            root: root.root, arguments: ["--workers", "2", "--log-level", "debug"],
            environment: ["FACEWATCH_TEST_HOLD_CLAIMED": "held", "FACEWATCH_TEST_PAUSE_GATE": gate])
        try await first.waitUntilReady()
        for (i, name) in names.enumerated() {
            write(TinyPNG.make(width: 120, height: 90, seed: 7_000 + i), to: staging + "/" + name)
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }
        func held() -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: root.base)) ?? []).filter {
                $0.hasPrefix("gate.") && $0.hasSuffix(".held")
            }.count
        }
        #expect(await eventually(timeout: .seconds(60)) { held() == 2 }, "\(first.log)")
        first.send(SIGKILL)
        #expect(await first.waitForExit(timeout: .seconds(30)) != nil)

        write(TinyPNG.make(width: 100, height: 80, seed: 7_100), to: root.root + "/known/poison.png")
        var deaths = 0
        var stayedUp = false
        while deaths <= 8 {
            let daemon = try DaemonProcess(
                root: root.root, arguments: ["--workers", "2", "--log-level", "debug"],
                environment: [
                    "FACEWATCH_TEST_POISON": "poison", "FACEWATCH_TEST_HOLD_CLAIMED": "held",
                    "FACEWATCH_TEST_PAUSE_GATE": gate,
                ])
            // The known picture's `ignored` line, whose problem comes before its fields.
            func poisonIgnored() -> Bool {
                daemon.log.split(separator: "\n").contains {
                    $0.contains("known picture ignored") && $0.contains("path=poison.png")
                }
            }
            // A suspect held in flight (alone) keeps the known picture waiting: no death meanwhile.
            let moved = await eventually(timeout: .seconds(120)) {
                !daemon.process.isRunning || daemon.log.contains("known picture waits to decode")
                    || poisonIgnored()
            }
            #expect(moved, "\(daemon.log)")
            if daemon.process.isRunning, daemon.log.contains("known picture waits to decode") {
                #expect(held() >= 1, "the known picture waited for no suspect: \(daemon.log)")
            }
            // From here on the suspects are not held: each completes when it runs.
            _ = FileManager.default.createFile(atPath: gate, contents: nil)
            let ended = await eventually(timeout: .seconds(120)) {
                !daemon.process.isRunning || poisonIgnored()
            }
            #expect(ended, "\(daemon.log)")
            // No file of the inbox is ever charged with the known picture's deaths.
            #expect(!daemon.log.contains("charged a death"), "\(daemon.log)")
            if daemon.process.isRunning {
                stayedUp = true
                #expect(
                    await eventually(timeout: .seconds(120)) { root.documentCount() == names.count }, "\(daemon.log)")
                daemon.stop()
                break
            }
            daemon.process.waitUntilExit()
            #expect(daemon.process.terminationReason == .uncaughtSignal, "\(daemon.log)")
            deaths += 1
        }
        // Once beside others (charged nothing), then three times alone.
        #expect(stayedUp)
        #expect(deaths == 4)
        let documents = try root.documents()
        #expect(documents.count == names.count)
        for document in documents {
            #expect(
                document.status == .completed, "\(document.source?.name ?? "?"): \(document.error?.message ?? "")")
        }
        let status = try await facewatch(["status", "--root", root.root])
        #expect(status.stdout.contains("poison.png: crashed"), "\(status.stdout)")
    }
}
