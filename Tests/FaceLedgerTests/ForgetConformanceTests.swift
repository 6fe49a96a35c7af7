import FaceCore
import FaceTestSupport
import Foundation
import Testing

@testable import FaceLedger

/// Forgetting, the same on both backends: the ledger after a forget equals, in everything it
/// answers, a ledger that never saw the forgotten images; only a tombstone remains.
@Suite(.timeLimit(.minutes(2)))
struct ForgetConformanceTests {
    /// The same images on a ledger: `forgotten` indices get their records too when `withForgotten`.
    private struct Scenario {
        var records: [LedgerRecord] = []
        var faces: [[Face]] = []

        init() {
            var rng = SeededGenerator(seed: 22)
            for index in 0..<6 {
                records.append(
                    Fixtures.record(
                        createdAt: Fixtures.base.addingTimeInterval(Double(index)), name: "party/\(index).jpg",
                        sha256: Fixtures.sha(index)))
                faces.append(Fixtures.faces(index % 3 + 1, &rng))
            }
        }

        /// Records 0, 1, 3 completed with faces (1 also labelled "ann"), 2 failed, 4 and 5 queued.
        func apply(to ledger: any Ledger, skipping: Set<Int>) throws {
            let kept = records.indices.filter { !skipping.contains($0) }
            try ledger.insertCreated(kept.map { records[$0] })
            for index in kept {
                let id = records[index].id
                let at = Fixtures.base.addingTimeInterval(100 + Double(index))
                switch index {
                case 0, 1, 3:
                    try ledger.complete(id, image: Fixtures.jpeg, faces: faces[index], completedAt: at, duration: 0.25)
                    let labels = StoredLabels(
                        generation: 1,
                        faces: faces[index].indices.map {
                            $0 == 0 && index != 3 ? [PersonMatch(name: "ann", distance: 0.3)] : []
                        })
                    try ledger.storeLabels([(id, labels)])
                case 2:
                    try ledger.beginAttempt(id)
                    try ledger.fail(id, Failure(.corruptImage, "bad"), completedAt: at, duration: 0.5)
                default:
                    try ledger.beginAttempt(id)
                }
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func forgettingIsAsIfTheImagesNeverCame(_ backend: Backend) throws {
        guard let (ledger, keep) = try backend.makeLedger(), let (control, keepControl) = try backend.makeLedger()
        else { return }
        defer { withExtendedLifetime((keep, keepControl)) {} }
        let scenario = Scenario()
        try scenario.apply(to: ledger, skipping: [])
        try scenario.apply(to: control, skipping: [1, 2, 4])
        #expect(try ledger.personCounts()["ann"] == PersonCount(faces: 2, results: 2))

        let when = Fixtures.base.addingTimeInterval(1_000)
        for index in [1, 2, 4] {
            let tombstone = try ledger.forget(scenario.records[index].id, reason: "test \(index)", at: when)
            #expect(tombstone.name == "party/\(index).jpg" && tombstone.reason == "test \(index)")
            #expect(tombstone.createdAt == scenario.records[index].createdAt && tombstone.forgottenAt == when)
            #expect(tombstone.filesPending && tombstone.storePath == scenario.records[index].storePath)
        }

        let stats = try ledger.stats()
        let expected = try control.stats()
        #expect(stats.counts == expected.counts && stats.faces == expected.faces)
        #expect(stats.encodedFaces == expected.encodedFaces)
        #expect(maxDifference(stats.average, expected.average) < 1e-9)
        #expect(maxDifference(try ledger.average().mean, try control.average().mean) < 1e-9)
        let window = (Fixtures.base, Fixtures.base.addingTimeInterval(10))
        #expect(
            try ledger.average(from: window.0, to: window.1).faces
                == control.average(from: window.0, to: window.1).faces)
        let tallies = try ledger.finalTallies()
        let expectedTallies = try control.finalTallies()
        #expect(
            tallies.failedByCode == expectedTallies.failedByCode && tallies.engineRuns == expectedTallies.engineRuns)
        #expect(abs(tallies.engineSeconds - expectedTallies.engineSeconds) < 1e-9)
        #expect(try ledger.personCounts() == control.personCounts())
        #expect(try ledger.queued(limit: 10) == control.queued(limit: 10))
        var listed: [UUID] = []
        try ledger.forEachRecord { listed.append($0.id) }
        var expectedListed: [UUID] = []
        try control.forEachRecord { expectedListed.append($0.id) }
        #expect(listed == expectedListed)

        // Nothing of a forgotten image answers: not its record, labels, or its bytes for dedup.
        let gone = scenario.records[1]
        #expect(try ledger.record(gone.id) == nil && ledger.contains(gone.id) == false)
        #expect(try ledger.labels(gone.id) == nil)
        #expect(try ledger.completedRecord(sha256: gone.source.sha256) == nil)
        #expect(try ledger.completedRecord(sha256: scenario.records[0].source.sha256)?.id == scenario.records[0].id)
        // Labels computed before the forget and stored after it are dropped.
        try ledger.storeLabels([
            (gone.id, StoredLabels(generation: 2, faces: [[PersonMatch(name: "ann", distance: 0.1)]]))
        ])
        #expect(try ledger.labels(gone.id) == nil && ledger.personCounts() == control.personCounts())
        // A forgotten record moves no more.
        #expect(errorCode { try ledger.beginAttempt(scenario.records[4].id) } == .notFound)

        // Forgetting again changes nothing; an unknown id is not found.
        let again = try ledger.forget(gone.id, reason: "again", at: Date())
        #expect(again.reason == "test 1" && again.forgottenAt == when)
        #expect(errorCode { try ledger.forget(UUID(), reason: "x", at: Date()) } == .notFound)

        // The files of all three are pending until said otherwise.
        let pending = try ledger.tombstonesWithFiles(limit: 10)
        #expect(Set(pending.map(\.id)) == Set([1, 2, 4].map { scenario.records[$0].id }))
        try ledger.forgottenFilesRemoved(pending.map(\.id))
        #expect(try ledger.tombstonesWithFiles(limit: 10).isEmpty)
        #expect(try ledger.tombstone(gone.id)?.filesPending == false)
        #expect(try ledger.tombstone(scenario.records[0].id) == nil)
    }

