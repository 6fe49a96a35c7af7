import FaceCore
import FaceDaemon
import FaceLedger
import FaceMatch
import FaceTestSupport
import Foundation
import Testing

@testable import FaceClient

/// The face table stays in step with the ledger: used as it is, caught up from the face log, or
/// rebuilt; and the search over it ranks as brute force does.
@Suite(.timeLimit(.minutes(1)))
struct FaceSearchTests {
    /// Completes a record with `faces` random faces and writes its document through a labeller, as
    /// the daemon does (which stores its labels and logs it).
    static func complete(_ root: TestRoot, _ faces: Int, _ rng: inout SeededGenerator, labelled: Bool = true) throws
        -> LedgerRecord
    {
        let id = UUID()
        let record = LedgerRecord(
            id: id,
            source: SourceInfo(
                name: "p\(id.uuidString.prefix(4)).jpg", bytes: 10, sha256: String(repeating: "a", count: 64)),
            storePath: "store/x/\(id).jpg", createdAt: Date())
        try root.ledger.insertCreated(record)
        let made = (0..<faces).map { i in
            Face(
                location: FaceLocation(top: i, right: i + 10, bottom: i + 10, left: i),
                encoding: (0..<128).map { _ in rng.uniform(-0.15, 0.15) })
        }
        let final = try root.ledger.complete(
            id, image: ImageInfo(format: .jpeg, width: 100, height: 100), faces: made, completedAt: Date(), duration: 0)
        if labelled {
            let writer = ResultsWriter(
                directory: root.directory.appending("results"),
                labeller: ResultLabeller(ledger: root.ledger, defaultTolerance: 0.6))
            try writer.write(final)
        }
        return final
    }

    @Test func theTableIsCurrentCaughtUpOrRebuilt() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        var rng = SeededGenerator(seed: 21)
        var records: [LedgerRecord] = []
        for i in 0..<20 { records.append(try Self.complete(root, i % 3, &rng)) }
        let database = root.directory.appending("db")
        let first = try FaceSearch(ledger: root.ledger, database: database)
        #expect(first.freshness == .rebuilt && first.table.count == 19)
        #expect(try FaceSearch(ledger: root.ledger, database: database).freshness == .current)

        for i in 0..<5 { records.append(try Self.complete(root, 1 + i % 2, &rng)) }
        let caughtUp = try FaceSearch(ledger: root.ledger, database: database)
        #expect(caughtUp.freshness == .caughtUp && caughtUp.table.count == 19 + 7)
        #expect(try FaceSearch(ledger: root.ledger, database: database).freshness == .current)

        // A result the log does not list (no labels stored): the catch-up cannot account for it.
        records.append(try Self.complete(root, 2, &rng, labelled: false))
        let rebuilt = try FaceSearch(ledger: root.ledger, database: database)
        #expect(rebuilt.freshness == .rebuilt && rebuilt.table.count == 19 + 7 + 2)

        // Every face is found, with its result, source and box, at the exact distance.
        let all = records.flatMap { record in record.faces.enumerated().map { (record, $0.offset, $0.element) } }
        for (record, index, face) in all.prefix(6) {
            let hits = try rebuilt.closest(to: face.encoding, limit: 3)
            #expect(hits.first?.id == record.id && hits.first?.face == index && hits.first?.distance == 0)
            #expect(hits.first?.source == record.source.name && hits.first?.location == face.location)
            let expected = all.map { FaceDistance.euclidean($0.2.encoding, face.encoding) }.sorted().prefix(3)
            #expect(hits.map(\.distance) == Array(expected))
            // Excluding the result leaves out all of its faces.
            let others = try rebuilt.closest(to: face.encoding, limit: 50, excluding: record.id)
            #expect(others.count == all.count - record.faces.count && !others.contains { $0.id == record.id })
        }
    }
}
