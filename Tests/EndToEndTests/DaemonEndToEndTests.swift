#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// `facewatch serve` and its clients, run as a user would: the real binary, real files, inotify,
/// LMDB, signals. One daemon at a time (the machine has two cores; each daemon runs two workers).
@Suite(.tags(.endToEnd), .serialized, .timeLimit(.minutes(10)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct DaemonEndToEndTests {
    // MARK: - Ways of dropping files

    @Test func everyWayOfDroppingAFileIsTakenOnce() async throws {
        let root = TestRoot("drop")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let staging = root.staging()

        // cp: written in place (open, write, pause, write, close), as cp and most programs do. The
        // settle time must wait for the close. (FileManager.createFile would rename a temporary file
        // in: a different way of dropping.)
        let copied = TinyPNG.make(width: 24, height: 24, seed: 1)
        let fd = open(root.inbox + "/copied.png", O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(fd >= 0)
        #expect(copied.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, 40) } == 40)
        usleep(150_000)  // the scenario: the writer pauses (well within the settle time) before the rest
        #expect(
            copied.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + 40, copied.count - 40) } == copied.count - 40)
        close(fd)

        // rsync-style: a hidden temporary name, then a rename.
        write(TinyPNG.make(width: 24, height: 24, seed: 3), to: root.inbox + "/.synced.png.Xa83kq")

        // mv: renamed in from the same file system.
        write(TinyPNG.make(width: 24, height: 24, seed: 2), to: staging + "/moved.png")
        #expect(rename(staging + "/moved.png", root.inbox + "/moved.png") == 0)
        // The daemon handles the inbox's events in order: once it took moved.png, it has seen the
        // temporary file written before it, and must have left it alone.
        #expect(await eventually { !FileManager.default.fileExists(atPath: root.inbox + "/moved.png") })
        #expect(
            FileManager.default.fileExists(atPath: root.inbox + "/.synced.png.Xa83kq"), "a temporary name was taken")
        #expect(rename(root.inbox + "/.synced.png.Xa83kq", root.inbox + "/synced.png") == 0)

        // A nested directory created in place, and a whole tree moved in.
        write(TinyPNG.make(width: 24, height: 24, seed: 4), to: root.inbox + "/party/day1/nested.png")
        write(TinyPNG.make(width: 24, height: 24, seed: 5), to: staging + "/tree/a/b/deep.png")
        write(TinyPNG.make(width: 24, height: 24, seed: 6), to: staging + "/tree/top.png")
        #expect(rename(staging + "/tree", root.inbox + "/tree") == 0)

        // submit: copies under a temporary name, renames to <uuid>.png, prints the UUID.
        write(TinyPNG.make(width: 24, height: 24, seed: 7), to: staging + "/submitted.png")
        let submitted = try await facewatch([
            "submit", "--root", root.root, "--wait", "--timeout", "60s", staging + "/submitted.png",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let lines = submitted.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "a UUID line and a result line: \(lines)")
        let submittedID = try #require(lines.first.flatMap { UUID(uuidString: $0) })
        let waited = try JSONDecoder().decode(ResultDocument.self, from: Data(lines.last!.utf8))
        #expect(waited.id == submittedID.uuidString.lowercased())
        #expect(waited.status == .completed)

        let expected = [
            "copied.png", "moved.png", "synced.png", "party/day1/nested.png", "tree/a/b/deep.png", "tree/top.png",
            "\(submittedID.uuidString.lowercased()).png",
        ]
        #expect(await eventually { root.documentCount() >= expected.count })
        // Nothing more may come (the temporary name above, a double take): a last file, dropped
        // after all the others, is taken after them; once its document is there, the ledger holds
        // every record the drops made.
        write(TinyPNG.make(width: 24, height: 24, seed: 8), to: staging + "/last.png")
        #expect(rename(staging + "/last.png", root.inbox + "/last.png") == 0)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "last.png" } })
        #expect(try await root.stats()["total"] as? Int == expected.count + 1)
        let documents = try root.documents().filter { $0.source?.name != "last.png" }
        #expect(documents.map { $0.source?.name ?? "" }.sorted() == expected.sorted())
        #expect(documents.allSatisfy { $0.status == .completed && $0.faces.isEmpty && $0.image?.format == .png })
        // The submitted file kept the UUID it was given; every original is in the store.
        #expect(documents.contains { $0.id == submittedID.uuidString.lowercased() })
        let stored = root.storedEntries()
        #expect(Set(stored.keys) == Set(try root.documents().compactMap(\.id)))  // last.png's too
        // The inbox is empty again, emptied subdirectories included.
        #expect(await eventually(timeout: .seconds(10)) { root.inboxLeftovers().isEmpty }, "\(root.inboxLeftovers())")
        // The written-in-place file was read whole.
        let copiedDocument = try #require(documents.first { $0.source?.name == "copied.png" })
        #expect(copiedDocument.source?.bytes == Int64(copied.count), "\(daemon.log)")
        #expect(copiedDocument.source?.sha256 == SHA256.hex(copied))
        #expect(copiedDocument.image == ImageInfo(format: .png, width: 24, height: 24))
    }

    // MARK: - Bad input

    @Test func everyKindOfBadInputGetsItsErrorAndStaysInTheStore() async throws {
        let root = TestRoot("bad")
        let daemon = try await root.startDaemon(["--max-bytes", "100KB"])
        defer { daemon.stop() }
        let staging = root.staging()

        var truncatedJPEG: [UInt8] =
            [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0]
        if let images = testImagesDirectory, let jpeg = FileManager.default.contents(atPath: images + "/astronaut.jpg")
        {
            truncatedJPEG = Array(jpeg.prefix(jpeg.count / 2))
        }
        let cases: [(name: String, bytes: [UInt8], code: FailureCode)] = [
            ("empty.jpg", [], .emptyFile),
            ("notes.txt", Array("these are not the pixels you are looking for\n".utf8), .notAnImage),
            ("noise.jpg", noise(4096, seed: 1), .notAnImage),
            ("animation.gif", Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0] + noise(64, seed: 2), .unsupportedFormat),
            ("bomb.png", TinyPNG.header(width: 60_000, height: 60_000), .tooManyPixels),
            ("truncated.jpg", truncatedJPEG, .corruptImage),
            ("huge.png", TinyPNG.make(width: 200, height: 200, seed: 3), .tooLarge),  // 120 KB > 100 KB
        ]
        for item in cases {
            write(item.bytes, to: staging + "/" + item.name)
            #expect(rename(staging + "/" + item.name, root.inbox + "/" + item.name) == 0)
        }
        let target = staging + "/target.png"
        write(TinyPNG.make(seed: 4), to: target)
        #expect(symlink(target, root.inbox + "/link.png") == 0)
        #expect(mkfifo(root.inbox + "/pipe.jpg", 0o644) == 0)

        let total = cases.count + 2
        #expect(await eventually { root.documentCount() >= total }, "\(daemon.log)")
        let documents = try root.documents()
        #expect(documents.count == total)
        let byName = Dictionary(uniqueKeysWithValues: documents.map { ($0.source?.name ?? "", $0) })
        for item in cases {
            let document = byName[item.name]
            #expect(document?.status == .failed, "\(item.name)")
            #expect(document?.error?.code == item.code, "\(item.name): \(String(describing: document?.error))")
            #expect(document?.source?.bytes == Int64(item.bytes.count), "\(item.name)")
        }
        for name in ["link.png", "pipe.jpg"] {
            #expect(byName[name]?.error?.code == .notARegularFile, "\(name)")
        }
        // Nothing is lost: every entry is in the store under its UUID, the link and fifo as themselves.
        let stored = root.storedEntries()
        for document in documents {
            let path = try #require(stored[document.id ?? ""], "\(document.source?.name ?? "") not in the store")
            var status = stat()
            #expect(lstat(path, &status) == 0)
            switch document.source?.name {
            case "link.png": #expect(status.st_mode & S_IFMT == S_IFLNK)
            case "pipe.jpg": #expect(status.st_mode & S_IFMT == S_IFIFO)
            default: #expect(status.st_mode & S_IFMT == S_IFREG)
            }
        }
        #expect(FileManager.default.fileExists(atPath: target), "the link's target was touched")
        let stats = try await root.stats()
        #expect(stats["failed"] as? Int == total)
        #expect(stats["total"] as? Int == total)
        // `result` answers from the ledger with the same document.
        let one = try #require(documents.first { $0.source?.name == "bomb.png" })
        let shown = try await facewatch(["result", one.id!, "--root", root.root, "--compact"])
        #expect(shown.status == 0)
        #expect(try JSONDecoder().decode(ResultDocument.self, from: Data(shown.stdout.utf8)) == one)
        let unknown = try await facewatch(["result", UUID().uuidString, "--root", root.root])
        #expect(unknown.status == 1)
    }

    // MARK: - Volume

    @Test func twoThousandFilesDroppedAtOnceAreAllAccountedFor() async throws {
        let root = TestRoot("flood")
        let staging = root.staging()
        let count = 2000
        for i in 0..<count {
            write(TinyPNG.make(width: 2, height: 2, seed: 10_000 + i), to: staging + "/f\(i).png")
        }
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        for i in 0..<count {
            #expect(rename(staging + "/f\(i).png", root.inbox + "/f\(i).png") == 0)
        }
        #expect(
            await eventually(timeout: .seconds(240)) { root.documentCount() >= count },
            "\(root.documentCount()) of \(count)")
        let documents = try root.documents()
        #expect(documents.count == count)
        let names = documents.compactMap { $0.source?.name }
        #expect(Set(names) == Set((0..<count).map { "f\($0).png" }))
        #expect(documents.allSatisfy { $0.status == .completed })
        #expect(root.storedEntries().count == count)
        #expect(root.inboxLeftovers().isEmpty)
        let stats = try await root.stats()
        #expect(stats["total"] as? Int == count)
        #expect(stats["completed"] as? Int == count)
        #expect(stats["created"] as? Int == 0)
    }

    // MARK: - Crashes and stops

    /// Drops `count` noise images big enough to take a while each (a backlog with two workers).
    func dropBacklog(_ root: TestRoot, count: Int, seed: Int) {
        let staging = root.staging("backlog-\(seed)")
        for i in 0..<count {
            write(TinyPNG.make(width: 240, height: 180, seed: seed + i), to: staging + "/b\(i).png")
        }
        for i in 0..<count {
            _ = rename(staging + "/b\(i).png", root.inbox + "/b\(i).png")
        }
    }

    /// Every dropped name has exactly one final record, document and stored file; nothing is waiting.
    func expectExactAccounting(_ root: TestRoot, names: Set<String>) async throws {
        let documents = try root.documents()
        let seen = documents.compactMap { $0.source?.name }
        #expect(seen.count == names.count, "documents: \(seen.count) for \(names.count) files")
        #expect(Set(seen) == names)
        #expect(documents.allSatisfy { $0.status != .created })
        let stored = root.storedEntries()
        #expect(stored.count == names.count)
        #expect(Set(stored.keys) == Set(documents.compactMap(\.id)))
        let stats = try await root.stats()
        #expect(stats["total"] as? Int == names.count)
        #expect(stats["created"] as? Int == 0)
        #expect((stats["completed"] as? Int ?? 0) + (stats["failed"] as? Int ?? 0) == names.count)
        #expect(root.inboxLeftovers().isEmpty)
    }

    @Test func killMinusNineInABacklogLosesAndDuplicatesNothing() async throws {
        let root = TestRoot("kill9")
        let count = 120
        let daemon = try await root.startDaemon()
        dropBacklog(root, count: count, seed: 500)
        // A backlog: every file recorded in the ledger and some encoded, then the kill. (A kill
        // while files are still being taken in is the next test's case.)
        #expect(
            try await eventually(interval: .milliseconds(100)) {
                try await root.stats()["total"] as? Int == count && root.documentCount() >= 15
            })
        daemon.send(SIGKILL)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) != nil)
        let doneAtKill = root.documentCount()
        #expect(doneAtKill < count, "the backlog was finished before the kill: the test proves little")

        let restarted = try await root.startDaemon()
        defer { restarted.stop() }
        #expect(
            await eventually(timeout: .seconds(240)) { root.documentCount() >= count },
            "\(root.documentCount()) of \(count)")
        try await expectExactAccounting(root, names: Set((0..<count).map { "b\($0).png" }))
        // The files being encoded at the kill were tried again: an attempt counted, none crashed.
        #expect(try root.documents().allSatisfy { $0.status == .completed })
    }

    @Test func killMinusNineDuringAFloodOfIngestsLosesNothing() async throws {
        let root = TestRoot("kill9-ingest")
        let count = 600
        let staging = root.staging()
        for i in 0..<count { write(TinyPNG.make(width: 2, height: 2, seed: 70_000 + i), to: staging + "/k\(i).png") }
        let daemon = try await root.startDaemon()
        for i in 0..<count { _ = rename(staging + "/k\(i).png", root.inbox + "/k\(i).png") }
        #expect(await eventually { root.storedEntries().count >= 50 })
        daemon.send(SIGKILL)
        #expect(await daemon.waitForExit(timeout: .seconds(30)) != nil)

        let restarted = try await root.startDaemon()
        defer { restarted.stop() }
        #expect(
            await eventually(timeout: .seconds(240)) { root.documentCount() >= count },
            "\(root.documentCount()) of \(count)")
        // A file taken into the store just before the kill, without its record, keeps its inbox
        // name (its intake intent was committed before the rename). Every file is there exactly once.
        let documents = try root.documents()
        #expect(documents.count == count)
        #expect(Set(documents.compactMap(\.source?.name)) == Set((0..<count).map { "k\($0).png" }))
        #expect(Set(documents.compactMap(\.source?.sha256)).count == count)
        #expect(root.storedEntries().count == count)
        #expect(documents.allSatisfy { $0.status == .completed })
        #expect(root.inboxLeftovers().isEmpty)
        let stats = try await root.stats()
        #expect(stats["total"] as? Int == count)
    }

    @Test func sigtermFinishesTheFilesBeingEncodedAndExitsZero() async throws {
        let root = TestRoot("sigterm")
        let count = 60
        let daemon = try await root.startDaemon()
        dropBacklog(root, count: count, seed: 900)
        #expect(await eventually { root.documentCount() >= 5 })
        daemon.send(SIGTERM)
        let status = await daemon.waitForExit(timeout: .seconds(45))
        #expect(status == 0, "\(daemon.log)")
        #expect(daemon.log.contains("stopping reason=SIGTERM"))
        #expect(daemon.log.contains(" info stopped "))

        // Consistent at rest: every final record has its document, the rest waits as `created`,
        // and every file is either still in the inbox or in the store with a record.
        let stats = try await root.stats()
        let documents = try root.documents()
        let total = stats["total"] as? Int ?? -1
        let final = (stats["completed"] as? Int ?? 0) + (stats["failed"] as? Int ?? 0)
        #expect(documents.count == final)
        #expect(total - final == stats["created"] as? Int)
        #expect(root.storedEntries().count == total)
        let inInbox = root.inboxLeftovers().filter { $0.hasSuffix(".png") }.count
        #expect(total + inInbox == count)
        #expect(final < count, "all done before SIGTERM: the test proves little")
        // stats.json was written at shutdown with the committed counts.
        let written =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root.root + "/stats.json")))
            as? [String: Any]
        #expect(written?["total"] as? Int == total)

        let restarted = try await root.startDaemon()
        defer { restarted.stop() }
        #expect(await eventually(timeout: .seconds(240)) { root.documentCount() >= count })
        try await expectExactAccounting(root, names: Set((0..<count).map { "b\($0).png" }))
    }

    @Test func aSecondDaemonOnTheSameRootExitsAtOnceNamingTheHolder() async throws {
        let root = TestRoot("two")
        let first = try await root.startDaemon()
        defer { first.stop() }
        // "At once": before loading any model; the runner's deadline fails the test if it hangs.
        let second = try await facewatch(
            ["serve", "--root", root.root, "--models", modelsDirectory!], timeout: .seconds(30))
        #expect(second.status == 1)
        #expect(!second.stderr.contains(" info ready "), "\(second.stderr)")
        #expect(second.stderr.contains("pid \(first.pid)"), "\(second.stderr)")
        // The first one is unaffected.
        write(TinyPNG.make(seed: 1), to: root.inbox + "/still-served.png")
        #expect(await eventually { root.documentCount() == 1 })
        let status = try await facewatch(["status", "--root", root.root])
        #expect(status.status == 0)
        #expect(status.stdout.contains("running (pid \(first.pid))"), "\(status.stdout)")
        first.stop()
        let after = try await facewatch(["status", "--root", root.root])
        #expect(after.status == 3)
        #expect(after.stdout.contains("not running"))
    }

    // MARK: - Another file system

    @Test func aStoreOnAnotherFileSystem() async throws {
        let root = TestRoot("otherfs")
        guard let (store, cleanUp) = try otherFileSystemDirectory(for: root) else {
            try Test.cancel(
                "no second file system: /dev/shm is absent or on the same device, and tmpfs cannot be mounted here")
        }
        defer { cleanUp() }
        let daemon = try await root.startDaemon(["--store", store])
        defer { daemon.stop() }
        let staging = root.staging()
        for i in 0..<20 {
            write(TinyPNG.make(width: 8, height: 8, seed: 40 + i), to: staging + "/x\(i).png")
            #expect(rename(staging + "/x\(i).png", root.inbox + "/x\(i).png") == 0)
        }
        #expect(symlink("/etc/hostname", root.inbox + "/link.jpg") == 0)
        #expect(await eventually { root.documentCount() >= 21 })
        let documents = try root.documents()
        #expect(documents.filter { $0.status == .completed }.count == 20)
        #expect(documents.first { $0.source?.name == "link.jpg" }?.error?.code == .notARegularFile)
        let stored = root.storedEntries(in: store)
        #expect(stored.count == 21)
        var status = stat()
        #expect(lstat(stored[documents.first { $0.source?.name == "link.jpg" }!.id!]!, &status) == 0)
        #expect(status.st_mode & S_IFMT == S_IFLNK)
        #expect(root.inboxLeftovers().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root.store))  // nothing went to the default store
    }

    /// A directory on a file system other than the root's: /dev/shm when it is one, else a tmpfs
    /// mounted for the test (needs root). Nil when neither works.
    func otherFileSystemDirectory(for root: TestRoot) throws -> (String, () -> Void)? {
        var rootStatus = stat()
        guard stat(root.root, &rootStatus) == 0 else { return nil }
        var shm = stat()
        if stat("/dev/shm", &shm) == 0, shm.st_dev != rootStatus.st_dev, access("/dev/shm", W_OK) == 0 {
            let directory = "/dev/shm/fw-e2e-store-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return (directory, { try? FileManager.default.removeItem(atPath: directory) })
        }
        let mountPoint = root.staging("tmpfs")
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mountPoint]
        mount.standardError = FileHandle.nullDevice
        guard (try? mount.run()) != nil else { return nil }
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { return nil }
        return (
            mountPoint,
            {
                let umount = Process()
                umount.executableURL = URL(fileURLWithPath: "/bin/umount")
                umount.arguments = [mountPoint]
                try? umount.run()
                umount.waitUntilExit()
            }
        )
    }

    // MARK: - Faces, stats and average

    @Test(
        .enabled(
            if: testImagesDirectory != nil, "no test images: run `make test-images` (or set FACEWATCH_TEST_IMAGES)"))
    func statsAndAverageMatchWhatTheResultsSay() async throws {
        let images = testImagesDirectory!
        let root = TestRoot("average")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let faces = ["astronaut.png", "two_faces.png", "astronaut_exif6.jpg", "astronaut_gray.jpg"]
        var ids: [String] = []
        for name in faces {
            let output = try await facewatch(["submit", "--root", root.root, images + "/" + name])
            #expect(output.status == 0, "\(output.stderr)")
            ids.append(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        write(TinyPNG.make(width: 16, height: 16, seed: 1), to: root.inbox + "/no-face.png")
        write(Array("text".utf8), to: root.inbox + "/text.jpg")
        // The same content twice: the second reuses the first one's faces (dedup).
        let astronaut = try #require(FileManager.default.contents(atPath: images + "/astronaut.png"))
        #expect(await eventually { root.documentCount() >= 6 })
        write(Array(astronaut), to: root.inbox + "/astronaut-again.png")
        #expect(await eventually { root.documentCount() >= 7 })
        // stats.json is rewritten at most once a second: wait for the rewrite that counts all seven.
        let statsFile = URL(fileURLWithPath: root.root + "/stats.json")
        #expect(
            await eventually(timeout: .seconds(30)) {
                let written = (try? Data(contentsOf: statsFile)).flatMap {
                    try? JSONSerialization.jsonObject(with: $0) as? [String: Any]
                }
                return written?["total"] as? Int == 7
            })

        let documents = try root.documents()
        let (faceCount, mean) = meanEncoding(documents)
        #expect(faceCount >= 5, "face counts: \(documents.map { ($0.source?.name ?? "", $0.faces.count) })")
        let again = try #require(documents.first { $0.source?.name == "astronaut-again.png" })
        let first = try #require(documents.first { $0.id == ids[0] })
        #expect(again.faces == first.faces)
        #expect(again.id != first.id)

        let stats = try await root.stats()
        #expect(stats["total"] as? Int == 7)
        #expect(stats["completed"] as? Int == 6)
        #expect(stats["failed"] as? Int == 1)
        #expect(stats["created"] as? Int == 0)
        #expect(stats["faces"] as? Int == faceCount)
        let statsMean = (stats["average_encoding"] as? [NSNumber])?.map(\.doubleValue) ?? []
        #expect(statsMean.count == 128)
        #expect(zip(statsMean, mean).allSatisfy { abs($0 - $1) < 1e-6 })
        let written =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root.root + "/stats.json")))
            as? [String: Any]
        #expect(written?["faces"] as? Int == faceCount)
        #expect(written?["total"] as? Int == 7)

        for window in [[], ["--since", "1h"], ["--from", "2000-01-01", "--to", "now"]] {
            let output = try await facewatch(["average", "--root", root.root, "--compact"] + window)
            #expect(output.status == 0, "\(output.stderr)")
            let average = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
            #expect(average?["faces"] as? Int == faceCount, "\(window)")
            #expect(average?["images"] as? Int == 6, "\(window)")
            let values = (average?["average_encoding"] as? [NSNumber])?.map(\.doubleValue) ?? []
            #expect(values.count == 128)
            #expect(zip(values, mean).allSatisfy { abs($0 - $1) < 1e-6 }, "\(window)")
        }
        let future = try await facewatch(["average", "--root", root.root, "--compact", "--from", "2999-01-01"])
        let empty = try JSONSerialization.jsonObject(with: Data(future.stdout.utf8)) as? [String: Any]
        #expect(empty?["faces"] as? Int == 0)
        #expect((empty?["average_encoding"] as? [Any])?.isEmpty == true)
    }
}

