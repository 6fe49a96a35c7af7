import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Three daemons on this machine, as three hosts would run: each its own root (lock, stats) and
/// inbox, one shared store and results directory, one PostgreSQL ledger (the throwaway cluster of
/// `make test`). One daemon is killed with `kill -9` while it holds claims, and never restarted.
@Suite(
    .tags(.endToEnd),
    .serialized, .timeLimit(.minutes(5)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)),
    .enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster (make test starts one)"))
struct ClusterEndToEndTests {
    @Test func threeDaemonsShareOneQueueAndTheDeadOnesFilesAreFinishedByTheOthers() async throws {
        let url = try #require(try TestPostgres.freshDatabase())
        let base = NSTemporaryDirectory() + "fw-cluster-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let shared = base + "/shared"
        let gate = base + "/gate"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        func config(_ host: String) throws -> String {
            let root = base + "/" + host
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let path = base + "/\(host).conf"
            try """
            root = \(root)
            store = \(shared)/store
            results = \(shared)/results
            ledger = \(url)
            ledger_lease = 3s
            """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let hosts = ["a", "b", "c"]
        var configs: [String: String] = [:]
        for host in hosts { configs[host] = try config(host) }
        func start(_ host: String, environment: [String: String] = [:]) async throws -> DaemonProcess {
            try await DaemonProcess.host(root: base + "/" + host, config: configs[host]!, environment: environment)
        }
        // The first daemon marks the shared directories; the others find its marker.
        let a = try await start("a")
        defer { a.stop() }
        let b = try await start("b")
        defer { b.stop() }
        // `c` holds every file of its own inbox it claims, until it is killed.
        let c = try await start(
            "c", environment: ["FACEWATCH_TEST_HOLD_CLAIMED": "c/", "FACEWATCH_TEST_PAUSE_GATE": gate])
        defer { c.stop() }

        // Faces for the average, different bytes on every host: a file the dead daemon held is
        // encoded again by another, not completed from a twin (dedup).
        let faceImages: [String: [String]] = [
            "a": ["astronaut.png", "astronaut_rgba.png"], "b": ["astronaut_palette.png", "chelsea.png"],
            "c": ["two_faces.png", "astronaut_gray_alpha.png"],
        ]
        var names: [String] = []
        func drop(_ host: String, index: Int) throws {
            let folder = base + "/staging-" + host
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for i in 0..<6 {
                let path = folder + "/f\(i).png"
                if let images = testImagesDirectory, let faces = faceImages[host], i < faces.count {
                    try FileManager.default.copyItem(atPath: images + "/" + faces[i], toPath: path)
                } else {
                    write(TinyPNG.make(width: 120 + i, height: 90, seed: 100 * index + i), to: path)
                }
                names.append("\(host)/f\(i).png")
            }
            #expect(rename(folder, base + "/\(host)/inbox/\(host)") == 0)
        }
        // `c`'s files first, so that it claims some of them before the others are busy.
        try drop("c", index: 2)
        // `c` has taken its whole inbox into the shared store and holds a claim: kill it.
        let cInbox = base + "/c/inbox"
        #expect(
            await eventually(timeout: .seconds(60)) {
                let held = (try? FileManager.default.contentsOfDirectory(atPath: base))?.contains {
                    $0.hasPrefix("gate.") && $0.hasSuffix(".held")
                }
                let left = (FileManager.default.subpaths(atPath: cInbox) ?? []).filter { $0.hasSuffix(".png") }
                return held == true && left.isEmpty
            }, "c never held a claim: \(c.log)")
        try drop("a", index: 0)
        try drop("b", index: 1)
        #expect(
            await eventually(timeout: .seconds(60)) {
                (FileManager.default.subpaths(atPath: base + "/a/inbox") ?? []).allSatisfy { !$0.hasSuffix(".png") }
                    && (FileManager.default.subpaths(atPath: base + "/b/inbox") ?? []).allSatisfy {
                        !$0.hasSuffix(".png")
                    }
            })
        c.send(SIGKILL)
        #expect(await c.waitForExit(timeout: .seconds(30)) != nil)
        let held = try FileManager.default.contentsOfDirectory(atPath: base).filter {
            $0.hasPrefix("gate.") && $0.hasSuffix(".held")
        }.map { String($0.dropFirst("gate.".count).dropLast(".held".count)) }
        #expect(!held.isEmpty)

