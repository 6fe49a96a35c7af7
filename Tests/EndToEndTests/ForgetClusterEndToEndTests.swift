import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two daemons sharing one PostgreSQL ledger, each with its own store and results (two hosts): a
/// forget run on one host removes the files on the host that holds them.
@Suite(
    .tags(.endToEnd),
    .serialized, .timeLimit(.minutes(5)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)),
    .enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster (make test starts one)"))
struct ForgetClusterEndToEndTests {
    @Test func aForgetOnOneHostRemovesTheFilesOnTheHostThatHoldsThem() async throws {
        let url = try #require(try TestPostgres.freshDatabase())
        let base = NSTemporaryDirectory() + "fw-forget-cluster-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        var configs: [String: String] = [:]
        for host in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: base + "/" + host, withIntermediateDirectories: true)
            let path = base + "/\(host).conf"
            try "root = \(base)/\(host)\nledger = \(url)\n".write(toFile: path, atomically: true, encoding: .utf8)
            configs[host] = path
        }
        func start(_ host: String) async throws -> DaemonProcess {
            try await DaemonProcess.host(root: base + "/" + host, config: configs[host]!)
        }
        let a = try await start("a")
        defer { a.stop() }
        let b = try await start("b")
        defer { b.stop() }

        // Two photos dropped on b: their originals and documents are in b's store and results.
        let staging = base + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        for (i, seed) in [11, 12].enumerated() {
            write(TinyPNG.make(width: 100 + i, height: 80, seed: seed), to: staging + "/p\(i).png")
            #expect(rename(staging + "/p\(i).png", base + "/b/inbox/p\(i).png") == 0)
        }
        let results = base + "/b/results"
        func documents() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []).filter {
                $0.hasSuffix(".json") && !$0.hasPrefix(".")
            }
        }
        #expect(await eventually(timeout: .seconds(60)) { documents().count == 2 }, "b: \(b.log)")
        let ids = documents().map { String($0.dropLast(".json".count)) }.sorted()
        func stored(_ root: String) -> [String] {
            (FileManager.default.subpaths(atPath: root + "/store") ?? []).filter { $0.hasSuffix(".png") }
        }
        #expect(stored(base + "/b").count == 2 && stored(base + "/a").isEmpty)

        // Forgotten on a: a's store has nothing of it; b's daemon removes b's files.
        let forget = try await facewatch(["forget", "--config", configs["a"]!, ids[0]])
        #expect(forget.status == 0, "forget on a: \(forget.stderr)")
        #expect(forget.stdout.contains("forgot 1 images"), "\(forget.stdout)")
        #expect(
            await eventually(timeout: .seconds(60)) {
                !FileManager.default.fileExists(atPath: results + "/\(ids[0]).json")
                    && !stored(base + "/b").contains { $0.contains(ids[0]) }
            }, "b: \(b.log)")
        #expect(await eventually { b.log.contains("removed the files of images forgotten elsewhere") }, "\(b.log)")
        // The other photo stays whole on b; both hosts say the first is forgotten.
        #expect(FileManager.default.fileExists(atPath: results + "/\(ids[1]).json"))
        #expect(stored(base + "/b").contains { $0.contains(ids[1]) })
        for host in ["a", "b"] {
            let result = try await facewatch(["result", ids[0], "--config", configs[host]!, "--compact"])
            #expect(result.status == 0 && result.stdout.contains("\"status\":\"forgotten\""), "\(result.stdout)")
        }
        // a's daemon did not take b's tombstone for its own (it has no such file and said nothing).
        #expect(!a.log.contains("removed the files of images forgotten elsewhere"), "\(a.log)")
    }
}
