import FaceCore
import FaceTestSupport
import Foundation
import Testing
@testable import FaceLedger

/// Every state transition, its effect on indices and counters, and the transitions that must be refused.
@Suite(.timeLimit(.minutes(5))) struct TransitionTests {

    @Test func insertCreatedCommitsRecordQueueAndCounters() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let record = Fixtures.record()
        #expect(try !ledger.contains(record.id))
        try ledger.insertCreated(record)
        #expect(try ledger.contains(record.id))
        #expect(try ledger.record(record.id) == record)
        #expect(try ledger.queued(limit: 10) == [record.id])
        let stats = try ledger.stats()
        #expect(stats.counts == [.created: 1, .completed: 0, .failed: 0])
        #expect(stats.total == 1 && stats.faces == 0 && stats.encodedFaces == 0 && stats.average == nil)
        #expect(try ledger.record(UUID()) == nil)
    }

    @Test func duplicateIdIsRefusedAndChangesNothing() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let first = Fixtures.record(name: "a.jpg")
        try ledger.insertCreated(first)
        var second = Fixtures.record(id: first.id, name: "b.jpg")
        second.createdAt = first.createdAt.addingTimeInterval(5)
        #expect(errorCode { try ledger.insertCreated(second) } == .alreadyExists)
        #expect(try ledger.record(first.id) == first)
        #expect(try ledger.stats().total == 1)
        #expect(try ledger.indexSizes() == (1, 1, 1, 0))
    }

    @Test func aBatchIsAllOrNothing() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let existing = Fixtures.record()
        try ledger.insertCreated(existing)
        let fresh = (0..<5).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) }
        #expect(errorCode { try ledger.insertCreated(fresh + [Fixtures.record(id: existing.id)]) } == .alreadyExists)
        for r in fresh { #expect(try !ledger.contains(r.id)) }
        #expect(try ledger.stats().total == 1)
        try ledger.insertCreated(fresh)
        #expect(try ledger.stats().counts[.created] == 6)
        #expect(try ledger.indexSizes() == (6, 6, 6, 0))
    }

    @Test func onlyFreshValidRecordsCanBeInserted() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        var done = Fixtures.record()
        done.status = .completed
        #expect(errorCode { try ledger.insertCreated(done) } == .invalidArgument)
        var withError = Fixtures.record()
        withError.error = Failure(.ioError, "x")
        #expect(errorCode { try ledger.insertCreated(withError) } == .invalidArgument)
        #expect(errorCode { try ledger.insertCreated(Fixtures.record(sha256: "not-a-sha")) } == .invalidArgument)
        #expect(try ledger.stats().total == 0)
    }

    @Test func beginAttemptCountsAndPersists() throws {
        let dir = TemporaryDirectory()
        let record = Fixtures.record()
        do {
            let ledger = try LMDBLedger(directory: dir.db)
            try ledger.insertCreated(record)
            #expect(try ledger.beginAttempt(record.id) == 1)
            #expect(try ledger.beginAttempt(record.id) == 2)
        }
        // A new environment (the process restarted) sees the committed count.
        let reopened = try LMDBLedger(directory: dir.db)
        #expect(try reopened.record(record.id)?.attempts == 2)
        #expect(try reopened.beginAttempt(record.id) == 3)
        #expect(try reopened.record(record.id)?.status == .created)
        #expect(errorCode { try reopened.beginAttempt(UUID()) } == .notFound)
    }

    @Test func completeStoresFacesAndUpdatesEverything() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        var rng = SeededGenerator(seed: 3)
        let records = (0..<4).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) }
        try ledger.insertCreated(records)
        let faces = Fixtures.faces(3, &rng)
        let done = Fixtures.base.addingTimeInterval(100)
        let completed = try ledger.complete(
            records[1].id, image: Fixtures.jpeg, faces: faces, completedAt: done, duration: 0.25)
        #expect(completed.status == .completed)
        #expect(completed.faces == faces)
        #expect(completed.image == Fixtures.jpeg)
        #expect(completed.completedAt == done && completed.duration == 0.25 && completed.error == nil)
        #expect(try ledger.record(records[1].id) == completed)
        #expect(try ledger.queued(limit: 10) == [records[0].id, records[2].id, records[3].id])
        #expect(try ledger.completedRecord(sha256: records[1].source.sha256) == completed)
        #expect(try ledger.completedRecord(sha256: records[0].source.sha256) == nil)

        let stats = try ledger.stats()
        #expect(stats.counts == [.created: 3, .completed: 1, .failed: 0])
        #expect(stats.faces == 3 && stats.encodedFaces == 3)
        var sum = [Double](repeating: 0, count: 128)
        for f in faces { for i in 0..<128 { sum[i] += Double(f.encoding[i]) } }
        #expect(stats.encodingSum == sum)
        #expect(maxDifference(stats.average, bruteForceMean(faces)) < 1e-12)

        // Zero faces is a completed result, and adds nothing to the sum.
        _ = try ledger.complete(records[2].id, image: Fixtures.jpeg, faces: [], completedAt: done, duration: 0.1)
        let after = try ledger.stats()
        #expect(after.counts == [.created: 2, .completed: 2, .failed: 0])
        #expect(after.encodingSum == sum && after.encodedFaces == 3)
        let check = try ledger.countersCheck()
        #expect(check.stored == check.recomputed)
    }

    @Test func failRecordsTheFailure() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let record = Fixtures.record()
        try ledger.insertCreated(record)
        try ledger.beginAttempt(record.id)
        let failure = Failure(.corruptImage, "premature end of JPEG data")
        let failed = try ledger.fail(
            record.id, failure, image: Fixtures.jpeg, completedAt: Fixtures.base, duration: 0.5)
        #expect(failed.status == .failed && failed.error == failure && failed.attempts == 1)
        #expect(failed.image == Fixtures.jpeg && failed.faces.isEmpty)
        #expect(try ledger.record(record.id) == failed)
        #expect(try ledger.queued(limit: 10).isEmpty)
        #expect(try ledger.completedRecord(sha256: record.source.sha256) == nil)
        #expect(try ledger.stats().counts == [.created: 0, .completed: 0, .failed: 1])
        let doc = failed.resultDocument().jsonLine()
        #expect(doc.contains("\"id\":\"\(record.id.uuidString.lowercased())\""))
        #expect(doc.contains("\"error\":{\"code\":\"corrupt_image\",\"message\":\"premature end of JPEG data\"}"))
    }

    @Test func finalRecordsCannotMoveAgain() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let a = Fixtures.record()
        let b = Fixtures.record()
        try ledger.insertCreated([a, b])
        let done = try ledger.complete(a.id, image: Fixtures.jpeg, faces: [], completedAt: Fixtures.base, duration: 1)
        _ = try ledger.fail(b.id, Failure(.crashed, "x"), completedAt: Fixtures.base, duration: 1)
        let before = try ledger.stats()
        for id in [a.id, b.id] {
            #expect(
                errorCode {
                    _ = try ledger.complete(
                        id, image: Fixtures.jpeg, faces: [], completedAt: Fixtures.base, duration: 1)
                } == .invalidTransition)
            #expect(
                errorCode { _ = try ledger.fail(id, Failure(.ioError, "x"), completedAt: Fixtures.base, duration: 1) }
                    == .invalidTransition)
            #expect(errorCode { try ledger.beginAttempt(id) } == .invalidTransition)
        }
        #expect(
            errorCode {
                _ = try ledger.complete(
                    UUID(), image: Fixtures.jpeg, faces: [], completedAt: Fixtures.base, duration: 1)
            } == .notFound)
        #expect(
            errorCode { _ = try ledger.fail(UUID(), Failure(.ioError, "x"), completedAt: Fixtures.base, duration: 1) }
                == .notFound)
        #expect(try ledger.stats() == before)
        #expect(try ledger.record(a.id) == done)
    }

    @Test func aRefusedCompletionChangesNothing() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let record = Fixtures.record()
        try ledger.insertCreated(record)
        let bad = [
            Face(
                location: FaceLocation(top: 0, right: 1, bottom: 1, left: 0),
                encoding: [Float](repeating: .infinity, count: 128))
        ]
        #expect(
            errorCode {
                _ = try ledger.complete(
                    record.id, image: Fixtures.jpeg, faces: bad, completedAt: Fixtures.base, duration: 1)
            } == .invalidArgument)
        #expect(try ledger.record(record.id) == record)
        #expect(try ledger.queued(limit: 5) == [record.id])
        #expect(try ledger.stats().counts[.created] == 1)
    }

    @Test func identicalContentKeepsTheFirstCompletedRecord() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        var rng = SeededGenerator(seed: 11)
        let sha = Fixtures.sha(&rng)
        let first = Fixtures.record(sha256: sha)
        let second = Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(1), sha256: sha)
        try ledger.insertCreated([first, second])
        let faces = Fixtures.faces(1, &rng)
        let done = try ledger.complete(
            first.id, image: Fixtures.jpeg, faces: faces, completedAt: Fixtures.base, duration: 1)
        // The daemon reuses the stored encodings for the duplicate.
        let reused = try #require(try ledger.completedRecord(sha256: sha))
        _ = try ledger.complete(
            second.id, image: reused.image!, faces: reused.faces, completedAt: Fixtures.base, duration: 0)
        #expect(try ledger.completedRecord(sha256: sha) == done)
        #expect(try ledger.indexSizes().bySHA == 1)
        #expect(try ledger.stats().encodedFaces == 2)
    }

    @Test func countersMatchARandomHistory() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        var rng = SeededGenerator(seed: 2026)
        var expected: [ResultStatus: Int] = [.created: 0, .completed: 0, .failed: 0]
        var allFaces: [Face] = []
        var faceCount = 0
        var open: [UUID] = []
        for i in 0..<300 {
            let action = Int.random(in: 0..<10, using: &rng)
            if action < 4 || open.isEmpty {
                let r = Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double(i)))
                try ledger.insertCreated(r)
                open.append(r.id)
                expected[.created]! += 1
            } else {
                let id = open.remove(at: Int.random(in: 0..<open.count, using: &rng))
                if action < 8 {
                    let faces = Fixtures.faces(Int.random(in: 0...3, using: &rng), &rng)
                    _ = try ledger.complete(
                        id, image: Fixtures.jpeg, faces: faces, completedAt: Fixtures.base, duration: 0.1)
                    allFaces += faces
                    faceCount += faces.count
                    expected[.completed]! += 1
                } else {
                    _ = try ledger.fail(id, Failure(.notAnImage, "?"), completedAt: Fixtures.base, duration: 0.1)
                    expected[.failed]! += 1
                }
                expected[.created]! -= 1
            }
        }
        let stats = try ledger.stats()
        #expect(stats.counts == expected)
        #expect(stats.total == expected.values.reduce(0, +))
        #expect(stats.faces == faceCount && stats.encodedFaces == faceCount)
        #expect(maxDifference(stats.average, bruteForceMean(allFaces)) < 1e-12)
        #expect(try Set(ledger.queued(limit: 1000)) == Set(open))
        let check = try ledger.countersCheck()
        #expect(check.stored == check.recomputed)
        let sizes = try ledger.indexSizes()
        #expect(sizes.records == stats.total && sizes.byTime == stats.total && sizes.queue == expected[.created])
    }

    @Test func aDamagedStoredValueIsAnErrorNotACrash() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let good = Fixtures.record()
        let bad = Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(1))
        try ledger.insertCreated([good, bad])
        // Overwrite one record's value with garbage, behind the ledger's back.
        let environment = ledger.environment
        _ = try environment.write { txn throws(LedgerError) in
            try txn.put(environment.databases.records, bad.id.bytes, [1, 0, 0xFF, 0xFF])
        }
        #expect(try ledger.record(good.id) == good)
        #expect(errorCode { _ = try ledger.record(bad.id) } == .corrupt)
        #expect(errorCode { try ledger.beginAttempt(bad.id) } == .corrupt)
        #expect(errorCode { _ = try allRecords(ledger) } == .corrupt)
        #expect(try ledger.stats().total == 2)
    }
}
