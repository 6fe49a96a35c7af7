import FaceCore
import FaceTestSupport
import Foundation
import Synchronization
import Testing

@testable import FaceLedger
@testable import FaceLedgerPostgres

/// The claim and the final commit sent as one statement from what this process read or wrote
/// before: when the rows changed meanwhile, the outcome is the one the transaction reading them
/// would have had.
@Suite(.timeLimit(.minutes(2)))
struct PostgresOneStatementTests {
    /// The database name of a test URL (`postgres://user@/NAME?host=…`).
    static func database(_ url: String) -> String {
        let path = url.components(separatedBy: "@/").last ?? ""
        return String(path.split(separator: "?").first ?? "")
    }

    @Test func aClaimCountsTheAttemptsMadeSinceTheRecordWasReadAndYieldsToAHolder() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let hostA = try PostgresLedgerTests.open(url, owner: "a")
        let hostB = try PostgresLedgerTests.open(url, owner: "b")
        let (x, y) = (Fixtures.record(), Fixtures.record())
        try hostA.insertCreated([x, y])
        let runA = try hostA.beginRun(previousDiedOfFault: false)
        let runB = try hostB.beginRun(previousDiedOfFault: false)
        // A reads both records as its pipeline does before claiming; B claims both meanwhile.
        #expect(try hostA.record(x.id)?.attempts == 0)
        #expect(try hostA.record(y.id)?.attempts == 0)
        #expect(try hostB.beginAttempt(x.id, incarnation: runB.incarnation, solo: false) == 1)
        #expect(try hostB.beginAttempt(y.id, incarnation: runB.incarnation, solo: false) == 1)
        do throws(LedgerError) {
            _ = try hostA.beginAttempt(y.id, incarnation: runA.incarnation, solo: false)
            Issue.record("A claimed a record B holds")
        } catch {
            #expect(error.code == .invalidTransition)
        }
        // B lets x go: A's claim counts B's attempt, not only the one A read.
        try hostB.endRun(runB.incarnation)
        #expect(try hostA.beginAttempt(x.id, incarnation: runA.incarnation, solo: false) == 2)
        #expect(try hostA.record(x.id)?.attempts == 2)
    }

    @Test func aFinalCommitAddsToTheCountersAsTheyAreNotAsThisProcessLastWroteThem() throws {
        guard let url = try TestPostgres.freshDatabase(), let socket = TestPostgres.socketDirectory else { return }
        let ledger = try PostgresLedgerTests.open(url, owner: "a")
        let records = (0..<3).map { _ in Fixtures.record() }
        try ledger.insertCreated(records)
        let run = try ledger.beginRun(previousDiedOfFault: false)
        // A seed of its own: another suite looks for its encodings' bytes in every database's files.
        var rng = SeededGenerator(seed: 0x6f6e_6524)
        for record in records.prefix(2) {
            _ = try ledger.record(record.id)
            _ = try ledger.beginAttempt(record.id, incarnation: run.incarnation, solo: false)
            _ = try ledger.complete(
                record.id, image: Fixtures.jpeg, faces: Fixtures.faces(2, &rng), completedAt: Fixtures.base,
                duration: 0.5)
        }
        // Another writer (an operator, another process of this owner) changes every counters part.
        try TestPostgres.psql(
            socket: socket, database: Self.database(url),
            "UPDATE counter_parts SET failed = failed + 7, faces = faces + 1")
        let before = try ledger.stats()
        #expect(before.counts[.failed] == 7 * (Int(try Self.parts(socket, url)) ?? 0))
        let last = records[2]
        _ = try ledger.record(last.id)
        _ = try ledger.beginAttempt(last.id, incarnation: run.incarnation, solo: false)
        _ = try ledger.complete(
            last.id, image: Fixtures.jpeg, faces: Fixtures.faces(3, &rng), completedAt: Fixtures.base, duration: 0.5)
        let after = try ledger.stats()
        #expect(after.counts[.failed] == before.counts[.failed])
        #expect(after.counts[.completed] == 3)
        #expect(after.counts[.created] == 0)
        #expect(after.faces == before.faces + 3)
    }

    /// The queue's read brings each record's body, and the dedup lookup goes with the claim: a
    /// completed twin lends its result and nothing is claimed; without one the claim counts; a
    /// record another daemon claimed after the queue's read is refused as before.
    @Test func theClaimAfterTheQueuesReadLooksForATwinAndYieldsToAHolder() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let hostA = try PostgresLedgerTests.open(url, owner: "a")
        let hostB = try PostgresLedgerTests.open(url, owner: "b")
        let twinSHA = String(repeating: "ab", count: 32)
        let twin = Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(-60), sha256: twinSHA)
        let (x, y, z) = (
            Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(1)),
            Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(2)),
            Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(3))
        )
        try hostA.insertCreated([twin, x, y, z])
        let runA = try hostA.beginRun(previousDiedOfFault: false)
        let runB = try hostB.beginRun(previousDiedOfFault: false)
        var rng = SeededGenerator(seed: 0x7477_696e)
        let faces = Fixtures.faces(2, &rng)
        _ = try hostA.beginAttempt(twin.id, incarnation: runA.incarnation, solo: false)
        _ = try hostA.complete(twin.id, image: Fixtures.jpeg, faces: faces, completedAt: Fixtures.base, duration: 0.5)

        let queue = try hostA.queuedRecords(limit: 10)
        #expect(queue.map(\.id) == [x.id, y.id, z.id])
        #expect(queue.allSatisfy { $0.record?.id == $0.id && $0.record?.status == .created })
        let lent = try hostA.claimUnlessDuplicate(
            x.id, sha256: twinSHA, dedup: true, incarnation: runA.incarnation, solo: false)
        #expect(lent == .duplicate(image: Fixtures.jpeg, faces: faces))
        #expect(try hostA.record(x.id)?.attempts == 0, "a lent result claims nothing")
        let other = String(repeating: "cd", count: 32)
        #expect(
            try hostA.claimUnlessDuplicate(y.id, sha256: other, dedup: true, incarnation: runA.incarnation, solo: false)
                == .claimed(attempt: 1))
        #expect(try hostA.record(y.id)?.attempts == 1)
        // Without dedup the twin is not looked for.
        #expect(
            try hostA.claimUnlessDuplicate(
                x.id, sha256: twinSHA, dedup: false, incarnation: runA.incarnation, solo: false) == .claimed(attempt: 1)
        )
        // B claims z after A's queue read: A's claim is refused, and the record keeps B's count.
        #expect(try hostB.beginAttempt(z.id, incarnation: runB.incarnation, solo: false) == 1)
        do throws(LedgerError) {
            _ = try hostA.claimUnlessDuplicate(
                z.id, sha256: other, dedup: true, incarnation: runA.incarnation, solo: false)
            Issue.record("A claimed a record B holds")
        } catch {
            #expect(error.code == .invalidTransition)
        }
        #expect(try hostA.record(z.id)?.attempts == 1)
    }

    /// A record this process has just inserted is claimed and made final without a transaction:
    /// the intake hands it to the pipeline without the queue's read, so its body comes from the
    /// insert. With dedup the claim looks for a twin in the same statement.
    @Test func aRecordJustInsertedIsClaimedAndMadeFinalInOneStatementEach() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let ledger = try PostgresLedgerTests.open(url, owner: "a")
        let run = try ledger.beginRun(previousDiedOfFault: false)
        let (x, y) = (Fixtures.record(), Fixtures.record())
        try ledger.insertCreated([x])
        try ledger.insertCreated([y])
        let begun = ledger.transactionsBegun.load(ordering: .relaxed)
        #expect(try ledger.beginAttempt(x.id, incarnation: run.incarnation, solo: false) == 1)
        let sha = String(repeating: "ef", count: 32)
        #expect(
            try ledger.claimUnlessDuplicate(y.id, sha256: sha, dedup: true, incarnation: run.incarnation, solo: false)
                == .claimed(attempt: 1))
        var rng = SeededGenerator(seed: 0x6f6e_6365)
        for id in [x.id, y.id] {
            _ = try ledger.complete(
                id, image: Fixtures.jpeg, faces: Fixtures.faces(1, &rng), completedAt: Fixtures.base, duration: 0.5)
        }
        #expect(ledger.transactionsBegun.load(ordering: .relaxed) == begun)
        #expect(try ledger.record(x.id)?.status == .completed)
        #expect(try ledger.record(y.id)?.attempts == 1)
        #expect(try ledger.stats().counts[.completed] == 2)
    }

    /// The intake's records go in with their intents dropped and the counters counting them, in
    /// one statement while this connection knows its counters part; a part another writer changed
    /// still adds up; a batch with an id that exists inserts nothing and keeps its intents.
    @Test func newRecordsAreCountedWithTheirIntentsDroppedAndABatchWithAnExistingIDChangesNothing() throws {
        guard let url = try TestPostgres.freshDatabase(), let socket = TestPostgres.socketDirectory else { return }
        let ledger = try PostgresLedgerTests.open(url, owner: "a")
        _ = try ledger.beginRun(previousDiedOfFault: false)
        let first = Fixtures.record()
        try ledger.insertCreated([first])  // reads the connection's counters part
        let (b, c) = (Fixtures.record(), Fixtures.record())
        try ledger.recordIntents(
            [b, c].map { IntakeIntent(id: $0.id, name: $0.source.name, bytes: 1, takenAt: Fixtures.base) })
        try ledger.insertCreated([b, c])
        #expect(try ledger.intents().isEmpty)
        #expect(try [first, b, c].allSatisfy { try ledger.record($0.id)?.status == .created })
        #expect(try ledger.stats().counts[.created] == 3)

        // Another writer changes every counters part: the counts still add up.
        try TestPostgres.psql(
            socket: socket, database: Self.database(url), "UPDATE counter_parts SET failed = failed + 7")
        let parts = Int(try Self.parts(socket, url)) ?? 0
        try ledger.insertCreated([Fixtures.record()])
        #expect(try ledger.stats().counts[.created] == 4)
        #expect(try ledger.stats().counts[.failed] == 7 * parts)

        // An id that exists (the part known again, so the one statement tries first): nothing of
        // the batch is inserted, its intents stay, and the next batch is counted.
        let fresh = Fixtures.record()
        try ledger.recordIntents([IntakeIntent(id: fresh.id, name: "x.jpg", bytes: 1, takenAt: Fixtures.base)])
        do throws(LedgerError) {
            try ledger.insertCreated([fresh, b])
            Issue.record("a batch with an existing id was inserted")
        } catch {
            #expect(error.code == .alreadyExists)
        }
        #expect(try ledger.record(fresh.id) == nil)
        #expect(try ledger.intents()[fresh.id] != nil)
        #expect(try ledger.stats().counts[.created] == 4)
        try ledger.insertCreated([fresh])
        #expect(try ledger.intents().isEmpty)
        #expect(try ledger.stats().counts[.created] == 5)
    }

    static func parts(_ socket: String, _ url: String) throws -> String {
        try TestPostgres.query(socket: socket, database: database(url), "SELECT count(*) FROM counter_parts")
    }
}
