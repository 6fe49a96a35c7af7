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

    /// Forgets two of the populated root's results (one with faces, its labels and counts per person
    /// included), leaving one tombstone's files pending; returns their tombstones.
    static func forgetTwo(_ root: TestRoot) throws -> [Tombstone] {
        var withFaces: [UUID] = []
        var without: [UUID] = []
        try root.ledger.forEachRecord { record in
            guard record.status == .completed else { return }
            if record.faces.isEmpty { without.append(record.id) } else { withFaces.append(record.id) }
        }
        let at = Date(timeIntervalSinceReferenceDate: 800_000_000.25)
        let first = try root.ledger.forget(try #require(withFaces.first), reason: "test: with faces", at: at)
        let second = try root.ledger.forget(try #require(without.first), reason: "test: no face", at: at)
        try root.ledger.forgottenFilesRemoved([second.id])
        return [first, try #require(try root.ledger.tombstone(second.id))]
    }

    @Test func tombstonesAreCopiedSoAForgottenImageStaysForgotten() throws {
        let (root, _) = try Self.populatedRoot()
        defer { root.directory.remove() }
        let forgotten = try Self.forgetTwo(root)
        #expect(forgotten.map(\.filesPending) == [true, false])
        let copy = try LMDBLedger(directory: URL(fileURLWithPath: root.directory.appending("copy"), isDirectory: true))
        let report = try LedgerTransfer.copy(from: root.ledger, to: copy)
        #expect(report.records == 12 && report.tombstones == 2)
        for tombstone in forgotten {
            #expect(try copy.tombstone(tombstone.id) == tombstone)
            #expect(try copy.record(tombstone.id) == nil)
        }
        #expect(try copy.tombstonesWithFiles(limit: 10).map(\.id) == [forgotten[0].id])
        #expect(
            try copy.stats().counts == root.ledger.stats().counts && copy.stats().faces == root.ledger.stats().faces)
        #expect(try copy.personCounts() == root.ledger.personCounts())
        // Resumed or repeated, the import leaves a tombstone it has as it is; a record is never
        // turned into a tombstone by an import.
        try copy.importTombstones(forgotten)
        #expect(try copy.tombstones(after: nil, limit: 10) == root.ledger.tombstones(after: nil, limit: 10))
        var kept: UUID?
        try copy.forEachID { kept = $0 }
        var impostor = forgotten[0]
        impostor.id = try #require(kept)
        #expect(throws: LedgerError.self) { try copy.importTombstones([impostor]) }
        // A tombstone missing from a copy is a difference the check names.
        let other = try LMDBLedger(
            directory: URL(fileURLWithPath: root.directory.appending("other"), isDirectory: true))
        var records: [LedgerRecord] = []
        try root.ledger.forEachRecord { records.append($0) }
        try other.importRecords(records)
        try other.importTombstones([forgotten[1]])
        #expect {
            _ = try LedgerTransfer.verify(root.ledger, other)
        } throws: { error in
            (error as? ClientError)?.message.contains("tombstone of \(forgotten[0].id.lowercased)") == true
        }
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

    @Test func tombstonesGoToPostgresAndBack() throws {
        let (root, _) = try LedgerTransferTests.populatedRoot()
        defer { root.directory.remove() }
        let forgotten = try LedgerTransferTests.forgetTwo(root)
        let url = try #require(try TestPostgres.freshDatabase())
        let shared = try LedgerOpener.open(location: url)
        let out = try LedgerTransfer.copy(from: root.ledger, to: shared)
        #expect(out.tombstones == 2)
        for tombstone in forgotten { #expect(try shared.tombstone(tombstone.id) == tombstone) }
        #expect(try shared.tombstonesWithFiles(limit: 10).map(\.id) == [forgotten[0].id])
        #expect(try shared.stats().counts == root.ledger.stats().counts)
        let back = try LMDBLedger(directory: URL(fileURLWithPath: root.directory.appending("back"), isDirectory: true))
        let home = try LedgerTransfer.copy(from: shared, to: back)
        #expect(home.tombstones == 2)
        #expect(try back.tombstones(after: nil, limit: 10) == root.ledger.tombstones(after: nil, limit: 10))
        for tombstone in forgotten { #expect(try back.record(tombstone.id) == nil) }
    }
}