/// The reload: it needs a daemon reconfigured.
/// (An extension: the same serialized suite, so no two daemons of these tests run at once.)
extension DaemonEndToEndTests {
    @Test func sighupReloadsLimitsAndLogLevelAndKeepsTheOldOnesOnError() async throws {
        let root = TestRoot("reload")
        let config = root.base + "/facewatch.conf"
        try "log_level = info\nmax_bytes = 1MB\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(root: root.root, arguments: ["--workers", "2", "--config", config])
        defer { daemon.stop() }
        try await daemon.waitUntilReady()
        let big = TinyPNG.make(width: 200, height: 200, seed: 5)  // 120 KB
        write(big, to: root.inbox + "/before.png")
        #expect(await eventually { root.documentCount() == 1 })

        try "log_level = debug\nmax_bytes = 100KB\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.send(SIGHUP)
        #expect(await eventually(timeout: .seconds(20)) { daemon.log.contains("notice reloaded") }, "\(daemon.log)")
        write(TinyPNG.make(width: 200, height: 200, seed: 7), to: root.inbox + "/after.png")  // not `big`: dedup
        #expect(await eventually { root.documentCount() == 2 })
        let documents = Dictionary(uniqueKeysWithValues: try root.documents().map { ($0.source?.name ?? "", $0) })
        #expect(documents["before.png"]?.status == .completed)
        #expect(documents["after.png"]?.error?.code == .tooLarge)
        // A file over the limit is failed from its size, never encoded: one under it shows the level.
        write(TinyPNG.make(width: 24, height: 24, seed: 8), to: root.inbox + "/small.png")
        #expect(await eventually { root.documentCount() == 3 })
        #expect(daemon.log.contains(" debug encoding "), "the new log level is in force")

        try "max_bytes = lots\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.send(SIGHUP)
        #expect(
            await eventually(timeout: .seconds(20)) {
                daemon.log.contains("reload failed, keeping the running configuration")
            })
        write(TinyPNG.make(width: 200, height: 200, seed: 6), to: root.inbox + "/still.png")
        #expect(await eventually { root.documentCount() == 4 })
        let still = try root.documents().first { $0.source?.name == "still.png" }
        #expect(still?.error?.code == .tooLarge, "the 100KB limit stayed in force")
        daemon.send(SIGTERM)
        #expect(await daemon.waitForExit(timeout: .seconds(45)) == 0)
    }
}