    /// `forget --person ann --faces-only`: the faces labelled "ann" leave the record, its labels, the
    /// counts per person and the counters, which then equal those of a ledger where the record was
    /// completed without them.
    @Test(arguments: Backend.allCases)
    func forgettingFacesIsAsIfTheyWereNeverFound(_ backend: Backend) throws {
        guard let (ledger, keep) = try backend.makeLedger(), let (control, keepControl) = try backend.makeLedger()
        else { return }
        defer { withExtendedLifetime((keep, keepControl)) {} }
        var rng = SeededGenerator(seed: 23)
        let faces = Fixtures.faces(3, &rng)
        let other = Fixtures.faces(2, &rng)
        let ann = PersonMatch(name: "ann", distance: 0.3)
        let bob = PersonMatch(name: "bob", distance: 0.2)
        let trio = Fixtures.record(createdAt: Fixtures.base, name: "trio.jpg", sha256: Fixtures.sha(0))
        let pair = Fixtures.record(
            createdAt: Fixtures.base.addingTimeInterval(1), name: "pair.jpg", sha256: Fixtures.sha(1))
        let at = Fixtures.base.addingTimeInterval(100)
        // The ledger: three faces, the first two "ann" (the second also resembles "bob").
        try ledger.insertCreated([trio, pair])
        try ledger.complete(trio.id, image: Fixtures.jpeg, faces: faces, completedAt: at, duration: 0.25)
        try ledger.complete(pair.id, image: Fixtures.jpeg, faces: other, completedAt: at, duration: 0.25)
        try ledger.storeLabels([
            (trio.id, StoredLabels(generation: 1, faces: [[ann], [ann, bob], [bob]])),
            (pair.id, StoredLabels(generation: 1, faces: [[], [bob]])),
        ])
        // The control: the same photos, found without ann's faces.
        try control.insertCreated([trio, pair])
        try control.complete(trio.id, image: Fixtures.jpeg, faces: [faces[2]], completedAt: at, duration: 0.25)
        try control.complete(pair.id, image: Fixtures.jpeg, faces: other, completedAt: at, duration: 0.25)
        try control.storeLabels([
            (trio.id, StoredLabels(generation: 1, faces: [[bob]])),
            (pair.id, StoredLabels(generation: 1, faces: [[], [bob]])),
        ])

        #expect(try ledger.forgetFaces(trio.id, of: "ann") == 2)
        #expect(try ledger.forgetFaces(pair.id, of: "ann") == 0)
        let stats = try ledger.stats()
        let expected = try control.stats()
        #expect(stats.counts == expected.counts && stats.faces == expected.faces && stats.faces == 3)
        #expect(stats.encodedFaces == expected.encodedFaces)
        #expect(maxDifference(stats.average, expected.average) < 1e-9)
        #expect(try ledger.personCounts() == control.personCounts())
        #expect(try ledger.personCounts()["ann"] == nil)
        #expect(try ledger.record(trio.id)?.faces == [faces[2]])
        #expect(try ledger.labels(trio.id)?.faces == [[bob]])
        #expect(try ledger.record(pair.id) == control.record(pair.id))
        #expect(try ledger.documentsToRewrite(limit: 10) == [trio.id])
        try ledger.documentsRewritten([trio.id])
        #expect(try ledger.documentsToRewrite(limit: 10).isEmpty)

        // Labels computed from the record as it was before (three faces) are not stored after it.
        try ledger.storeLabels([(trio.id, StoredLabels(generation: 2, faces: [[ann], [ann], [bob]]))])
        #expect(try ledger.labels(trio.id)?.faces == [[bob]])
        #expect(try ledger.personCounts() == control.personCounts())
        // Again: nothing of ann's is left. An unknown id is not found.
        #expect(try ledger.forgetFaces(trio.id, of: "ann") == 0)
        #expect(throws: LedgerError.self) { try ledger.forgetFaces(UUID(), of: "ann") }
        // The whole photo forgotten afterwards: still as if it had never come.
        try ledger.forget(trio.id, reason: "test", at: at)
        try control.forget(trio.id, reason: "test", at: at)
        #expect(try ledger.stats().faces == control.stats().faces)
        #expect(maxDifference(try ledger.stats().average, try control.stats().average) < 1e-9)
        #expect(try ledger.personCounts() == control.personCounts())
    }

