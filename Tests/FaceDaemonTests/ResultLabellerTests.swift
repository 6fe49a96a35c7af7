import FaceCore
import FaceLedger
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

/// The pipeline's labelled write: the document is written from the known people this process read
/// last, and written again when the ledger's generation moved on meanwhile (another process or host
/// changed the known people), so the document and the stored labels end on the newest generation.
struct ResultLabellerTests {
    static func picture(_ person: String, _ encoding: [Float]) -> KnownPicture {
        KnownPicture(path: "\(person).jpg", person: person, size: 1, modified: 0, encoding: encoding, problem: nil)
    }

    @Test func aDocumentWrittenFromAnOlderGenerationIsWrittenAgainWithTheLedgersNewest() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let encoding = (0..<128).map { Float($0 % 7) * 0.01 }
        let id = UUID()
        try root.ledger.insertCreated(
            LedgerRecord(
                id: id, source: SourceInfo(name: "p.jpg", bytes: 10, sha256: String(repeating: "a", count: 64)),
                storePath: "store/x/\(id).jpg", createdAt: Date()))
        let record = try root.ledger.complete(
            id, image: ImageInfo(format: .jpeg, width: 100, height: 100),
            faces: [Face(location: FaceLocation(top: 0, right: 10, bottom: 10, left: 0), encoding: encoding)],
            completedAt: Date(), duration: 0)
        let labeller = ResultLabeller(ledger: root.ledger, defaultTolerance: 0.6)
        let writer = ResultsWriter(directory: root.results.directory, labeller: labeller)
        func named() -> [String]? {
            ResultsWriter.read(id: id, in: root.results.directory)?.faces.first?.matches?.map(\.name)
        }

        let first = try root.ledger.updateKnownPictures(
            upserting: [Self.picture("alice", encoding)], removing: [], tolerance: 0.6)
        try writer.write(record)
        #expect(named() == ["alice"])
        #expect(try root.ledger.labels(id)?.generation == first.generation)

        // Another process replaces alice by bob; this labeller has only read alice's generation.
        let second = try root.ledger.updateKnownPictures(
            upserting: [Self.picture("bob", encoding)], removing: ["alice.jpg"], tolerance: 0.6)
        #expect(second.generation > first.generation)
        try writer.write(record)
        #expect(named() == ["bob"])
        #expect(try root.ledger.labels(id)?.generation == second.generation)
    }
}
