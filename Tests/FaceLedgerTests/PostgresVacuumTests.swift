import FaceCore
import FaceLedgerPostgres
import FaceTestSupport
import Foundation
import Testing

@testable import FaceLedger

/// What `ledger compact` does on PostgreSQL, seen in the cluster's files: before VACUUM FULL a
/// forgotten record's encoding is still in the table files (a dead tuple), after it in none; the
/// write-ahead log still holds it (docs/forget.md says so).
@Suite(.timeLimit(.minutes(5)))
struct PostgresVacuumTests {
    /// The contents of every file under `directory`, read once for all the searches.
    static func contents(under directory: String) -> [Data] {
        (FileManager.default.subpaths(atPath: directory) ?? []).compactMap {
            FileManager.default.contents(atPath: directory + "/" + $0)
        }
    }

    /// The database directories under `base` changed since `since` (this test's database among
    /// them; the cluster holds every other test's too).
    static func contents(ofDatabasesUnder base: String, changedSince since: Date) -> [Data] {
        let fresh = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { name in
            let date =
                (try? FileManager.default.attributesOfItem(atPath: base + "/" + name))?[.modificationDate] as? Date
            return (date ?? .distantPast) >= since
        }
        return fresh.flatMap { contents(under: base + "/" + $0) }
    }

    static func holds(_ files: [Data], _ bytes: Data) -> Bool { files.contains { $0.range(of: bytes) != nil } }

    @Test func vacuumFullLeavesNoForgottenEncodingInTheTableFiles() throws {
        guard let socket = TestPostgres.socketDirectory, let url = try TestPostgres.freshDatabase() else { return }
        let data = (socket as NSString).deletingLastPathComponent + "/data"
        let started = Date().addingTimeInterval(-2)
        let ledger = try PostgresLedger(location: PostgresLocation(url: url), options: .init(owner: "test:/vacuum"))
        var rng = SeededGenerator(seed: 24)
        let records = (0..<40).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) }
        try ledger.insertCreated(records)
        var forgotten: [Data] = []
        var kept: [Data] = []
        for (index, record) in records.enumerated() {
            let face = Fixtures.face(&rng)
            try ledger.complete(
                record.id, image: Fixtures.jpeg, faces: [face], completedAt: Fixtures.base, duration: 0.1)
            let bytes = Data(
                face.encoding.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } })
            if index % 2 == 0 {
                try ledger.forget(record.id, reason: "test", at: Date())
                forgotten.append(bytes)
            } else {
                kept.append(bytes)
            }
        }
        try TestPostgres.psql(socket: socket, "CHECKPOINT")
        let before = Self.contents(ofDatabasesUnder: data + "/base", changedSince: started)
        #expect(forgotten.contains { Self.holds(before, $0) }, "no dead tuple on disk")

        try ledger.vacuumFull()
        try TestPostgres.psql(socket: socket, "CHECKPOINT")
        let after = Self.contents(ofDatabasesUnder: data + "/base", changedSince: started)
        for bytes in forgotten { #expect(!Self.holds(after, bytes)) }
        for bytes in kept.prefix(3) { #expect(Self.holds(after, bytes)) }
        // The write-ahead log is not a table file: it keeps the inserts until its segments are recycled.
        let wal = Self.contents(under: data + "/pg_wal")
        #expect(forgotten.contains { Self.holds(wal, $0) })
        #expect(try ledger.stats().counts[.completed] == 20)
    }
}
