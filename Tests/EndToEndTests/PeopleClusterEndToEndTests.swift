import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// People with two daemons on one PostgreSQL ledger, as two hosts would run them (one shared store
/// and results directory): the photos dropped half on each host end in the people one host alone
/// gives, in every document and in `facewatch people` on either host.
@Suite(
    .tags(.endToEnd),
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: canRunDaemon && testImagesDirectory != nil, Comment(rawValue: "\(whyNot), or no test images")),
    .enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster (make test starts one)"))
struct PeopleClusterEndToEndTests {
    /// The config files of hosts a and b (roots `base/a`, `base/b`; store and results in
    /// `base/shared`; the ledger `ledger`), with `extra` settings, by host.
    static func configs(base: String, ledger: String, extra: String = "") throws -> [String: String] {
        var configs: [String: String] = [:]
        for host in ["a", "b"] {
            let root = base + "/" + host
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            configs[host] = base + "/\(host).conf"
            try """
            root = \(root)
            store = \(base)/shared/store
            results = \(base)/shared/results
            ledger = \(ledger)

            """.appending(extra).write(toFile: configs[host]!, atomically: true, encoding: .utf8)
        }
        return configs
    }

    /// The documents in `results`, parsed (the ones being written left out).
    static func documents(in results: String) -> [ResultDocument] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.compactMap { name in
            (try? Data(contentsOf: URL(fileURLWithPath: results + "/" + name)))
                .flatMap { try? JSONDecoder().decode(ResultDocument.self, from: $0) }
        }
    }

    @Test func twoHostsOnOneLedgerGiveOnePeople() async throws {
        let images = try #require(testImagesDirectory)
        let url = try #require(try TestPostgres.freshDatabase())
        let base = NSTemporaryDirectory() + "fw-people-cluster-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let shared = base + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        let configs = try Self.configs(base: base, ledger: url)
        let a = try await DaemonProcess.host(root: base + "/a", config: configs["a"]!)
        defer { a.stop() }
        let b = try await DaemonProcess.host(root: base + "/b", config: configs["b"]!)
        defer { b.stop() }
        let photos = [
            ("a", "astronaut.png"), ("b", "astronaut.jpg"), ("a", "astronaut_gray.jpg"), ("b", "two_faces.png"),
            ("a", "astronaut_progressive.jpg"), ("b", "camera.png"),
        ]
        let staging = base + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        for (host, name) in photos {
            try FileManager.default.copyItem(atPath: images + "/" + name, toPath: staging + "/" + name)
            #expect(rename(staging + "/" + name, base + "/\(host)/inbox/" + name) == 0)
        }
        func documents() -> [ResultDocument] { Self.documents(in: shared + "/results") }
        // `people --json` on host a: the one person found.
        func found() async -> [[String: Any]] {
            guard let output = try? await facewatch(["people", "--config", configs["a"]!, "--json"]),
                let object = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
            else { return [] }
            return object["found"] as? [[String: Any]] ?? []
        }
        // Every real face (6: one in each of 4 astronaut photos, two in two_faces.png) is in the person
        // `people` finds, in every document, whichever host wrote it; the patch is in none.
        var seen = ""
        #expect(
            await eventually(timeout: .seconds(120)) {
                let all = documents()
                guard all.count == photos.count, let person = await found().first?["id"] as? String else {
                    return false
                }
                let faces = all.flatMap(\.faces)
                seen = "\(person) \(faces.map { "\($0.score ?? -1):\(String(describing: $0.person))" })"
                let real = faces.filter { ($0.score ?? 0) >= 0.3 }
                return real.count == 6 && real.allSatisfy { $0.person == .person(person) }
                    && faces.filter { ($0.score ?? 1) < 0.3 }.allSatisfy { $0.person == .alone }
            }, "\(seen)\n\(a.log)\n\(b.log)")
    }

    /// The sixty photos of the order test (`PhotoVariant.sixty`), shuffled and dropped alternately on
    /// two hosts of one PostgreSQL ledger, leave every document with the person the one-pass grouping
    /// of the whole ledger gives (`people --rebuild` rewrites none) and the same people as on one host;
    /// a restarted host takes its people from its own snapshot and changes no document.
    @Test func sixtyPhotosOnTwoHostsGiveTheOnePassPeople() async throws {
        let images = try #require(testImagesDirectory)
        let url = try #require(try TestPostgres.freshDatabase())
        let base = NSTemporaryDirectory() + "fw-people-sixty-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let shared = base + "/shared"
        let staging = base + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try PhotoVariant.writeSixty(into: staging, from: images)
        let configs = try Self.configs(base: base, ledger: url, extra: "cluster_distance = 0.3\n")
        let a = try await DaemonProcess.host(root: base + "/a", config: configs["a"]!)
        defer { a.stop() }
        var b = try await DaemonProcess.host(root: base + "/b", config: configs["b"]!)
        defer { b.stop() }
        var generator = SeededGenerator(seed: 61)
        let names = PhotoVariant.sixty.map(\.name).shuffled(using: &generator)
        for (index, name) in names.enumerated() {
            #expect(rename(staging + "/" + name, base + "/\(index % 2 == 0 ? "a" : "b")/inbox/" + name) == 0)
        }
        let lookOf = Dictionary(uniqueKeysWithValues: PhotoVariant.sixty.map { ($0.name, $0.look) })
        func documents() -> [ResultDocument] { Self.documents(in: shared + "/results") }
        // Each look of ten photos or more one person of its own in every document, whichever host
        // wrote it; the two photos of the last look alone.
        var seen: [String: [PersonSlot?]] = [:]
        #expect(
            await eventually(timeout: .seconds(300)) {
                let all = documents()
                guard all.count == names.count else { return false }
                seen = [:]
                for document in all {
                    for face in document.faces where (face.score ?? 0) >= 0.3 {
                        seen[lookOf[document.source?.name ?? ""] ?? "?", default: []].append(face.person)
                    }
                }
                let people = ["astronaut", "squeezed", "left-half", "right-half", "tall-right-half"].map { look in
                    Set((seen[look] ?? []).map { $0?.id })
                }
                return people.count == 5 && people.allSatisfy { $0.count == 1 && $0.first! != nil }
                    && Set(people.map { $0.first! }).count == 5
                    && seen["tall-left-half"]?.allSatisfy { $0 == .alone } == true
            }, "\(seen)\n\(a.log)\n\(b.log)")
        // Host b again: its people from its snapshot, the ones other hosts stored since added.
        b.stop()
        b = try await DaemonProcess.host(root: base + "/b", config: configs["b"]!)
        let restarted = b
        #expect(await eventually { restarted.log.contains("people of result documents") })
        #expect(restarted.log.contains("from=snapshot") && !restarted.log.contains("rewritten=1"), "\(restarted.log)")
        // The one-pass grouping of the whole ledger is what the documents say.
        a.stop()
        b.stop()
        let rebuilt = try await facewatch(["people", "--config", configs["a"]!, "--rebuild"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("rewrote 0 of"), "\(rebuilt.stdout)")
    }
}
