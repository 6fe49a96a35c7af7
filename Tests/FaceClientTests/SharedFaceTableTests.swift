import FaceCore
import FaceDaemon
import FaceLedger
import FaceMatch
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import FaceClient

/// `facewatch match` on a PostgreSQL ledger keeps its face table in this host's cache directory
/// and brings it up to date from the face log: new results are added, forgotten ones leave the table
/// and its file (a forgotten face kept in a cache would be a privacy bug), even when as many faces
/// were added as were forgotten.
@Suite(
    .timeLimit(.minutes(2)),
    .enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster: `make test` starts one"))
struct SharedFaceTableTests {
    /// Completes a record with `faces` random faces in `ledger` and, when `labelled`, writes its
    /// document through a labeller, as the daemon does (which stores its labels and logs it).
    static func complete(
        _ ledger: any Ledger, results: String, _ faces: Int, _ rng: inout SeededGenerator, labelled: Bool = true
    ) throws -> LedgerRecord {
        let id = UUID()
        let record = LedgerRecord(
            id: id,
            source: SourceInfo(
                name: "p\(id.uuidString.prefix(4)).jpg", bytes: 10, sha256: String(repeating: "b", count: 64)),
            storePath: "store/x/\(id).jpg", createdAt: Date())
        try ledger.insertCreated(record)
        let made = (0..<faces).map { i in
            Face(
                location: FaceLocation(top: i, right: i + 10, bottom: i + 10, left: i),
                encoding: (0..<128).map { _ in rng.uniform(-0.15, 0.15) })
        }
        let final = try ledger.complete(
            id, image: ImageInfo(format: .jpeg, width: 100, height: 100), faces: made, completedAt: Date(), duration: 0)
        if labelled {
            let writer = ResultsWriter(
                directory: results, labeller: ResultLabeller(ledger: ledger, defaultTolerance: 0.6))
            try writer.write(final)
        }
        return final
    }

    /// Whether the bytes of the cached file hold `encoding` (as float32, little-endian).
    static func file(_ path: String, holds encoding: [Float]) throws -> Bool {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let needle = encoding.withUnsafeBytes { Data($0) }
        return bytes.range(of: needle) != nil
    }

    @Test func theCacheIsCaughtUpAndForgetsWhatIsForgotten() throws {
        let url = try #require(try TestPostgres.freshDatabase())
        let ledger = try LedgerOpener.open(location: url)
        let directory = ScratchDirectory()
        defer { directory.remove() }
        let results = directory.appending("results")
        let cache = directory.appending("cache")
        try FileManager.default.createDirectory(atPath: results, withIntermediateDirectories: true)
        var rng = SeededGenerator(seed: 24)
        var records: [LedgerRecord] = []
        for i in 0..<12 { records.append(try Self.complete(ledger, results: results, 1 + i % 2, &rng)) }
        // One whose labels are not stored yet: in the table through the rebuild, not through the log.
        let unlabelled = try Self.complete(ledger, results: results, 1, &rng, labelled: false)

        let first = try FaceSearch(sharedLedger: ledger, cacheDirectory: cache)
        #expect(first.freshness == .rebuilt && first.table.count == 18 + 1)
        let path = FaceTableFile.cachePath(directory: cache, ledger: ledger.location)
        #expect(FaceTableFile.read(path)?.count == 19)
        #expect(try FaceSearch(sharedLedger: ledger, cacheDirectory: cache).freshness == .current)

        for _ in 0..<3 { records.append(try Self.complete(ledger, results: results, 2, &rng)) }
        let caughtUp = try FaceSearch(sharedLedger: ledger, cacheDirectory: cache)
        #expect(caughtUp.freshness == .caughtUp && caughtUp.table.count == 19 + 6)
        #expect(try FaceSearch(sharedLedger: ledger, cacheDirectory: cache).freshness == .current)

        // As many faces forgotten as added (counts alone would call the table current): the two
        // forgotten results leave the table and the file; the new one enters.
        let forgotten = [records[0], unlabelled]  // 1 face each
        for record in forgotten { try ledger.forget(record.id, reason: "test", at: Date()) }
        let added = try Self.complete(ledger, results: results, 2, &rng)
        #expect(try ledger.stats().faces == 19 + 6)
        let after = try FaceSearch(sharedLedger: ledger, cacheDirectory: cache)
        #expect(after.freshness == .caughtUp && after.table.count == 19 + 6)
        let ids = Set(after.table.references.map(\.id))
        #expect(ids.contains(added.id) && !ids.contains(records[0].id) && !ids.contains(unlabelled.id))
        let saved = try #require(FaceTableFile.read(path))
        #expect(Set(saved.references.map(\.id)) == ids)
        for record in forgotten {
            #expect(try !Self.file(path, holds: record.faces[0].encoding))
            let hits = try after.closest(to: record.faces[0].encoding, limit: 3)
            #expect(!hits.contains { $0.id == record.id } && hits.first.map { $0.distance > 0 } == true)
        }
        // The others are still found exactly.
        let kept = records[1]
        #expect(try after.closest(to: kept.faces[0].encoding, limit: 1).first?.id == kept.id)
        #expect(try FaceSearch(sharedLedger: ledger, cacheDirectory: cache).freshness == .current)
    }

    @Test func aForgetOnThisHostRemovesTheCachedTables() throws {
        let directory = ScratchDirectory()
        defer { directory.remove() }
        let cache = directory.appending("cache")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let path = FaceTableFile.cachePath(directory: cache, ledger: "postgres://db.example/facewatch")
        var table = FaceTable()
        table.append([Float](repeating: 0.1, count: 128), reference: .init(id: UUID(), face: 0))
        try FaceTableFile.write(table, to: path)
        #expect(FaceTableFile.read(path) != nil)
        #expect(FaceTableFile.removeCached(in: cache) == nil)
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
