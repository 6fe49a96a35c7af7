#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// A member of the inbox group is untrusted: what they drop or do in the inbox never makes the
/// daemon read, move or write outside its own directories, lose its state, hand one member's
/// result to another, or stop serving. The real binary, real files; the permission cases run the
/// daemon and the members as real unprivileged uids (`setpriv`).
@Suite(.tags(.endToEnd), .serialized, .timeLimit(.minutes(10)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct HostileInboxEndToEndTests {
    // MARK: - Paths

    @Test func aDirectorySwappedForASymlinkBetweenReportAndIngestMovesNothingOutsideTheInbox() async throws {
        let root = TestRoot("swap")
        let gate = root.base + "/gate"
        let daemon = try await root.startDaemon(
            environment: ["FACEWATCH_TEST_PAUSE_INGEST": "swap/", "FACEWATCH_TEST_PAUSE_GATE": gate])
        defer { daemon.stop() }
        let database = root.root + "/db/data.mdb"
        let before = try #require(FileIdentity(database))
        #expect(try await root.stats()["total"] as? Int == 0)

        // A member drops swap/data.mdb; the daemon reports it and pauses before ingesting it...
        let staging = root.staging()
        write(noise(4096, seed: 1), to: staging + "/swap/data.mdb")
        #expect(rename(staging + "/swap", root.inbox + "/swap") == 0)
        #expect(await eventually { FileManager.default.fileExists(atPath: gate + ".paused") })
        // ...and meanwhile replaces swap/ by a symlink to the daemon's ledger directory.
        #expect(rename(root.inbox + "/swap", staging + "/away") == 0)
        #expect(symlink(root.root + "/db", root.inbox + "/swap") == 0)
        FileManager.default.createFile(atPath: gate, contents: nil)

        // The symlink itself is what the inbox holds now: moved into the store, failed unopened.
        #expect(
            try await eventually {
                try root.documents().contains { $0.source?.name == "swap" && $0.error?.code == .notARegularFile }
            })
        // Everything after it is served as usual.
        write(TinyPNG.make(width: 24, height: 24, seed: 2), to: staging + "/after.png")
        #expect(rename(staging + "/after.png", root.inbox + "/after.png") == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "after.png" } })

        // The ledger never moved: same file, same inode, and no stored file is it.
        #expect(FileIdentity(database) == before, "db/data.mdb was moved or replaced")
        #expect(!root.storedEntries().values.contains { FileIdentity($0) == before })
        #expect(FileManager.default.fileExists(atPath: staging + "/away/data.mdb"), "the member's file was taken")
        daemon.stop()
        // The next start finds the same ledger, not an empty one.
        let again = try await root.startDaemon()
        defer { again.stop() }
        #expect(try await root.stats()["total"] as? Int == 2)
    }

    // MARK: - Size before bytes

    @Test func aSparseFileOverTheLimitIsFailedFromItsSizeUnreadAndTheNextPhotoIsNotHeldUp() async throws {
        let root = TestRoot("sparse")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let staging = root.staging()
        // `truncate -s 20G`: 20 GB of holes, then a photo right behind it.
        let huge = staging + "/huge.jpg"
        let fd = open(huge, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(fd >= 0)
        #expect(ftruncate(fd, 20 << 30) == 0)
        close(fd)
        write(TinyPNG.make(width: 24, height: 24, seed: 3), to: staging + "/photo.png")
        let readBefore = try #require(bytesRead(by: daemon.pid))
        #expect(rename(huge, root.inbox + "/huge.jpg") == 0)
        #expect(rename(staging + "/photo.png", root.inbox + "/photo.png") == 0)
        #expect(try await eventually { root.documentCount() == 2 })

        let documents = try root.documents()
        let tooLarge = try #require(documents.first { $0.source?.name == "huge.jpg" })
        #expect(tooLarge.status == .failed && tooLarge.error?.code == .tooLarge)
        #expect(tooLarge.source?.bytes == 20 << 30)
        #expect(tooLarge.source?.sha256 == SourceInfo.unknownSHA256, "a digest means it was read")
        #expect(documents.contains { $0.source?.name == "photo.png" && $0.status == .completed })
        // Never read: the daemon's reads stay far below the file's 20 GB (models, ledger, one photo).
        let readAfter = try #require(bytesRead(by: daemon.pid))
        #expect(readAfter - readBefore < 1 << 30, "the daemon read \(readAfter - readBefore) bytes")
    }

    // MARK: - The bytes encoded are the bytes recorded

    @Test(.enabled(if: testImagesDirectory != nil, "no test images: run `make test-images`"))
    func aHardLinkedFileIsCopiedSoTheOtherLinkCannotChangeWhatWasRecorded() async throws {
        let root = TestRoot("hardlink")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let staging = root.staging()
        let face = try [UInt8](Data(contentsOf: URL(fileURLWithPath: testImagesDirectory! + "/astronaut.png")))
        let blank = TinyPNG.make(width: 32, height: 32, seed: 4)
        let kept = staging + "/kept.png"
        write(face, to: kept)
        // The member keeps a second link to what they drop.
        #expect(link(kept, root.inbox + "/linked.png") == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "linked.png" } })
        let linked = try #require(try root.documents().first { $0.source?.name == "linked.png" })
        #expect(linked.status == .completed && !linked.faces.isEmpty)
        #expect(linked.source?.sha256 == SHA256.hex(face))
        #expect(!FileManager.default.fileExists(atPath: root.inbox + "/linked.png"), "left in the inbox")
        let linkedID = try #require(linked.id)
        let stored = try #require(root.storedEntries()[linkedID])
        #expect(FileIdentity(stored) != FileIdentity(kept), "stored as the member's inode")

        // The member rewrites their link in place (the same inode): the stored original does not
        // change...
        let rewrite = open(kept, O_WRONLY | O_TRUNC)
        #expect(rewrite >= 0)
        #expect(blank.withUnsafeBytes { Glibc.write(rewrite, $0.baseAddress, $0.count) } == blank.count)
        close(rewrite)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored))) == face)
        // ...and content that only looks like it did is encoded for what it is, not deduplicated.
        #expect(rename(kept, root.inbox + "/blank.png") == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "blank.png" } })
        let rewritten = try #require(try root.documents().first { $0.source?.name == "blank.png" })
        #expect(rewritten.source?.sha256 == SHA256.hex(blank))
        #expect(rewritten.status == .completed && rewritten.faces.isEmpty)
    }

    @Test func aDescriptorKeptAfterTheRenameWritesNothingIntoWhatIsReadAndStored() async throws {
        let root = TestRoot("torn")
        let gate = root.base + "/gate"
        let daemon = try await root.startDaemon(
            environment: ["FACEWATCH_TEST_PAUSE_READ": "growing", "FACEWATCH_TEST_PAUSE_GATE": gate])
        defer { daemon.stop() }
        let staging = root.staging()
        let first = TinyPNG.make(width: 24, height: 24, seed: 11)
        write(first, to: staging + "/growing.png")
        // The member keeps the file open for writing after dropping it: renamed in, it is complete
        // by the writer's word, and the store keeps a copy made from the daemon's descriptor.
        let writer = open(staging + "/growing.png", O_WRONLY | O_APPEND)
        #expect(writer >= 0)
        defer { close(writer) }
        #expect(rename(staging + "/growing.png", root.inbox + "/growing.png") == 0)
        #expect(await eventually { FileManager.default.fileExists(atPath: gate + ".paused") })
        // While the worker holds the bytes it read, the member appends through their descriptor.
        let tail = Array("appended while it was read".utf8)
        #expect(tail.withUnsafeBytes { Glibc.write(writer, $0.baseAddress, $0.count) } == tail.count)
        FileManager.default.createFile(atPath: gate, contents: nil)

        #expect(try await eventually { try root.documents().contains { $0.source?.name == "growing.png" } })
        let document = try #require(try root.documents().first { $0.source?.name == "growing.png" })
        // The append reached the member's inode only: the record, the result and the stored
        // original are the bytes the file had when it was taken.
        #expect(document.source?.bytes == Int64(first.count))
        #expect(document.source?.sha256 == SHA256.hex(first))
        #expect(document.status == .completed)
        let documentID = try #require(document.id)
        let stored = try #require(root.storedEntries()[documentID])
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored))) == first)
    }

    // MARK: - One temp-name rule, on raw bytes

    @Test func aWritersTemporaryNameThatIsNotUTF8IsLeftAloneUntilRenamed() async throws {
        let root = TestRoot("rawtemp")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let staging = root.staging()
        // rsync's temporary name for a Latin-1 "été.png": ".\xE9t\xE9.png.Ab12Cd".
        let raw = Array(root.inbox.utf8) + Array("/.".utf8) + [0xE9, 0x74, 0xE9] + Array(".png.Ab12Cd".utf8)
        let image = TinyPNG.make(width: 24, height: 24, seed: 5)
        let fd = (raw + [0]).withUnsafeBufferPointer {
            $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, 0o644) }
        }
        #expect(fd >= 0)
        #expect(image.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == image.count)
        close(fd)
        // A file dropped after it is taken after it: once that one is done, the temporary one was seen.
        write(TinyPNG.make(width: 24, height: 24, seed: 6), to: staging + "/marker.png")
        #expect(rename(staging + "/marker.png", root.inbox + "/marker.png") == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "marker.png" } })
        var status = stat()
        let stillThere = (raw + [0]).withUnsafeBufferPointer {
            $0.withMemoryRebound(to: CChar.self) { lstat($0.baseAddress!, &status) == 0 }
        }
        #expect(stillThere, "the writer's temporary name was renamed or taken under the writer")
        // The writer's own final rename works, and the file is taken.
        let renamed = (raw + [0]).withUnsafeBufferPointer {
            $0.withMemoryRebound(to: CChar.self) { rename($0.baseAddress!, root.inbox + "/ete.png") }
        }
        #expect(renamed == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "ete.png" } })
    }

    // MARK: - Members stay apart

    @Test func submitWaitOfATmpNamedFileReturnsItsOwnResult() async throws {
        let root = TestRoot("submit")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let staging = root.staging()
        let bytes = TinyPNG.make(width: 24, height: 24, seed: 7)
        write(bytes, to: staging + "/photo.tmp")
        let output = try await facewatch([
            "submit", "--root", root.root, "--wait", "--timeout", "60s", staging + "/photo.tmp",
        ])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(lines)")
        let document = try JSONDecoder().decode(ResultDocument.self, from: Data(lines.last!.utf8))
        #expect(document.id == lines.first)
        #expect(document.source?.sha256 == SHA256.hex(bytes))
    }

    @Test(.enabled(if: getuid() == 0, "the member and the daemon run as other uids: needs root"))
    func whatMembersCreateWithAnyUmaskIsTaken() async throws {
        let root = TestRoot("members")
        try Members.prepare(root)
        // The daemon's uid cannot see the member's writers: a file closed in a new subfolder before
        // the daemon watched it is taken once unchanged for the writer quiet time, made short here.
        let daemon = try await root.startDaemon(
            ["--writer-quiet", "2s"], environment: ["FACEWATCH_TEST_RESCAN_MS": "200"], user: Members.daemon)
        defer { daemon.stop() }
        let photo = root.staging() + "/photo.png"
        write(TinyPNG.make(width: 24, height: 24, seed: 8), to: photo)
        // A subfolder with umask 022 (2755 without the inbox's default ACL), a file with umask 077.
        // The daemon is stopped meanwhile, so it watches sub/ only after a.png was closed there.
        daemon.send(SIGSTOP)
        let made = try await Members.run(
            "umask 022; mkdir '\(root.inbox)/sub' && cp '\(photo)' '\(root.inbox)/sub/a.png'"
                + " && umask 077 && cp '\(photo)' '\(root.inbox)/private.png'", as: Members.alice)
        daemon.send(SIGCONT)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try await eventually { root.documentCount() == 2 })
        let names = try root.documents().filter { $0.status == .completed }.compactMap { $0.source?.name }
        #expect(names.sorted() == ["private.png", "sub/a.png"])
        #expect(await eventually { !FileManager.default.fileExists(atPath: root.inbox + "/sub") })

        // The sticky inbox: another member cannot remove a member's pending file.
        let pending = try await Members.run(
            "umask 022; cp '\(photo)' '\(root.inbox)/.pending.png.tmp'", as: Members.alice)
        #expect(pending.status == 0, "\(pending.stderr)")
        let removal = try await Members.run("rm -f '\(root.inbox)/.pending.png.tmp'", as: Members.bob)
        #expect(removal.status != 0, "another member removed a member's file")
        #expect(FileManager.default.fileExists(atPath: root.inbox + "/.pending.png.tmp"))
    }

    @Test(.enabled(if: getuid() == 0, "the member and the daemon run as other uids: needs root"))
    func aFileTheDaemonCannotTakeIsShownLoggedOnceRetriedAndNeverCopiedTwice() async throws {
        let root = TestRoot("refused")
        try Members.prepare(root)
        // The store on another file system (tmpfs), where taking a file means copying it.
        let otherDisk = "/dev/shm/fw-e2e-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: otherDisk, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: otherDisk) }
        #expect(chown(otherDisk, Members.daemon.uid, Members.daemon.gid) == 0)
        // The writer quiet time is short: a.png may be closed before the daemon watches mine/.
        let daemon = try await root.startDaemon(
            ["--store", otherDisk + "/store", "--writer-quiet", "2s"], environment: ["FACEWATCH_TEST_RESCAN_MS": "200"],
            user: Members.daemon)
        defer { daemon.stop() }
        let photo = root.staging() + "/photo.png"
        write(TinyPNG.make(width: 24, height: 24, seed: 9), to: photo)
        // A member takes the daemon's write access away from their subfolder (its ACL mask). The
        // daemon is stopped meanwhile, so it watches mine/ only after a.png was closed there.
        daemon.send(SIGSTOP)
        let made = try await Members.run(
            "umask 022; mkdir '\(root.inbox)/mine' && chmod 755 '\(root.inbox)/mine' && cp '\(photo)' '\(root.inbox)/mine/a.png'",
            as: Members.alice)
        daemon.send(SIGCONT)
        #expect(made.status == 0, "\(made.stderr)")

        // Shown by status...
        #expect(
            try await eventually {
                let status = try await facewatch(["status", "--root", root.root])
                return status.stdout.contains("not taken: 1") && status.stdout.contains("mine/a.png")
            })
        // ...logged once, however many rescans try it again, and never copied meanwhile.
        let rescans = daemon.log.components(separatedBy: "inbox: periodic rescan").count
        #expect(
            await eventually { daemon.log.components(separatedBy: "inbox: periodic rescan").count >= rescans + 3 })
        #expect(daemon.log.components(separatedBy: "cannot take from the inbox").count - 1 == 1)
        #expect(root.storedEntries(in: otherDisk + "/store").isEmpty, "copied into the store while refused")
        #expect(root.documentCount() == 0)

        // Allowed again: the next rescan takes it, once.
        let allowed = try await Members.run("chmod 775 '\(root.inbox)/mine'", as: Members.alice)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "mine/a.png" } })
        #expect(root.storedEntries(in: otherDisk + "/store").count == 1)
        let status = try await facewatch(["status", "--root", root.root])
        #expect(!status.stdout.contains("not taken"), "\(status.stdout)")
    }

    // MARK: - One file never stops the service

    @Test func aLeftoverMoveJournalThatCannotBeFinishedDoesNotStopTheStart() async throws {
        let root = TestRoot("journal")
        var first = try await root.startDaemon()
        // Killed: only a start after an unclean stop scans the store and its journals.
        first.send(SIGKILL)
        #expect(await first.waitForExit() != nil)
        // A journal of an interrupted cross-file-system move whose source cannot be unlinked (a
        // directory, here): the start used to throw on it, and Restart=on-failure looped.
        let source = root.inbox + "/stuck"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let identity = try #require(FileIdentity(source))
        let destination = root.store + "/ab/ab000000-0000-4000-8000-000000000000.png"
        write(TinyPNG.make(width: 24, height: 24, seed: 10), to: destination)
        let fields = ["facewatch-move-1", String(identity.device), String(identity.inode), source, destination]
        write(fields.flatMap { Array($0.utf8) + [0] }, to: root.store + "/.moving-ab000000-0000-4000-8000-000000000000")
        first = try await root.startDaemon()
        defer { first.stop() }
        #expect(try await eventually { try await root.stats()["total"] as? Int == 1 })
    }
}