        // The others finish everything, the dead daemon's claims included once its lease is over.
        let results = shared + "/results"
        func documents() throws -> [ResultDocument] {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []).filter {
                $0.hasSuffix(".json") && !$0.hasPrefix(".")
            }
            return try files.map {
                try JSONDecoder().decode(
                    ResultDocument.self, from: Data(contentsOf: URL(fileURLWithPath: results + "/" + $0)))
            }
        }
        #expect(
            await eventually(timeout: .seconds(180)) { ((try? documents()) ?? []).count >= names.count },
            "a: \(a.log)\nb: \(b.log)")
        let finals = try documents()
        #expect(finals.count == names.count)
        #expect(finals.compactMap(\.source?.name).sorted() == names.sorted(), "a file has no or two results")
        #expect(finals.allSatisfy { $0.status == .completed }, "\(finals.map { ($0.source?.name, $0.error) })")
        let finalIDs = Set(finals.compactMap(\.id))
        for id in held {
            #expect(finalIDs.contains(id), "the dead daemon's claim \(id) was never finished")
            func encoded(_ log: String) -> Bool {
                log.split(separator: "\n").contains { $0.contains(" encoding ") && $0.contains("id=\(id)") }
            }
            #expect(encoded(a.log) || encoded(b.log), "\(id) was not taken over")
        }

        // Global stats and average, from any host's config, add up to the documents.
        let (faceCount, mean) = meanEncoding(finals)
        for host in ["a", "b"] {
            let output = try await facewatch(["stats", "--config", configs[host]!, "--compact"])
            #expect(output.status == 0, "\(output.stderr)")
            let stats = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
            #expect(stats?["total"] as? Int == names.count)
            #expect(stats?["completed"] as? Int == names.count)
            #expect(stats?["created"] as? Int == 0)
            #expect(stats?["faces"] as? Int == faceCount)
            let average = try await facewatch(["average", "--config", configs[host]!, "--compact"])
            let values =
                ((try JSONSerialization.jsonObject(with: Data(average.stdout.utf8)) as? [String: Any])?[
                    "average_encoding"] as? [NSNumber])?.map(\.doubleValue) ?? []
            #expect(values.count == mean.count)
            #expect(zip(values, mean).allSatisfy { abs($0 - $1) < 1e-6 })
        }
        #expect(!a.log.contains("scram") && !a.log.contains("password"))
    }

    /// PostgreSQL goes away under a running daemon: files dropped meanwhile wait (nothing is made
    /// final, the daemon keeps running) and are finished once the server is back.
    @Test func filesWaitWhilePostgreSQLIsAwayAndAreFinishedWhenItReturns() async throws {
        let cluster = try await TestPostgres.PrivateCluster.start()
        do {
            try await whileAway(cluster)
        } catch {
            await cluster.remove()
            throw error
        }
        await cluster.remove()
    }

    private func whileAway(_ cluster: TestPostgres.PrivateCluster) async throws {
        let url = try await cluster.database()
        let base = NSTemporaryDirectory() + "fw-pg-away-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let root = base + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let config = base + "/facewatch.conf"
        try "root = \(root)\nledger = \(url)\nledger_lease = 3s\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(
            root: root, arguments: ["--config", config, "--workers", "1", "--log-level", "debug"],
            environment: ["FACEWATCH_TEST_RESCAN_MS": "300"])
        defer { daemon.stop() }
        try await daemon.waitUntilReady()
        let results = root + "/results"
        func documents() -> [ResultDocument] {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []).filter {
                $0.hasSuffix(".json") && !$0.hasPrefix(".")
            }
            return names.compactMap {
                try? JSONDecoder().decode(
                    ResultDocument.self, from: Data(contentsOf: URL(fileURLWithPath: results + "/" + $0)))
            }
        }
        write(TinyPNG.make(width: 64, height: 48, seed: 1), to: root + "/inbox/before.png")
        #expect(await eventually(timeout: .seconds(60)) { documents().count == 1 }, "\(daemon.log)")

        try await cluster.halt()
        for (seed, name) in [(2, "during-1.png"), (3, "during-2.png")] {
            write(TinyPNG.make(width: 64, height: 48, seed: seed), to: root + "/inbox/" + name)
        }
        #expect(
            await eventually(timeout: .seconds(60)) { daemon.log.contains("cannot record a batch") }, "\(daemon.log)")
        #expect(daemon.process.isRunning)
        #expect(documents().count == 1, "nothing is made final while the ledger is away")

        try await cluster.resume()
        #expect(await eventually(timeout: .seconds(90)) { documents().count == 3 }, "\(daemon.log)")
        let finals = documents()
        #expect(finals.compactMap(\.source?.name).sorted() == ["before.png", "during-1.png", "during-2.png"])
        #expect(finals.allSatisfy { $0.status == .completed }, "\(finals.map { ($0.source?.name, $0.error) })")
        let output = try await facewatch(["stats", "--config", config, "--compact"])
        let stats = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        #expect(stats?["total"] as? Int == 3 && stats?["completed"] as? Int == 3)
    }
}
