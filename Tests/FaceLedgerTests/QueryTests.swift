import FaceCore
import FaceTestSupport
import Foundation
import Testing
@testable import FaceLedger

/// The queue, time windows, streaming and averages, each checked against a brute-force answer.
@Suite(.timeLimit(.minutes(5))) struct QueryTests {
    /// 600 records created at shuffled times (with ties inside one microsecond and exact duplicates), a
    /// third completed with faces, a sixth failed.
    struct Population {
        var records: [LedgerRecord] = []
        var facesByID: [UUID: [Face]] = [:]
        var status: [UUID: ResultStatus] = [:]
    }

    static func populate(_ ledger: LMDBLedger, count: Int = 600, seed: UInt64 = 5) throws -> Population {
        var rng = SeededGenerator(seed: seed)
        var p = Population()
        for i in 0..<count {
            // 1 ms apart, shuffled; every 7th shares the previous one's exact time; every 11th is 0.3 µs
            // later than the previous one (the same microsecond key).
            var t = Fixtures.base.addingTimeInterval(Double(Int.random(in: 0..<100_000, using: &rng)) / 1000)
            if i % 7 == 0, let last = p.records.last { t = last.createdAt }
            if i % 11 == 0, let last = p.records.last { t = last.createdAt.addingTimeInterval(0.000_000_3) }
            p.records.append(Fixtures.record(createdAt: t, sha256: Fixtures.sha(&rng)))
        }
        for chunk in stride(from: 0, to: count, by: 100) {
            try ledger.insertCreated(Array(p.records[chunk..<min(chunk + 100, count)]))
        }
        for r in p.records {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0, 1:
                let faces = Fixtures.faces(Int.random(in: 0...2, using: &rng), &rng)
                _ = try ledger.complete(r.id, image: Fixtures.jpeg, faces: faces, completedAt: Date(), duration: 0.1)
                p.facesByID[r.id] = faces
                p.status[r.id] = .completed
            case 2:
                _ = try ledger.fail(r.id, Failure(.tooLarge, "big"), completedAt: Date(), duration: 0.1)
                p.status[r.id] = .failed
            default:
                p.status[r.id] = .created
            }
        }
        return p
    }

    /// Creation order as the ledger defines it: by time key (microseconds), then id bytes.
    static func creationOrder(_ records: [LedgerRecord]) -> [LedgerRecord] {
        records.sorted {
            Keys.timeKey(createdAt: $0.createdAt, id: $0.id).lexicographicallyPrecedes(
                Keys.timeKey(createdAt: $1.createdAt, id: $1.id))
        }
    }

    @Test func queueListsCreatedRecordsOldestFirstAndPages() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let p = try Self.populate(ledger)
        let expected = Self.creationOrder(p.records).filter { p.status[$0.id] == .created }.map(\.id)
        #expect(expected.count > 100)
        #expect(try ledger.queued(limit: 100_000) == expected)
        #expect(try ledger.queued(limit: 10) == Array(expected.prefix(10)))
        // Page through in batches of 37 using `after`.
        var paged: [UUID] = []
        var after: UUID?
        while true {
            let page = try ledger.queued(limit: 37, after: after)
            if page.isEmpty { break }
            paged += page
            after = page.last
        }
        #expect(paged == expected)
        // Paging may continue after a record that has left the queue meanwhile.
        let third = expected[2]
        _ = try ledger.fail(third, Failure(.crashed, "x"), completedAt: Date(), duration: 0)
        #expect(try ledger.queued(limit: 2, after: third) == Array(expected[3..<5]))
        #expect(throws: LedgerError.self) { try ledger.queued(limit: 2, after: UUID()) }
        #expect(try ledger.queued(limit: 0).isEmpty)
    }

    @Test func streamingVisitsEveryRecordInCreationOrder() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let p = try Self.populate(ledger)
        let streamed = try allRecords(ledger)
        #expect(streamed.map(\.id) == Self.creationOrder(p.records).map(\.id))
        for r in streamed { #expect(r.status == p.status[r.id]) }
        var ids = Set<UUID>()
        try ledger.forEachID { ids.insert($0) }
        #expect(ids == Set(p.records.map(\.id)))
    }

    @Test func timeWindowsMatchABruteForceFilter() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let p = try Self.populate(ledger)
        let ordered = Self.creationOrder(p.records)
        var rng = SeededGenerator(seed: 99)
        var windows: [(Date?, Date?)] = [(nil, nil)]
        for _ in 0..<25 {
            // Bounds exactly on records' times (inclusive from, exclusive to) and between them.
            let a = ordered[Int.random(in: 0..<ordered.count, using: &rng)].createdAt
            let b = ordered[Int.random(in: 0..<ordered.count, using: &rng)].createdAt
            windows.append((min(a, b), max(a, b)))
            windows.append((min(a, b).addingTimeInterval(0.000_000_1), nil))
            windows.append((nil, max(a, b).addingTimeInterval(-0.000_000_1)))
        }
        windows.append((Fixtures.base.addingTimeInterval(1e6), nil))
        windows.append(
            (max(ordered[5].createdAt, ordered[6].createdAt), min(ordered[5].createdAt, ordered[6].createdAt)))
        for (from, to) in windows {
            let expected = ordered.filter { r in
                (from.map { r.createdAt >= $0 } ?? true) && (to.map { r.createdAt < $0 } ?? true)
            }
            let streamed = try allRecords(ledger, from: from, to: to)
            #expect(
                streamed.map(\.id) == expected.map(\.id),
                "window \(String(describing: from)) ..< \(String(describing: to))")

            let completed = expected.filter { p.status[$0.id] == .completed }
            let faces = completed.flatMap { p.facesByID[$0.id]! }
            let average = try ledger.average(from: from, to: to)
            #expect(average.images == completed.count)
            #expect(average.faces == faces.count)
            #expect((average.mean == nil) == faces.isEmpty)
            if !faces.isEmpty { #expect(maxDifference(average.mean, bruteForceMean(faces)) < 1e-12) }
        }
    }

    @Test func wholeRangeAverageComesFromTheCountersAndMatchesTheScan() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let p = try Self.populate(ledger, count: 300, seed: 8)
        let all = p.records.flatMap { p.facesByID[$0.id] ?? [] }
        let fast = try ledger.average()
        let scanned = try ledger.average(from: .distantPast, to: .distantFuture)
        #expect(fast.faces == all.count && scanned.faces == all.count)
        #expect(fast.images == p.status.values.filter { $0 == .completed }.count)
        #expect(fast.images == scanned.images)
        #expect(maxDifference(fast.mean, bruteForceMean(all)) < 1e-12)
        #expect(maxDifference(scanned.mean, bruteForceMean(all)) < 1e-12)
    }

    @Test func averageOfAnEmptyLedgerHasNoMean() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        #expect(try ledger.average() == LedgerAverage(mean: nil, faces: 0, images: 0))
        #expect(try ledger.average(from: Fixtures.base) == LedgerAverage(mean: nil, faces: 0, images: 0))
    }

    @Test func streamingHoldsNoTransactionWhileTheBodyRuns() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 64 << 10))
        let records = (0..<(LMDBLedger.batchSize + 17)).map {
            Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0)))
        }
        try ledger.insertCreated(records)
        // Like the daemon's startup pass: write while streaming. The writes grow the map, which needs
        // every transaction of the process to be closed, so this would hang if the stream held one.
        var visited = 0
        var rng = SeededGenerator(seed: 4)
        try ledger.forEachRecord { record in
            visited += 1
            _ = try ledger.complete(
                record.id, image: Fixtures.jpeg, faces: Fixtures.faces(2, &rng), completedAt: Date(), duration: 0)
        }
        #expect(visited == records.count)
        #expect(try ledger.stats().counts[.completed] == records.count)
        #expect(ledger.mapSize > 64 << 10)
    }

    @Test func streamingStopsWhenTheBodyThrows() throws {
        struct Stop: Error {}
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        try ledger.insertCreated(
            (0..<10).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) })
        var seen = 0
        #expect(throws: Stop.self) {
            try ledger.forEachRecord { _ in
                seen += 1
                if seen == 3 { throw Stop() }
            }
        }
        #expect(seen == 3)
        #expect(try ledger.stats().total == 10)
    }
}
