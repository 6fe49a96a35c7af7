import FaceCore
import FaceLedgerPostgres
import FaceTestSupport
import Foundation
import Testing

@testable import FaceLedger

/// The ledger's behaviour, the same on both backends: LMDB, and PostgreSQL on the throwaway
/// cluster `make test` starts (these cases return at once when there is none: `swift test` alone).
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case lmdb, postgres

    var testDescription: String { rawValue }

    /// A fresh ledger, and what must live as long as it (the LMDB directory); nil when the backend
    /// is not available.
    func makeLedger(owner: String = "test-host:/root") throws -> (ledger: any Ledger, keep: AnyObject?)? {
        switch self {
        case .lmdb:
            let directory = TemporaryDirectory()
            return (try LMDBLedger(directory: directory.db), directory)
        case .postgres:
            guard let url = try TestPostgres.freshDatabase() else { return nil }
            return (try PostgresLedger(location: PostgresLocation(url: url), options: .init(owner: owner)), nil)
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct LedgerConformanceTests {
    @Test(arguments: Backend.allCases)
    func transitionsCountersAndTheEncodingSum(_ backend: Backend) throws {
        guard let (ledger, keep) = try backend.makeLedger() else { return }
        defer { withExtendedLifetime(keep) {} }
        var rng = SeededGenerator(seed: 7)
        let records = (0..<6).map {
            Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0)), sha256: Fixtures.sha($0))
        }
        try ledger.insertCreated(records)
        #expect(try ledger.queued(limit: 10) == records.map(\.id))
        #expect(try ledger.queued(limit: 2, after: records[1].id) == [records[2].id, records[3].id])
        // A batch with one existing id changes nothing.
        let fresh = Fixtures.record()
        #expect(throws: LedgerError.self) { try ledger.insertCreated([fresh, records[0]]) }
        #expect(try ledger.contains(fresh.id) == false)
        #expect(try ledger.stats().counts[.created] == 6)

        #expect(try ledger.beginAttempt(records[0].id) == 1)
        #expect(try ledger.beginAttempt(records[0].id) == 2)
        let faces = Fixtures.faces(3, &rng)
        let done = try ledger.complete(
            records[0].id, image: Fixtures.jpeg, faces: faces, completedAt: Fixtures.base.addingTimeInterval(60),
            duration: 0.3)
        #expect(done.status == .completed && done.attempts == 2 && done.faces == faces)
        #expect(try ledger.record(records[0].id) == done)
        let moreFaces = Fixtures.faces(2, &rng)
        try ledger.complete(
            records[1].id, image: Fixtures.jpeg, faces: moreFaces, completedAt: Fixtures.base.addingTimeInterval(61),
            duration: 1.5)
        try ledger.fail(
            records[2].id, Failure(.corruptImage, "bad"), completedAt: Fixtures.base.addingTimeInterval(62),
            duration: 0.01)
        try ledger.fail(records[3].id, Failure(.tooLarge, "big"), completedAt: Fixtures.base, duration: 0)

        let stats = try ledger.stats()
        #expect(stats.counts == [.created: 2, .completed: 2, .failed: 2] && stats.total == 6)
        #expect(stats.faces == 5 && stats.encodedFaces == 5)
        #expect(maxDifference(stats.average, bruteForceMean(faces + moreFaces)) < 1e-9)
        #expect(try ledger.queued(limit: 10) == [records[4].id, records[5].id])
        let tallies = try ledger.finalTallies()
        #expect(tallies.failedByCode == [.corruptImage: 1, .tooLarge: 1])
        #expect(tallies.engineRuns == 3)

        // Final records do not move again; unknown ids are not found.
        let again = errorCode {
            try ledger.fail(records[0].id, Failure(.corruptImage, "x"), completedAt: Date(), duration: 0)
        }
        #expect(again == .invalidTransition)
        #expect(errorCode { try ledger.beginAttempt(records[2].id) } == .invalidTransition)
        #expect(errorCode { try ledger.beginAttempt(UUID()) } == .notFound)

        // Dedup: the completed record with these bytes; failed ones are not.
        #expect(try ledger.completedRecord(sha256: Fixtures.sha(0))?.id == records[0].id)
        #expect(try ledger.completedRecord(sha256: Fixtures.sha(2)) == nil)
        #expect(try ledger.completedRecord(sha256: Fixtures.sha(4)) == nil)

        // Windows, paging and ids.
        var window: [UUID] = []
        try ledger.forEachRecord(
            createdFrom: Fixtures.base.addingTimeInterval(1), to: Fixtures.base.addingTimeInterval(3)
        ) {
            window.append($0.id)
        }
        #expect(window == [records[1].id, records[2].id])
        let windowAverage = try ledger.average(from: Fixtures.base, to: Fixtures.base.addingTimeInterval(1))
        #expect(windowAverage.faces == 3 && windowAverage.images == 1)
        #expect(maxDifference(windowAverage.mean, bruteForceMean(faces)) < 1e-9)
        #expect(try ledger.average().faces == 5)
        var ids: Set<UUID> = []
        try ledger.forEachID { ids.insert($0) }
        #expect(ids == Set(records.map(\.id)))
        let firstPage = try ledger.records(after: nil, limit: 4)
        let secondPage = try ledger.records(after: firstPage.records.last?.id, limit: 4)
        #expect(!firstPage.finished && secondPage.finished)
        #expect(Set((firstPage.records + secondPage.records).map(\.id)) == ids)

        // Imported records count as if made final here.
        let imported = LedgerRecord(
            id: UUID(), status: .failed, source: SourceInfo(name: "x.jpg", bytes: 1, sha256: Fixtures.sha(9)),
            storePath: "store/x.jpg", createdAt: Fixtures.base, completedAt: Fixtures.base, duration: 0.2,
            error: Failure(.corruptImage, "bad"))
        try ledger.importRecords([imported])
        #expect(try ledger.stats().counts[.failed] == 3)
        #expect(try ledger.finalTallies().failedByCode[.corruptImage] == 2)
    }

    @Test(arguments: Backend.allCases)
    func deathsAreChargedToFilesThatRanAloneAndOthersBecomeSuspects(_ backend: Backend) throws {
        guard let (ledger, keep) = try backend.makeLedger() else { return }
        defer { withExtendedLifetime(keep) {} }
        let (alone, beside, other) = (Fixtures.record(), Fixtures.record(), Fixtures.record())
        try ledger.insertCreated([alone, beside, other])
        let first = try ledger.beginRun(previousDiedOfFault: false)
        #expect(first.previousEndedCleanly == nil)
        try ledger.beginAttempt(alone.id, incarnation: first.incarnation, solo: true)
        try ledger.beginAttempt(beside.id, incarnation: first.incarnation, solo: false)
        // The process dies (no endRun); its next start settles, as a crash.
        let second = try ledger.beginRun(previousDiedOfFault: true)
        #expect(second.previousEndedCleanly == false && second.incarnation > first.incarnation)
        #expect(second.charged == [alone.id] && second.suspects == [beside.id])
        #expect(try ledger.deaths(alone.id) == Deaths(crashes: 1))
        #expect(try ledger.deaths(beside.id) == Deaths())
        #expect(Set(try ledger.suspects(limit: 10)) == [alone.id, beside.id])
        // Killed from outside this time.
        try ledger.beginAttempt(alone.id, incarnation: second.incarnation, solo: true)
        let third = try ledger.beginRun(previousDiedOfFault: false)
        #expect(third.charged == [alone.id])
        #expect(try ledger.deaths(alone.id) == Deaths(crashes: 1, kills: 1))
        // A withdrawn attempt and a graceful end charge nothing.
        try ledger.beginAttempt(other.id, incarnation: third.incarnation, solo: true)
        try ledger.withdrawAttempt(other.id)
        try ledger.beginAttempt(beside.id, incarnation: third.incarnation, solo: true)
        try ledger.endRun(third.incarnation, documentsComplete: true)
        let fourth = try ledger.beginRun(previousDiedOfFault: true)
        #expect(fourth.previousEndedCleanly == true && fourth.documentsComplete)
        #expect(fourth.charged.isEmpty && fourth.suspects.isEmpty)
        #expect(try ledger.deaths(other.id) == Deaths())
        // A final record forgets its deaths and suspicion.
        try ledger.fail(alone.id, Failure(.crashed, "x"), completedAt: Date(), duration: 0)
        #expect(try ledger.deaths(alone.id) == Deaths())
        #expect(try ledger.suspects(limit: 10) == [beside.id])
    }

    @Test(arguments: Backend.allCases)
    func intentsRefusalsAndFigures(_ backend: Backend) throws {
        guard let (ledger, keep) = try backend.makeLedger() else { return }
        defer { withExtendedLifetime(keep) {} }
        _ = try ledger.beginRun(previousDiedOfFault: false)
        let taken = Date(timeIntervalSinceReferenceDate: 800_000_000.25)
        let (a, b) = (Fixtures.record(), Fixtures.record())
        try ledger.recordIntents([
            IntakeIntent(id: a.id, name: "in/a.jpg", bytes: 10, takenAt: taken),
            IntakeIntent(id: b.id, name: "in/b.jpg", bytes: 20, takenAt: taken),
        ])
        #expect(try ledger.intents()[b.id] == IntakeIntent(id: b.id, name: "in/b.jpg", bytes: 20, takenAt: taken))
        try ledger.insertCreated(a)
        #expect(Set(try ledger.intents().keys) == [b.id], "a record settles its intent")
        try ledger.dropIntents([b.id])
        #expect(try ledger.intents().isEmpty)
        // An id asked for that a record has is refused in the same commit; the others are recorded.
        let c = UUID()
        let refused = try ledger.recordIntents(
            [
                IntakeIntent(id: a.id, name: "in/again.jpg", bytes: 1, takenAt: taken),
                IntakeIntent(id: b.id, name: "in/b2.jpg", bytes: 2, takenAt: taken),
                IntakeIntent(id: c, name: "in/c.jpg", bytes: 3, takenAt: taken),
            ], refusingRecorded: [a.id, b.id])
        #expect(refused == [a.id])
        #expect(Set(try ledger.intents().keys) == [b.id, c])
        #expect(try ledger.record(a.id)?.source.name == a.source.name)
        try ledger.dropIntents([b.id, c])

        let refusals = [InboxRefusal(name: "x.jpg", reason: "unreadable", since: Date(timeIntervalSince1970: 5))]
        try ledger.publishRefusals(refusals)
        #expect(try ledger.refusals() == refusals)
        #expect(try ledger.daemonFigures() == nil)
        let figures = DaemonFigures(
            running: true, pid: 42, startedAt: Date(timeIntervalSince1970: 1),
            updatedAt: Date(timeIntervalSince1970: 2),
            workers: 2, workerBusySeconds: 3, imagesPerMinute: 4, encodes: 5, encodeSeconds: 6,
            failedByCode: [.tooLarge: 1], paused: "away")
        try ledger.publish(figures)
        #expect(try ledger.daemonFigures() == figures)
    }

    @Test(arguments: Backend.allCases)
    func knownPeopleLabelsAndTheFaceLog(_ backend: Backend) throws {
        guard let (ledger, keep) = try backend.makeLedger() else { return }
        defer { withExtendedLifetime(keep) {} }
        #expect(try ledger.peopleState() == .initial(tolerance: 0.6))
        let alicePicture = PeopleLedgerTests.picture("alice.jpg", "alice", 0.1)
        var state = try ledger.updateKnownPictures(
            upserting: [alicePicture, PeopleLedgerTests.picture("bob/1.jpg", "bob", nil)], removing: [], tolerance: 0.6)
        #expect(state.generation == 1)
        state = try ledger.updateKnownPictures(upserting: [alicePicture], removing: ["nobody.jpg"], tolerance: 0.6)
        #expect(state.generation == 1, "no change, no new generation")
        #expect(try ledger.knownPictures().map(\.path) == ["alice.jpg", "bob/1.jpg"])
        #expect(try ledger.knownPictures().first == alicePicture)

        let (a, b) = (UUID(), UUID())
        let alice = PersonMatch(name: "alice", distance: 0.3)
        let bob = PersonMatch(name: "bob", distance: 0.5)
        try ledger.storeLabels([
            (a, StoredLabels(generation: 1, faces: [[alice], [alice, bob]])),
            (b, StoredLabels(generation: 1, faces: [])),
        ])
        #expect(
            try ledger.personCounts() == [
                "alice": PersonCount(faces: 2, results: 1), "bob": PersonCount(faces: 1, results: 1),
            ])
        #expect(try ledger.faceLogCount() == 1 && ledger.faceLog(from: 0, limit: 10) == [a])
        // An older generation never replaces a newer one; a newer one moves the counts.
        try ledger.storeLabels(
            [(a, StoredLabels(generation: 2, faces: [[bob], []]))],
            progress: RelabelProgress(generation: 1, cursor: a, visited: 1, finished: true))
        try ledger.storeLabels([(a, StoredLabels(generation: 1, faces: [[alice]]))])
        #expect(try ledger.labels(a) == StoredLabels(generation: 2, faces: [[bob], []]))
        #expect(try ledger.personCounts() == ["bob": PersonCount(faces: 1, results: 1)])
        #expect(try ledger.peopleState().relabelledThrough == 1)
        #expect(try ledger.faceLogCount() == 1)
    }

}