/// Device and inode of a path (not followed), to tell whether a file is the same one.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    init?(_ path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

/// Bytes the process has read through read(2) and friends (`rchar` of /proc/PID/io).
func bytesRead(by pid: Int32) -> Int64? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first { $0.hasPrefix("rchar:") }.flatMap {
        Int64($0.dropFirst("rchar:".count).trimmingCharacters(in: .whitespaces))
    }
}

/// The daemon and two members as real unprivileged uids, with no passwd entry needed: the kernel
/// checks numbers. The daemon's group is the inbox group, as the packaged `facewatch` user's is.
enum Members {
    static let group: UInt32 = 61_100
    static let daemon = (uid: UInt32(61_101), gid: group)
    static let alice = (uid: UInt32(61_102), gid: group)
    static let bob = (uid: UInt32(61_103), gid: group)

    /// The root as the package lays it out: the root the daemon's, the inbox `3770` daemon:group;
    /// and the binary and the models for the daemon's uid beside it (`tools/`), since the checkout
    /// they come from may sit in a directory only its owner can traverse (a private clone).
    static func prepare(_ root: TestRoot) throws {
        // Every uid traverses the test's directory (whatever the umask) and reads what is staged in it.
        #expect(chmod(root.base, 0o755) == 0)
        let tools = root.base + "/tools"
        try FileManager.default.createDirectory(atPath: tools + "/models", withIntermediateDirectories: true)
        #expect(chmod(tools, 0o755) == 0 && chmod(tools + "/models", 0o755) == 0)
        try shareCopy(of: facewatchBinary!, at: tools + "/facewatch", mode: 0o755)
        for name in try FileManager.default.contentsOfDirectory(atPath: modelsDirectory!) where name.hasSuffix(".dat") {
            try shareCopy(of: modelsDirectory! + "/" + name, at: tools + "/models/" + name, mode: 0o644)
        }
        root.binaryForOtherUsers = tools + "/facewatch"
        root.modelsForOtherUsers = tools + "/models"
        #expect(chown(root.root, daemon.uid, daemon.gid) == 0)
        try FileManager.default.createDirectory(atPath: root.inbox, withIntermediateDirectories: true)
        #expect(chown(root.inbox, daemon.uid, group) == 0)
        #expect(chmod(root.inbox, 0o3770) == 0)
    }

    /// `source` at `path`, readable (and, with `mode` 0755, runnable) by every uid: a hard link
    /// when its own mode already allows that (no 130 MB of models copied per test), else a copy.
    private static func shareCopy(of source: String, at path: String, mode: mode_t) throws {
        var status = stat()
        if stat(source, &status) == 0, status.st_mode & mode & 0o7 == mode & 0o7, link(source, path) == 0 { return }
        try FileManager.default.copyItem(atPath: source, toPath: path)
        #expect(chmod(path, mode) == 0)
    }

    /// Runs `script` with `sh -c` as `user` (no supplementary group).
    static func run(_ script: String, as user: (uid: UInt32, gid: UInt32)) async throws -> ProgramOutput {
        try await runProgram(
            "/usr/bin/setpriv",
            ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "/bin/sh", "-c", script])
    }
}
