import FaceCore
import FaceDaemon
import FaceLedger
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import FaceClient

/// `ledger export|import`: a copy holds every record as it was, the people and the labels (in the
/// face log's order), and the check catches a copy that differs.
@Suite(.timeLimit(.minutes(1)))
struct LedgerTransferTests {
    /// A root with known people, labelled results, a failure and a queued record that was tried.
    static func populatedRoot() throws -> (TestRoot, queued: UUID) {
        let root = try TestRoot()
        var rng = SeededGenerator(seed: 7)
        let alice = (0..<128).map { _ in Float(rng.uniform(-0.15, 0.15)) }
        try root.ledger.updateKnownPictures(
            upserting: [
                KnownPicture(path: "alice.jpg", person: "alice", size: 10, modified: 1, encoding: alice, problem: nil),
                KnownPicture(
                    path: "blank.jpg", person: "blank", size: 5, modified: 2, encoding: nil, problem: "no face"),
            ],
            removing: [], tolerance: 0.55)
        for i in 0..<12 { _ = try FaceSearchTests.complete(root, i % 3, &rng) }
        // Every result was labelled as it was written: the relabel to this generation is over.
        try root.ledger.storeLabels(
            [], progress: RelabelProgress(generation: 1, cursor: nil, visited: 12, finished: true))
        #expect(try !root.ledger.peopleState().isRelabelling)
        let failed = LedgerRecord(
            id: UUID(), source: SourceInfo(name: "broken.jpg", bytes: 3, sha256: String(repeating: "b", count: 64)),
            storePath: "store/b.jpg",
            createdAt: Date())
        try root.ledger.insertCreated(failed)
        try root.ledger.fail(failed.id, Failure(.notAnImage, "text"), completedAt: Date(), duration: 0.001)
        let queued = LedgerRecord(
            id: UUID(), source: SourceInfo(name: "later.jpg", bytes: 9, sha256: String(repeating: "c", count: 64)),
            storePath: "store/l.jpg",
            createdAt: Date())
        try root.ledger.insertCreated(queued)
        try root.ledger.beginAttempt(queued.id)
        return (root, queued.id)
    }

    @Test func aCopyHoldsEveryRecordThePeopleAndTheLabels() throws {
        let (root, queued) = try Self.populatedRoot()
        defer { root.directory.remove() }
        let target = root.directory.appending("copy")
        let copy = try LMDBLedger(directory: URL(fileURLWithPath: target, isDirectory: true))
        var progressed: [Int] = []
        let report = try LedgerTransfer.copy(from: root.ledger, to: copy) { progressed.append($0) }

        #expect(report.records == 14 && report.queued == 1 && report.knownPictures == 2)
        // Results with faces have labels (8 of the 12).
        #expect(report.labels == 8)
        #expect(report.sumDifference <= LedgerTransfer.sumTolerance)
        #expect(progressed == [14])
        #expect(try copy.stats().counts == root.ledger.stats().counts)
        #expect(try copy.queued(limit: 10) == [queued])
        #expect(try copy.record(queued)?.attempts == 1)
        let logged = try root.ledger.faceLogCount()
        #expect(try copy.faceLogCount() == logged)
        #expect(try copy.faceLog(from: 0, limit: 100) == root.ledger.faceLog(from: 0, limit: 100))
        #expect(try copy.personCounts() == root.ledger.personCounts())
        // The labels are current in the copy: no relabel is left to do.
        #expect(try !copy.peopleState().isRelabelling)
        #expect(try copy.peopleState().tolerance == 0.55)
    }

    @Test func aTargetThatHoldsRecordsIsRefused() throws {
        let (root, _) = try Self.populatedRoot()
        defer { root.directory.remove() }
        let copy = try LMDBLedger(directory: URL(fileURLWithPath: root.directory.appending("copy"), isDirectory: true))
        try LedgerTransfer.copy(from: root.ledger, to: copy)
        #expect {
            try LedgerTransfer.copy(from: root.ledger, to: copy)
        } throws: { error in
            (error as? ClientError)?.message.contains("already holds records") == true
        }
    }

    @Test func theCheckFindsACopyThatDiffers() throws {
        let (root, queued) = try Self.populatedRoot()
        defer { root.directory.remove() }
        let copy = try LMDBLedger(directory: URL(fileURLWithPath: root.directory.appending("copy"), isDirectory: true))
        try LedgerTransfer.copy(from: root.ledger, to: copy)
        // One record made final in the copy only: the counts differ.
        try copy.fail(queued, Failure(.notAnImage, "x"), completedAt: Date(), duration: 0)
        #expect {
            _ = try LedgerTransfer.verify(root.ledger, copy)
        } throws: { error in
            (error as? ClientError)?.message.contains("counts differ") == true
        }

        // Same counts, one record changed: found record by record.
        let other = try LMDBLedger(
            directory: URL(fileURLWithPath: root.directory.appending("other"), isDirectory: true))
        var records: [LedgerRecord] = []
        try root.ledger.forEachRecord { records.append($0) }
        let changed = try #require(records.firstIndex { $0.id == queued })
        records[changed].attempts += 1
        try other.importRecords(records)
        #expect {
            _ = try LedgerTransfer.verify(root.ledger, other)
        } throws: { error in
            (error as? ClientError)?.message.contains("record \(queued.lowercased) differs") == true
        }
    }
}

/// A root's LMDB ledger moved into PostgreSQL and back holds the same records, people and labels.
@Suite(
    .timeLimit(.minutes(2)),
    .enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster: `make test` starts one"))
struct PostgresLedgerTransferTests {
    @Test func lmdbToPostgresAndBackKeepsEverything() throws {
        let (root, queued) = try LedgerTransferTests.populatedRoot()
        defer { root.directory.remove() }
        let url = try #require(try TestPostgres.freshDatabase())
        let shared = try LedgerOpener.open(location: url)
        let out = try LedgerTransfer.copy(from: root.ledger, to: shared)
        #expect(out.records == 14 && out.queued == 1 && out.labels == 8 && out.knownPictures == 2)
        #expect(try shared.queued(limit: 10) == [queued])
        #expect(try shared.faceLog(from: 0, limit: 100) == root.ledger.faceLog(from: 0, limit: 100))
        #expect(try shared.personCounts() == root.ledger.personCounts())
        #expect(try shared.finalTallies() == root.ledger.finalTallies())

        let back = try LMDBLedger(directory: URL(fileURLWithPath: root.directory.appending("back"), isDirectory: true))
        let home = try LedgerTransfer.copy(from: shared, to: back)
        #expect(home == out)
        #expect(try LedgerTransfer.verify(root.ledger, back) <= LedgerTransfer.sumTolerance)
        #expect(try back.stats().counts == root.ledger.stats().counts)
        #expect(try !back.peopleState().isRelabelling)
    }
}
