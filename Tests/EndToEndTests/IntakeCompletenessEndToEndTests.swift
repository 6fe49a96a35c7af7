#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// A file is taken only when its writer is done with it, and what is encoded is what the store
/// keeps: a writer that pauses mid-file, or keeps its descriptor after the rename, changes neither
/// the result nor the stored original. The real binary, real inotify, real leases.
@Suite(.serialized, .timeLimit(.minutes(10)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct IntakeCompletenessEndToEndTests {
    @Test func aWriterThatPausesLongerThanTheRescanIntervalGetsItsWholeFileCompleted() async throws {
        let root = TestRoot("paused")
        try FileManager.default.createDirectory(atPath: root.inbox, withIntermediateDirectories: true)
        let image = TinyPNG.make(width: 64, height: 48, seed: 21)
        let half = image.count / 2
        // Written in place, half of it, and held open (an scp on a stalled link) before the daemon
        // starts: its start-up scan finds it, then every rescan does.
        let writer = open(root.inbox + "/slow.png", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        #expect(writer >= 0)
        #expect(image.withUnsafeBytes { Glibc.write(writer, $0.baseAddress, half) } == half)

        let daemon = try await root.startDaemon(environment: ["FACEWATCH_TEST_RESCAN_MS": "200"])
        defer { daemon.stop() }
        let rescans = { daemon.log.components(separatedBy: "inbox: periodic rescan").count - 1 }
        #expect(await eventually { rescans() >= 3 }, "no rescan seen: \(daemon.log)")
        // A later file is taken past it: the inbox is served meanwhile.
        write(TinyPNG.make(width: 24, height: 24, seed: 22), to: root.staging() + "/after.png")
        #expect(rename(root.staging() + "/after.png", root.inbox + "/after.png") == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "after.png" } })
        let before = rescans()
        #expect(await eventually { rescans() >= before + 2 })
        #expect(try !root.documents().contains { $0.source?.name == "slow.png" }, "taken while open for writing")
        #expect(FileManager.default.fileExists(atPath: root.inbox + "/slow.png"))

        // The writer comes back, finishes and closes: the whole file is taken.
        #expect(
            image.withUnsafeBytes { Glibc.write(writer, $0.baseAddress! + half, image.count - half) } == image.count
                - half)
        #expect(close(writer) == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "slow.png" } })
        let document = try #require(try root.documents().first { $0.source?.name == "slow.png" })
        #expect(document.status == .completed, "\(String(describing: document.error))")
        #expect(document.source?.bytes == Int64(image.count))
        #expect(document.source?.sha256 == SHA256.hex(image))
    }

    @Test(.enabled(if: getuid() == 0, "the member and the daemon run as other uids: needs root"))
    func aDescriptorAMemberKeepsAfterTheRenameCannotChangeTheStoredOriginal() async throws {
        let root = TestRoot("kept")
        try Members.prepare(root)
        let daemon = try await root.startDaemon(user: Members.daemon)
        defer { daemon.stop() }
        let photo = TinyPNG.make(width: 40, height: 40, seed: 23)
        let staged = root.staging()
        write(photo, to: staged + "/photo.png")
        write(noise(8192, seed: 24), to: staged + "/noise.bin")
        #expect(chmod(staged, 0o755) == 0)
        let go = staged + "/go"
        #expect(mkfifo(go, 0o666) == 0 && chmod(go, 0o666) == 0)
        // The member writes the photo through a descriptor, renames the file into the inbox, keeps
        // the descriptor, and writes through it once the result is out.
        let script =
            "umask 022; exec 3>'\(root.inbox)/.kept.png.tmp' && cat '\(staged)/photo.png' >&3"
            + " && mv '\(root.inbox)/.kept.png.tmp' '\(root.inbox)/kept.png'"
            + " && read line < '\(go)' && cat '\(staged)/noise.bin' >&3"
            + " && cat '\(staged)/noise.bin' > /proc/self/fd/3"
        let member = Task { try await Members.run(script, as: Members.alice) }
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "kept.png" } })
        let document = try #require(try root.documents().first { $0.source?.name == "kept.png" })
        #expect(document.status == .completed && document.source?.sha256 == SHA256.hex(photo))
        let documentID = try #require(document.id)
        let stored = try #require(root.storedEntries()[documentID])

        let fifo = open(go, O_WRONLY)
        #expect(fifo >= 0)
        #expect(Glibc.write(fifo, "go\n", 3) == 3)
        close(fifo)
        let wrote = try await member.value
        #expect(wrote.status == 0, "\(wrote.stderr)")
        // What the member wrote went to their own inode, not to the stored original.
        let kept = try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored)))
        #expect(SHA256.hex(kept) == document.source?.sha256, "the stored original changed after it was recorded")
        #expect(kept == photo)
    }

    @Test(.enabled(if: getuid() == 0, "the member and the daemon run as other uids: needs root"))
    func whereWritersCannotBeSeenAFileWithoutASeenCloseWaitsForTheWriterQuietTime() async throws {
        let root = TestRoot("quiet")
        try Members.prepare(root)
        // The daemon's uid has no CAP_LEASE and owns none of the member's files, as the packaged
        // service: it cannot ask the kernel about the member's writers.
        let daemon = try await root.startDaemon(
            ["--writer-quiet", "30s"], environment: ["FACEWATCH_TEST_RESCAN_MS": "200"], user: Members.daemon)
        defer { daemon.stop() }
        let photo = TinyPNG.make(width: 48, height: 40, seed: 26)
        let half = photo.count / 2
        let staged = root.staging()
        write(photo, to: staged + "/photo.png")
        #expect(chmod(staged, 0o755) == 0)
        let go = staged + "/go"
        #expect(mkfifo(go, 0o666) == 0 && chmod(go, 0o666) == 0)
        // Written in place, half, then the writer stalls (no close: the watch reports nothing).
        let script =
            "umask 022; exec 3>'\(root.inbox)/slow.png' && head -c \(half) '\(staged)/photo.png' >&3"
            + " && read line < '\(go)' && tail -c +\(half + 1) '\(staged)/photo.png' >&3"
        let member = Task { try await Members.run(script, as: Members.alice) }
        #expect(await eventually { FileManager.default.fileExists(atPath: root.inbox + "/slow.png") })
        let rescans = { daemon.log.components(separatedBy: "inbox: periodic rescan").count - 1 }
        let before = rescans()
        #expect(await eventually { rescans() >= before + 3 })
        #expect(root.documentCount() == 0, "taken before its writer was quiet")
        #expect(FileManager.default.fileExists(atPath: root.inbox + "/slow.png"))

        let fifo = open(go, O_WRONLY)
        #expect(fifo >= 0)
        #expect(Glibc.write(fifo, "go\n", 3) == 3)
        close(fifo)
        #expect(try await member.value.status == 0)
        // Its close is seen: taken at once, whole.
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "slow.png" } })
        let document = try #require(try root.documents().first { $0.source?.name == "slow.png" })
        #expect(document.status == .completed && document.source?.sha256 == SHA256.hex(photo))
    }

    @Test func aCopyWhoseSourceCannotBeUnlinkedIsUndoneAndTheFileTakenLaterUnderItsName() async throws {
        let root = TestRoot("unlink")
        // The store on another file system (tmpfs): taking a file there means copying it.
        let otherDisk = "/dev/shm/fw-e2e-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: otherDisk, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: otherDisk) }
        let daemon = try await root.startDaemon(
            ["--store", otherDisk + "/store"],
            environment: ["FACEWATCH_TEST_FAIL_CLAIMED_UNLINK": "flaky", "FACEWATCH_TEST_RESCAN_MS": "200"])
        defer { daemon.stop() }
        let image = TinyPNG.make(width: 32, height: 32, seed: 25)
        write(image, to: root.staging() + "/flaky.png")
        #expect(rename(root.staging() + "/flaky.png", root.inbox + "/flaky.png") == 0)
        // The first copy's unlink fails: the copy is removed and the file keeps its name; a rescan
        // takes it again, once.
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try root.documents().contains { $0.source?.name == "flaky.png" }
            }, "\(daemon.log)")
        #expect(daemon.log.contains("unlink (test)"), "the injected failure did not happen")
        let documents = try root.documents()
        #expect(documents.count == 1)
        #expect(documents.first?.status == .completed && documents.first?.source?.sha256 == SHA256.hex(image))
        #expect(root.storedEntries(in: otherDisk + "/store").count == 1)
        #expect(root.inboxLeftovers().isEmpty, "left in the inbox: \(root.inboxLeftovers())")
        #expect(try await root.stats()["total"] as? Int == 1)
    }
}