    @Test func compactionKeepsEveryRecordAndDropsTheFreedPages() throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 5)
        var forgottenBytes: [[UInt8]] = []
        var expected: LedgerStats
        do {
            let ledger = try LMDBLedger(directory: directory.db)
            let records = (0..<200).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) }
            try ledger.insertCreated(records)
            for (index, record) in records.enumerated() {
                let faces = Fixtures.faces(2, &rng)
                try ledger.complete(
                    record.id, image: Fixtures.jpeg, faces: faces, completedAt: Fixtures.base, duration: 0.1)
                if index % 2 == 0 {
                    forgottenBytes.append(
                        faces[0].encoding.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
                }
            }
            for (index, record) in records.enumerated() where index % 2 == 0 {
                try ledger.forget(record.id, reason: "test", at: Date())
            }
            expected = try ledger.stats()
        }
        let dataFile = directory.db.appendingPathComponent("data.mdb").path
        let before = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dataFile)))
        // LMDB frees pages without clearing them: some forgotten encodings are still in the file.
        #expect(forgottenBytes.contains { Self.contains(before, $0) })
        let compaction = try LMDBLedger.compact(directory: directory.db)
        #expect(compaction.bytesAfter < compaction.bytesBefore)
        let after = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dataFile)))
        #expect(!forgottenBytes.contains { Self.contains(after, $0) })
        let reopened = try LMDBLedger(directory: directory.db)
        #expect(try reopened.stats() == expected)
        #expect(try reopened.tombstonesWithFiles(limit: 1_000).count == 100)
    }

    /// The daemon's compaction: its open environment is compacted in place while other threads of
    /// the process write. Nothing committed is lost, the writers go on with the compacted file, the
    /// forgotten encodings are in it no more, and the forget generations say what was compacted.
    @Test func compactingInPlaceWhileWritingLosesNothing() async throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 6)
        let ledger = try LMDBLedger(directory: directory.db)
        let records = (0..<100).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) }
        try ledger.insertCreated(records)
        var forgottenBytes: [[UInt8]] = []
        for (index, record) in records.enumerated() {
            let faces = Fixtures.faces(2, &rng)
            try ledger.complete(
                record.id, image: Fixtures.jpeg, faces: faces, completedAt: Fixtures.base, duration: 0.1)
            if index % 2 == 0 {
                forgottenBytes.append(
                    faces[0].encoding.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
            }
        }
        for (index, record) in records.enumerated() where index % 2 == 0 {
            try ledger.forget(record.id, reason: "test", at: Date())
        }
        #expect(try ledger.forgetGenerations() == (forgotten: 50, compacted: 0))
        // Writers insert records while the compactions run.
        let writers = (0..<3).map { writer in
            Task.detached { () throws -> [UUID] in
                var inserted: [UUID] = []
                for i in 0..<60 {
                    let record = Fixtures.record(
                        createdAt: Fixtures.base.addingTimeInterval(1_000 + Double(writer * 100 + i)))
                    try ledger.insertCreated([record])
                    inserted.append(record.id)
                }
                return inserted
            }
        }
        var compactions: [LMDBLedger.Compaction] = []
        for _ in 0..<3 { compactions.append(try ledger.compactInPlace()) }
        var inserted: [UUID] = []
        for writer in writers { inserted += try await writer.value }
        try ledger.markCompacted(through: 50)
        #expect(try ledger.forgetGenerations() == (forgotten: 50, compacted: 50))
        #expect(compactions[0].bytesAfter <= compactions[0].bytesBefore)
        for id in inserted { #expect(try ledger.contains(id)) }
        for (index, record) in records.enumerated() {
            #expect(try ledger.contains(record.id) == (index % 2 == 1))
        }
        let stats = try ledger.stats()
        #expect(stats.counts[.completed] == 50 && stats.counts[.created] == inserted.count && stats.faces == 100)
        // One more compaction with nothing written after it: no forgotten encoding is in the file.
        _ = try ledger.compactInPlace()
        let after = try [UInt8](Data(contentsOf: directory.db.appendingPathComponent("data.mdb")))
        #expect(!forgottenBytes.contains { Self.contains(after, $0) })
        #expect(try ledger.stats() == stats)
    }

    /// Whether `haystack` holds `needle` anywhere.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count else { return false }
        var index = 0
        while index <= haystack.count - needle.count {
            guard let found = haystack[index...(haystack.count - needle.count)].firstIndex(of: first) else {
                return false
            }
            if haystack[found..<(found + needle.count)].elementsEqual(needle) { return true }
            index = found + 1
        }
        return false
    }
}
