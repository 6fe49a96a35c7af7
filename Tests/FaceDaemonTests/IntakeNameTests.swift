import FaceCore
import FaceLedger
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

/// A file renamed into the store just before a crash keeps the name it was dropped with.
@Suite(.timeLimit(.minutes(1)))
struct IntakeNameTests {
    @Test func anOrphanIsRecordedUnderItsInboxName() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        // The crash point: the intent is committed and the file renamed, the `created` record is not.
        let candidate = root.drop("party/f00015_2008_001322.png", TinyPNG.make(seed: 7))
        let id = UUID()
        let takenAt = Date(timeIntervalSince1970: 1_790_000_000)
        try root.ledger.recordIntents([IntakeIntent(id: id, name: candidate.name, bytes: 10, takenAt: takenAt)])
        _ = try root.store.adopt(candidate.path, as: id, ext: "png")
        // A second intent whose file never moved (still in the inbox) is dropped.
        try root.ledger.recordIntents([IntakeIntent(id: UUID(), name: "other.png", bytes: 1, takenAt: takenAt)])

        var report = Reconciler.Report()
        _ = try root.reconciler.recordOrphans(report: &report)
        #expect(report.orphansRecorded == 1)
        let record = try #require(try root.ledger.record(id))
        #expect(record.source.name == "party/f00015_2008_001322.png")
        #expect(record.createdAt == takenAt)
        #expect(try root.ledger.intents().isEmpty)
    }

    @Test func ingestLeavesNoIntentBehind() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let outcome = try root.ingestor.ingest([root.drop("a.png", TinyPNG.make(seed: 8))])
        #expect(outcome.created.count == 1)
        #expect(try root.ledger.intents().isEmpty)
    }
}
