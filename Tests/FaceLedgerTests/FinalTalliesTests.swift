import CLMDB
import FaceCore
import FaceTestSupport
import Foundation
import Testing
@testable import FaceLedger

/// Failures by code and engine runs kept in `meta` (schema 2): updated by each final transition,
/// equal to a recount from the records, and made by the migration from schema 1.
@Suite(.timeLimit(.minutes(2))) struct FinalTalliesTests {
    /// A ledger with completed, failed (two codes), deduplicated (no engine run) and created records.
    static func populate(_ ledger: LMDBLedger) throws {
        var rng = SeededGenerator(seed: 9)
        let records = (0..<12).map { n in Fixtures.record(createdAt: Fixtures.base + Double(n)) }
        try ledger.insertCreated(records)
        for (n, record) in records.enumerated() {
            let now = Fixtures.base + 100
            switch n % 4 {
            case 0:
                try ledger.complete(
                    record.id, image: Fixtures.jpeg, faces: Fixtures.faces(1, &rng), completedAt: now,
                    duration: 0.3 * Double(n + 1))
            case 1:
                try ledger.fail(record.id, Failure(.corruptImage, "bad"), completedAt: now, duration: 0.02)
            case 2:
                try ledger.fail(record.id, Failure(.crashed, "took the daemon down"), completedAt: now, duration: 0)
            default:
                break  // still created
            }
        }
    }

    @Test func eachFinalTransitionUpdatesTheTallies() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        #expect(try ledger.finalTallies() == FinalTallies())
        try Self.populate(ledger)
        let tallies = try ledger.finalTallies()
        #expect(tallies.failedByCode == [.corruptImage: 3, .crashed: 3])
        // Completed (3) and corrupt (3) records ran the engine; the crashed ones did not.
        #expect(tallies.engineRuns == 6)
        #expect(abs(tallies.engineSeconds - (0.3 * (1 + 5 + 9) + 3 * 0.02)) < 1e-9)
        #expect(tallies.buckets.map(\.count).reduce(0, +) == 6)
        #expect(tallies.buckets[EngineTimeBuckets.bounds.firstIndex(of: 0.025)!].count == 3)
        let check = try ledger.finalTalliesCheck()
        #expect(Self.agree(check.stored, check.recomputed), "\(check)")
    }

    /// Equal counts, and sums equal up to the order they were added in.
    static func agree(_ a: FinalTallies, _ b: FinalTallies) -> Bool {
        a.failedByCode == b.failedByCode && a.engineRuns == b.engineRuns
            && abs(a.engineSeconds - b.engineSeconds) < 1e-9 && a.buckets.map(\.count) == b.buckets.map(\.count)
            && zip(a.buckets, b.buckets).allSatisfy { abs($0.seconds - $1.seconds) < 1e-9 }
    }

    @Test func aVersion1LedgerGetsItsTalliesWhenOpened() throws {
        let dir = TemporaryDirectory()
        var expected = FinalTallies()
        do {
            let ledger = try LMDBLedger(directory: dir.db)
            try Self.populate(ledger)
            expected = try ledger.finalTallies()
        }
        // Make it a schema-1 database: no tallies, version 1.
        Self.removeMetaKey(at: dir.db, "final_tallies")
        _ = EnvironmentTests.setSchemaVersion(at: dir.db, 1)
        let refused = try? LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: true))
        #expect(refused == nil)
        let ledger = try LMDBLedger(directory: dir.db)
        #expect(try ledger.storedSchemaVersion() == 2)
        #expect(Self.agree(try ledger.finalTallies(), expected))
    }

    static func removeMetaKey(at dir: URL, _ name: String) {
        var env: OpaquePointer?
        #expect(mdb_env_create(&env) == 0)
        defer { mdb_env_close(env) }
        #expect(mdb_env_set_maxdbs(env, 8) == 0)
        #expect(mdb_env_open(env, dir.path, 0, 0o660) == 0)
        var txn: OpaquePointer?
        #expect(mdb_txn_begin(env, nil, 0, &txn) == 0)
        var dbi: MDB_dbi = 0
        #expect(mdb_dbi_open(txn, "meta", 0, &dbi) == 0)
        var key = Array(name.utf8)
        key.withUnsafeMutableBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
            #expect(mdb_del(txn, dbi, &kv, nil) == 0)
        }
        #expect(mdb_txn_commit(txn) == 0)
    }
}

extension FinalTalliesTests {
    @Test func importedFinalRecordsCountAsIfMadeFinalHere() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        var rng = SeededGenerator(seed: 4)
        var records: [LedgerRecord] = []
        for n in 0..<20 {
            var record = Fixtures.record(createdAt: Fixtures.base + Double(n))
            record.completedAt = Fixtures.base + 1000
            record.attempts = 1
            if n % 2 == 0 {
                record.status = .completed
                record.image = Fixtures.jpeg
                record.faces = Fixtures.faces(2, &rng)
                record.duration = 0.2
            } else {
                record.status = .failed
                record.error = Failure(.notAnImage, "text")
                record.duration = 0.001
            }
            records.append(record)
        }
        try ledger.importRecords(records)
        #expect(try ledger.stats().counts == [.created: 0, .completed: 10, .failed: 10])
        let counters = try ledger.countersCheck()
        #expect(counters.stored == counters.recomputed)
        let tallies = try ledger.finalTalliesCheck()
        #expect(Self.agree(tallies.stored, tallies.recomputed), "\(tallies)")
        #expect(tallies.stored.failedByCode == [.notAnImage: 10] && tallies.stored.engineRuns == 20)
        #expect(try ledger.indexSizes() == (20, 20, 0, 10))
        #expect(throws: LedgerError.self) { try ledger.importRecords([records[0]]) }
    }
}

extension FinalTalliesTests {
    @Test func aGracefulEndWithEveryDocumentWrittenIsToldToTheNextStartOnly() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let first = try ledger.beginRun(previousDiedOfFault: false)
        #expect(!first.documentsComplete)
        try ledger.endRun(first.incarnation, documentsComplete: true)
        let second = try ledger.beginRun(previousDiedOfFault: false)
        #expect(second.documentsComplete && second.previousEndedCleanly == true)
        // The second run dies: the third start must check the documents again.
        let third = try ledger.beginRun(previousDiedOfFault: false)
        #expect(!third.documentsComplete && third.previousEndedCleanly == false)
        // A graceful end that owes documents says so too.
        try ledger.endRun(third.incarnation, documentsComplete: false)
        #expect(try !ledger.beginRun(previousDiedOfFault: false).documentsComplete)
    }
}

extension FinalTalliesTests {
    @Test func importedCreatedRecordsJoinTheQueueWithTheirAttempts() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        var waiting = Fixtures.record(createdAt: Fixtures.base)
        waiting.attempts = 2
        var finished = Fixtures.record(createdAt: Fixtures.base + 1)
        finished.status = .failed
        finished.error = Failure(.notAnImage, "text")
        finished.completedAt = Fixtures.base + 2
        finished.duration = 0.001
        try ledger.importRecords([waiting, finished])
        #expect(try ledger.queued(limit: 10) == [waiting.id])
        #expect(try ledger.record(waiting.id) == waiting)
        #expect(try ledger.stats().counts == [.created: 1, .completed: 0, .failed: 1])
        #expect(try ledger.finalTallies().failedByCode == [.notAnImage: 1])
        var dated = Fixtures.record(createdAt: Fixtures.base + 3)
        dated.completedAt = Fixtures.base + 4
        #expect(throws: LedgerError.self) { try ledger.importRecords([dated]) }
    }
}
