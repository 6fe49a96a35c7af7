import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The start against the real binary: systemd is asked for more time during the long steps, and a
/// root whose results directory is away starts paused and resumes once it is back.
@Suite(.tags(.endToEnd), .serialized, .timeLimit(.minutes(3)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct StartupEndToEndTests {
    @Test func aStartAfterAnUncleanStopAsksForMoreTimeWhileItScansTheStore() async throws {
        let root = TestRoot("extend")
        let first = try await root.startDaemon()
        first.send(SIGKILL)
        #expect(await first.waitForExit(timeout: .seconds(30)) != nil)

        let listener = try NotifyListener()
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--workers", "1"], environment: ["NOTIFY_SOCKET": listener.path])
        defer { daemon.stop() }
        let ready = try #require(
            await listener.wait(timeout: 120) { $0.contains("READY=1") }, "no READY=1: \(daemon.log)")
        let before = listener.all.prefix(ready.index).map(\.text)
        #expect(
            before.contains { $0.contains("EXTEND_TIMEOUT_USEC=30000000") && $0.contains("STATUS=scanning the store") },
            "\(before)")
    }

    @Test func aRootWhoseResultsDirectoryIsAwayStartsPausedAndResumes() async throws {
        let root = TestRoot("start-paused")
        let first = try await root.startDaemon()
        first.stop()
        let away = root.base + "/results.away"
        #expect(rename(root.results, away) == 0)

        let listener = try NotifyListener()
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--workers", "1", "--log-level", "debug"],
            environment: ["NOTIFY_SOCKET": listener.path])
        defer { daemon.stop() }
        let ready = try #require(
            await listener.wait(timeout: 120) { $0.contains("READY=1") }, "no READY=1: \(daemon.log)")
        #expect(ready.text.contains("STATUS=paused: the results directory"), "\(ready.text)")
        #expect(!FileManager.default.fileExists(atPath: root.results), "a results directory was made in its place")
        let staging = root.staging()
        write(TinyPNG.make(width: 40, height: 30, seed: 5), to: staging + "/late.png")
        #expect(rename(staging + "/late.png", root.inbox + "/late.png") == 0)
        #expect(
            await eventually(timeout: .seconds(30)) { daemon.log.contains("files wait in the inbox count=1") },
            "\(daemon.log)")

        #expect(rename(away, root.results) == 0)
        #expect(await eventually(timeout: .seconds(60)) { root.documentCount() == 1 }, "\(daemon.log)")
        #expect(try root.documents().first?.source?.name == "late.png")
    }

    @Test func aDocumentDeletedWhileTheDaemonWasStoppedIsWrittenAgain() async throws {
        let root = TestRoot("documents")
        let first = try await root.startDaemon()
        let staging = root.staging()
        for i in 0..<3 {
            write(TinyPNG.make(width: 50, height: 40, seed: 60 + i), to: staging + "/d\(i).png")
            #expect(rename(staging + "/d\(i).png", root.inbox + "/d\(i).png") == 0)
        }
        #expect(await eventually(timeout: .seconds(60)) { root.documentCount() == 3 })
        first.stop()
        let documents = try root.documents()
        let removed = try #require(documents.first?.id)
        #expect(unlink(root.results + "/" + removed + ".json") == 0)

        // A graceful stop owed no document, but the directory now lacks one: they are checked.
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        #expect(await eventually(timeout: .seconds(30)) { root.documentCount() == 3 }, "\(daemon.log)")
        #expect(
            await eventually(timeout: .seconds(30)) {
                daemon.log.split(separator: "\n").contains {
                    $0.contains("rewrote missing result documents") && $0.contains(" count=1")
                }
            },
            "\(daemon.log)")
    }
    /// OpenBLAS falls back to its SSE3 kernel on CPUs newer than it knows; the daemon then runs the
    /// network on the AVX2 one, says which in its `starting` line, and keeps a kernel the admin chose.
    @Test func theDaemonRunsTheNetworkOnAnAVX2KernelUnlessTheAdminChoseOne() async throws {
        func kernel(in log: String) -> String? {
            guard let line = log.split(separator: "\n").first(where: { $0.contains(" info starting ") }),
                let range = line.range(of: #"blas=\S+"#, options: .regularExpression)
            else { return nil }
            return String(line[range].dropFirst("blas=".count))
        }
        let chosen = TestRoot("blas-chosen")
        let admin = try await chosen.startDaemon(environment: ["OPENBLAS_CORETYPE": "Prescott"])
        defer { admin.stop() }
        #expect(kernel(in: admin.log)?.lowercased() == "prescott", "\(admin.log)")

        let root = TestRoot("blas")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let running = try #require(kernel(in: daemon.log), "\(daemon.log)")
        if let requested = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
            #expect(running.lowercased() == requested.lowercased())
        } else {
            let preAVX2 = ["prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "atom", "unknown"]
            #expect(!preAVX2.contains(running.lowercased()), "\(daemon.log)")
        }
    }
}
