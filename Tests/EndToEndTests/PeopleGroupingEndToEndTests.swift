import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faces grouped into people by the real daemon: each face of a result names its person, the same
/// photos dropped one by one in three orders give the same people and ids, a restart gives them
/// again, and a forget that leaves a person too few faces dissolves it in the documents that remain.
@Suite(
    .tags(.endToEnd),
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: canRunDaemon && testImagesDirectory != nil, Comment(rawValue: "\(whyNot), or no test images")))
struct PeopleGroupingEndToEndTests {
    /// The astronaut's face in several encodings of one photo (different bytes: different face keys,
    /// nearly the same encodings), two copies of it in one picture, and pictures without faces.
    static let photos = [
        "astronaut.png", "astronaut.jpg", "astronaut_gray.jpg", "astronaut_progressive.jpg",
        "astronaut_palette.png", "astronaut_exif6.jpg", "two_faces.png", "camera.png", "chelsea.png",
    ]

    /// Each face of each document, by (content digest, face number): its person slot and score.
    static func faces(_ root: TestRoot) throws -> [String: (person: PersonSlot?, score: Double?)] {
        var found: [String: (PersonSlot?, Double?)] = [:]
        for document in try root.documents() {
            for (index, face) in document.faces.enumerated() {
                found["\(document.source?.sha256 ?? "?")#\(index)"] = (face.person, face.score)
            }
        }
        return found
    }

    /// The persons of `faces`, comparable.
    static func persons(_ faces: [String: (person: PersonSlot?, score: Double?)]) -> [String: PersonSlot?] {
        faces.mapValues(\.person)
    }

    /// Drops `names` into the daemon's inbox one at a time, each after the previous one's document.
    static func drop(_ names: [String], into root: TestRoot, from images: String) async throws {
        let staging = root.staging()
        for (index, name) in names.enumerated() {
            try FileManager.default.copyItem(atPath: images + "/" + name, toPath: staging + "/" + name)
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
            #expect(await eventually(timeout: .seconds(120)) { root.documentCount() == index + 1 }, "\(name)")
        }
    }

    @Test func theSamePhotosInThreeOrdersGiveTheSamePeople() async throws {
        let images = try #require(testImagesDirectory)
        var generator = SeededGenerator(seed: 23)
        let orders = [Self.photos, Self.photos.reversed(), Self.photos.shuffled(using: &generator)]
        let roots = orders.indices.map { TestRoot("people-order-\($0)") }
        var daemons: [DaemonProcess] = []
        defer { for daemon in daemons { daemon.stop() } }
        for root in roots { daemons.append(try await root.startDaemon()) }
        for (root, order) in zip(roots, orders) { try await Self.drop(order, into: root, from: images) }
        // Documents rewritten in the background settle on the same people in every root.
        var settled: [String: PersonSlot?] = [:]
        #expect(
            await eventually(timeout: .seconds(120)) {
                let all = roots.map { (try? Self.persons(Self.faces($0))) ?? [:] }
                settled = all[0]
                return all[0].count >= 8 && all.allSatisfy { $0 == all[0] }
            }, "\(daemons.map(\.log))")
        let faces = try Self.faces(roots[0])
        // Every astronaut face (a real one scores above cluster_min_score) is one person; the mission
        // patch HOG takes for a face (scoring under it) is in none.
        let real = faces.values.filter { ($0.score ?? 0) >= 0.3 }
        let patches = faces.values.filter { ($0.score ?? 1) < 0.3 }
        #expect(real.count >= 7 && !patches.isEmpty, "\(faces)")
        let ids = Set(real.compactMap { $0.person?.id })
        #expect(ids.count == 1 && real.allSatisfy { $0.person?.id != nil }, "\(faces)")
        #expect(patches.allSatisfy { $0.person == .alone }, "\(faces)")

        // A restart groups the faces again from the ledger: the same people, no document changes.
        daemons[0].stop()
        daemons[0] = try await roots[0].startDaemon()
        let restarted = daemons[0]
        #expect(await eventually { restarted.log.contains("checked the people of result documents") })
        #expect(restarted.log.contains("rewritten=0"), "\(restarted.log)")
        #expect(try Self.persons(Self.faces(roots[0])) == settled)
    }

    @Test func aForgetThatLeavesTooFewFacesDissolvesThePerson() async throws {
        let images = try #require(testImagesDirectory)
        let root = TestRoot("people-forget")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let photos = ["astronaut.png", "astronaut.jpg", "astronaut_gray.jpg"]
        try await Self.drop(photos, into: root, from: images)
        func astronaut(_ source: String) throws -> PersonSlot? {
            try root.documents().first { $0.source?.name == source }?.faces.first?.person
        }
        // Three faces within the distance: one person, in every document (the first two rewritten
        // when the third made them core faces).
        #expect(
            await eventually(timeout: .seconds(60)) {
                let slots = photos.map { try? astronaut($0) }
                return slots.allSatisfy { $0?.id != nil } && Set(slots.map { $0?.id }).count == 1
            }, "\(daemon.log)")
        let forgotten = try #require(try root.documents().first { $0.source?.name == "astronaut.png" }?.id)
        let output = try await facewatch(["forget", "--root", root.root, forgotten])
        #expect(output.status == 0, "\(output.stderr)")
        // Two faces are left: fewer than cluster_min_faces, so no person.
        #expect(
            await eventually(timeout: .seconds(60)) {
                (try? astronaut("astronaut.jpg")) == .alone && (try? astronaut("astronaut_gray.jpg")) == .alone
            }, "\(daemon.log)")
    }
}
