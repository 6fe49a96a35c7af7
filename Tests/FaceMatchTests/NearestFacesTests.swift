import FaceCore
import FaceMatch
import FaceTestSupport
import Foundation
import Testing

@Suite(.timeLimit(.minutes(1)))
struct NearestFacesTests {
    /// A table of `rows` random encodings shaped like dlib's (components around ±0.1).
    static func randomTable(rows: Int, seed: UInt64) -> (FaceTable, SeededGenerator) {
        var rng = SeededGenerator(seed: seed)
        var table = FaceTable(capacity: rows)
        for row in 0..<rows {
            let encoding = (0..<FaceTable.dimensions).map { _ in rng.uniform(-0.15, 0.15) }
            table.append(encoding, reference: .init(id: UUID(), face: row % 3))
        }
        return (table, rng)
    }

    /// Every distance computed one by one in double, sorted: the ranking the search must give.
    static func bruteForce(_ table: FaceTable, _ query: [Float], limit: Int) -> [Neighbour] {
        (0..<table.count).map { Neighbour(row: $0, distance: FaceDistance.euclidean(table.encoding(at: $0), query)) }
            .sorted { ($0.distance, $0.row) < ($1.distance, $1.row) }
            .prefix(limit).map { $0 }
    }

    @Test(arguments: [1, 5, 37, 200])
    func theSearchRanksExactlyAsBruteForce(limit: Int) {
        var (table, rng) = Self.randomTable(rows: 10_000, seed: 11 + UInt64(limit))
        for _ in 0..<8 {
            let query = (0..<FaceTable.dimensions).map { _ in rng.uniform(-0.15, 0.15) }
            let found = table.nearest(to: query, limit: limit)
            let expected = Self.bruteForce(table, query, limit: limit)
            #expect(found == expected)
        }
        // A query equal to a stored row finds it first, at distance 0.
        let row = 4321
        let found = table.nearest(to: table.encoding(at: row), limit: 3)
        #expect(found.first == Neighbour(row: row, distance: 0))
        table.stamp = .init(faces: 2, logPosition: 1)
    }

    @Test func nearDuplicatesAreRankedByTheirDoubleDistance() {
        // Rows that differ in the last float32 bit: the float32 filter cannot tell them apart, the
        // ranking in double must still be the brute force one (the exact second pass).
        var (table, rng) = Self.randomTable(rows: 2_000, seed: 99)
        let base = (0..<FaceTable.dimensions).map { _ in rng.uniform(-0.15, 0.15) }
        for i in 0..<300 {
            var copy = base
            copy[i % FaceTable.dimensions] = copy[i % FaceTable.dimensions].nextUp
            table.append(copy, reference: .init(id: UUID(), face: 0))
        }
        let query = base.map { $0 + 0.001 }
        #expect(table.nearest(to: query, limit: 10) == Self.bruteForce(table, query, limit: 10))
    }

    @Test func aMaximumDistanceCutsTheList() {
        let (table, _) = Self.randomTable(rows: 500, seed: 5)
        let query = table.encoding(at: 7)
        let all = Self.bruteForce(table, query, limit: 500)
        let cut = all[20].distance
        let found = table.nearest(to: query, limit: 100, within: cut)
        #expect(found == Array(all.prefix { $0.distance <= cut }))
    }

    @Test func theFileKeepsEveryRowAndReference() throws {
        var (table, _) = Self.randomTable(rows: 333, seed: 3)
        table.stamp = .init(faces: 333, logPosition: 300)
        let scratch = ScratchDirectory()
        let path = scratch.appending("t.f32")
        defer { scratch.remove() }
        try FaceTableFile.write(table, to: path)
        let read = try #require(FaceTableFile.read(path))
        #expect(read.stamp == table.stamp)
        #expect(read.references == table.references)
        #expect(read.components == table.components)
        // A truncated file is no table.
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 5).write(to: URL(fileURLWithPath: path))
        #expect(FaceTableFile.read(path) == nil)
    }
}

@Suite(.timeLimit(.minutes(1)))
struct KnownPeopleTests {
    @Test func namesThePeopleWithinTheToleranceClosestFirst() {
        var alice = [Float](repeating: 0, count: 128)
        alice[0] = 0.5
        var bob = [Float](repeating: 0, count: 128)
        bob[1] = 0.3
        var alice2 = [Float](repeating: 0, count: 128)
        alice2[0] = 0.2
        let people = KnownPeople(
            faces: [
                KnownFace(person: "alice", encoding: alice), KnownFace(person: "bob", encoding: bob),
                KnownFace(person: "alice", encoding: alice2),
            ], tolerance: 0.6)
        let face = [Float](repeating: 0, count: 128)
        let matches = people.matches(for: face)
        // alice's closest picture (0.2) counts, once; bob at 0.3.
        #expect(matches.map(\.name) == ["alice", "bob"])
        #expect(abs(matches[0].distance - 0.2) < 1e-7)
        #expect(abs(matches[1].distance - 0.3) < 1e-7)
        var far = face
        far[5] = 0.7
        #expect(people.matches(for: far).isEmpty)
        #expect(KnownPeople(faces: [], tolerance: 0.6).matches(for: face).isEmpty)
    }
}
