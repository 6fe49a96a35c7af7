import FaceCore
import Foundation
import Testing

@testable import FaceLedger

/// Crash attribution (`beginRun`, attempt markers, deaths, suspects) and intake intents.
@Suite(.timeLimit(.minutes(1)))
struct RunTests {
    @Test func runsAreNumberedAndAGracefulEndChargesNothing() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let record = Fixtures.record()
        try ledger.insertCreated(record)
        let first = try ledger.beginRun(previousDiedOfFault: true)
        #expect(first.incarnation == 1 && first.previousEndedCleanly == nil)
        try ledger.beginAttempt(record.id, incarnation: first.incarnation, solo: true)
        try ledger.endRun(first.incarnation)
        let second = try ledger.beginRun(previousDiedOfFault: true)
        #expect(second.incarnation == 2 && second.previousEndedCleanly == true)
        #expect(second.charged.isEmpty && second.suspects.isEmpty)
        #expect(try ledger.deaths(record.id) == Deaths())
        #expect(try ledger.suspects(limit: 10).isEmpty)
    }

    @Test func aDeathIsChargedOnlyToAFileThatRanAlone() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let alone = Fixtures.record()
        let beside = Fixtures.record()
        let other = Fixtures.record()
        try ledger.insertCreated([alone, beside, other])
        let run = try ledger.beginRun(previousDiedOfFault: true)
        try ledger.beginAttempt(alone.id, incarnation: run.incarnation, solo: true)
        try ledger.beginAttempt(beside.id, incarnation: run.incarnation, solo: false)
        // The process dies: no endRun. The next start settles.
        let next = try ledger.beginRun(previousDiedOfFault: true)
        #expect(next.previousEndedCleanly == false)
        #expect(next.charged == [alone.id])
        #expect(next.suspects == [beside.id])
        #expect(try ledger.deaths(alone.id) == Deaths(crashes: 1))
        #expect(try ledger.deaths(beside.id) == Deaths())
        #expect(Set(try ledger.suspects(limit: 10)) == [alone.id, beside.id])
        // Survives a reopen; a final record forgets it all.
        let reopened = try LMDBLedger(directory: dir.db)
        #expect(try reopened.deaths(alone.id).crashes == 1)
        try reopened.fail(alone.id, Failure(.corruptImage, "x"), completedAt: Date(), duration: 0)
        #expect(try reopened.deaths(alone.id) == Deaths())
        #expect(try reopened.suspects(limit: 10) == [beside.id])
        // Settled markers are gone: a later clean start charges nothing more.
        try reopened.endRun(next.incarnation)
        #expect(try reopened.beginRun(previousDiedOfFault: true).charged.isEmpty)
    }

    @Test func aKillFromOutsideIsChargedAsAKillNotACrash() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let record = Fixtures.record()
        try ledger.insertCreated(record)
        for _ in 0..<2 {
            let run = try ledger.beginRun(previousDiedOfFault: false)
            try ledger.beginAttempt(record.id, incarnation: run.incarnation, solo: true)
        }
        #expect(try ledger.beginRun(previousDiedOfFault: false).charged == [record.id])
        #expect(try ledger.deaths(record.id) == Deaths(crashes: 0, kills: 2))
    }

    @Test func theFirstRunTreatsEarlierAttemptsAsSuspects() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let tried = Fixtures.record()
        let fresh = Fixtures.record()
        try ledger.insertCreated([tried, fresh])
        try ledger.beginAttempt(tried.id)  // by a build without runs
        let run = try ledger.beginRun(previousDiedOfFault: true)
        #expect(run.previousEndedCleanly == nil)
        #expect(run.suspects == [tried.id])
        #expect(try ledger.suspects(limit: 10) == [tried.id])
    }

    @Test func intentsAreRemovedWithTheRecordThatUsesThem() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let record = Fixtures.record()
        let now = Date(timeIntervalSinceReferenceDate: 1000.5)
        let lost = IntakeIntent(id: UUID(), name: "party/b.jpg", bytes: 7, takenAt: now)
        try ledger.recordIntents([
            IntakeIntent(id: record.id, name: "party/a.jpg", bytes: 5, takenAt: now), lost,
        ])
        #expect(try ledger.intents()[record.id]?.name == "party/a.jpg")
        try ledger.insertCreated(record)
        #expect(try ledger.intents() == [lost.id: lost])
        try ledger.dropIntents([lost.id])
        #expect(try ledger.intents().isEmpty)
    }
}
