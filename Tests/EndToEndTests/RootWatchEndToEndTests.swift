import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Errors that pass, against the real binary: a store directory renamed away (as an unmounted
/// file system would be) pauses the daemon, which says why and takes nothing into a store that is
/// not there, then resumes by itself; a results directory swapped for an empty one gets no
/// documents until the real one is back; reads failing with `EIO` are retried, never recorded.
@Suite(.tags(.endToEnd), .serialized, .timeLimit(.minutes(5)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct RootWatchEndToEndTests {
    func statusJSON(_ root: TestRoot) async throws -> [String: Any] {
        let output = try await facewatch(["status", "--root", root.root, "--json"])
        #expect(output.status == 0, "status: \(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any] ?? [:]
    }

    func pausedReason(_ root: TestRoot) async -> String? {
        guard let status = try? await statusJSON(root), let metrics = status["metrics"] as? [String: Any] else {
            return nil
        }
        return metrics["paused"] as? String
    }

    @Test func aStoreRenamedAwayPausesTheDaemonUntilItIsBack() async throws {
        let root = TestRoot("store-away")
        let listener = try NotifyListener()
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--workers", "2", "--log-level", "debug"],
            environment: ["NOTIFY_SOCKET": listener.path])
        defer { daemon.stop() }
        try await daemon.waitUntilReady()
        for role in [root.store, root.results, root.root + "/db"] {
            #expect(FileManager.default.fileExists(atPath: role + "/.facewatch-root"), "no marker in \(role)")
        }
        let staging = root.staging()
        write(TinyPNG.make(width: 64, height: 48, seed: 1), to: staging + "/before.png")
        #expect(rename(staging + "/before.png", root.inbox + "/before.png") == 0)
        #expect(await eventually(timeout: .seconds(60)) { root.documentCount() == 1 })

        // The store goes away: the daemon pauses and says why, in the log, STATUS= and status.
        let away = root.base + "/store.away"
        #expect(rename(root.store, away) == 0)
        let said = await listener.wait(timeout: 30) { $0.contains("STATUS=paused: the store directory") }
        #expect(said != nil, "no STATUS=paused: \(listener.all.map(\.text)) \(daemon.log)")
        #expect(await eventually(timeout: .seconds(30)) { await pausedReason(root)?.contains("store") == true })

        // Files dropped meanwhile wait in the inbox; no store is made where the real one was.
        let names = (0..<4).map { "while\($0).png" }
        for (i, name) in names.enumerated() {
            write(TinyPNG.make(width: 64 + i, height: 48, seed: 10 + i), to: staging + "/" + name)
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }
        // The inbox has them ready (the daemon says so), and they stay there.
        #expect(
            await eventually(timeout: .seconds(30)) { daemon.log.contains("files wait in the inbox count=4") },
            "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: root.store), "a store was made while the real one was away")
        #expect(Set(root.inboxLeftovers()).isSuperset(of: names))

        // Back: it resumes by itself, every file gets its result, under its own name, in the store.
        #expect(rename(away, root.store) == 0)
        #expect(
            await eventually(timeout: .seconds(90)) { root.documentCount() == 5 },
            "\(root.documentCount()) \(daemon.log)"
        )
        #expect(await listener.wait(timeout: 30) { $0.hasPrefix("STATUS=backlog ") && !$0.contains("paused") } != nil)
        #expect(await eventually(timeout: .seconds(30)) { await pausedReason(root) == nil })
        let documents = try root.documents()
        #expect(documents.allSatisfy { $0.status == .completed }, "\(documents.map(\.error))")
        #expect(Set(documents.compactMap(\.source?.name)) == Set(names + ["before.png"]))
        #expect(root.storedEntries().count == 5)
        #expect(daemon.log.contains("resumed"))
    }

    @Test func aResultsDirectorySwappedForAnEmptyOneGetsNoDocuments() async throws {
        let root = TestRoot("results-swap")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        // An empty directory where the results were, as an unmounted mount point would be.
        let real = root.base + "/results.real"
        #expect(rename(root.results, real) == 0)
        try FileManager.default.createDirectory(atPath: root.results, withIntermediateDirectories: false)
        #expect(await eventually(timeout: .seconds(30)) { await pausedReason(root)?.contains("results") == true })
        let staging = root.staging()
        write(TinyPNG.make(width: 80, height: 60, seed: 77), to: staging + "/swap.png")
        #expect(rename(staging + "/swap.png", root.inbox + "/swap.png") == 0)
        #expect(
            await eventually(timeout: .seconds(30)) { daemon.log.contains("files wait in the inbox count=1") },
            "\(daemon.log)")
        #expect(root.documentCount() == 0)

        // The real one back in place: the file is taken and its document lands there.
        #expect(rmdir(root.results) == 0)
        #expect(rename(real, root.results) == 0)
        #expect(await eventually(timeout: .seconds(60)) { root.documentCount() == 1 }, "\(daemon.log)")
        #expect(try root.documents().first?.source?.name == "swap.png")
    }

    @Test func readsFailingWithEIOAreRetriedNotRecorded() async throws {
        let root = TestRoot("eio")
        // The debug build's hook fails the first three reads of these files with EIO.
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--workers", "2", "--log-level", "debug"],
            environment: ["FACEWATCH_TEST_EIO": "flaky:3", "FACEWATCH_TEST_RETRY_MS": "20"])
        defer { daemon.stop() }
        try await daemon.waitUntilReady()
        let staging = root.staging()
        let names = ["flaky1.png", "flaky2.png", "steady.png"]
        for (i, name) in names.enumerated() {
            write(TinyPNG.make(width: 90, height: 70, seed: 300 + i), to: staging + "/" + name)
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }
        // Backoff of 1, 2, 4 units (20 ms here): the fourth read succeeds.
        #expect(await eventually(timeout: .seconds(90)) { root.documentCount() == 3 }, "\(daemon.log)")
        let documents = try root.documents()
        #expect(documents.allSatisfy { $0.status == .completed }, "\(documents.map(\.error))")
        #expect(daemon.log.contains("not recorded, tried again later"))
        let stats = try await root.stats()
        #expect(stats["failed"] as? Int == 0)
    }

    @Test func aFileThatAlwaysRunsOutOfMemoryIsFailedAfterItsTries() async throws {
        let root = TestRoot("enomem")
        // The debug build's hook fails every encode of these files as a failed allocation does.
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--workers", "2", "--log-level", "debug"],
            environment: ["FACEWATCH_TEST_ENOMEM": "greedy", "FACEWATCH_TEST_RETRY_MS": "20"])
        defer { daemon.stop() }
        try await daemon.waitUntilReady()
        let staging = root.staging()
        for (i, name) in ["greedy.png", "plain.png"].enumerated() {
            write(TinyPNG.make(width: 90, height: 70, seed: 400 + i), to: staging + "/" + name)
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }
        // Eight tries with the backoff's 1, 2, 4... 60 units between them, a unit being 20 ms here.
        #expect(await eventually(timeout: .seconds(120)) { root.documentCount() == 2 }, "\(daemon.log)")
        let documents = try root.documents()
        let greedy = try #require(documents.first { $0.source?.name == "greedy.png" })
        #expect(greedy.status == .failed && greedy.error?.code == .outOfMemory, "\(String(describing: greedy.error))")
        #expect(greedy.error?.message.contains("8 tries") == true, "\(String(describing: greedy.error))")
        #expect(documents.first { $0.source?.name == "plain.png" }?.status == .completed)
        // Retried as a transient error until then: seven waits, one log line each.
        let retried = daemon.log.split(separator: "\n").filter {
            $0.contains("not recorded, tried again later") && $0.contains("id=\(greedy.id ?? "?")")
        }
        #expect(retried.count == 7, "\(retried)")
        let stats = try await root.stats()
        #expect(stats["failed"] as? Int == 1 && stats["completed"] as? Int == 1, "\(stats)")
    }
}
