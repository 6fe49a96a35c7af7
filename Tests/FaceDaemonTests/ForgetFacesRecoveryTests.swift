import FaceCore
import FaceDaemon
import FaceLedger
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

/// A faces-only forget cut short right after its ledger transition (a `kill -9` before the document
/// is rewritten) leaves the document showing the forgotten face: the next sweep (a forget, a
/// compaction, the daemon's start) rewrites it from the record, and a writer still holding the record
/// as it was does not bring the face back.
@Suite(.timeLimit(.minutes(1)))
struct ForgetFacesRecoveryTests {
    @Test func aDocumentLeftByACutShortFacesOnlyForgetIsRewrittenByTheNextSweep() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        var rng = SeededGenerator(seed: 31)
        func encoding() -> [Float] { (0..<128).map { _ in Float(rng.uniform(-0.15, 0.15)) } }
        let ann = encoding()
        let other = encoding()
        try root.ledger.updateKnownPictures(
            upserting: [
                KnownPicture(path: "ann.jpg", person: "ann", size: 1, modified: 1, encoding: ann, problem: nil)
            ], removing: [], tolerance: 0.6)
        let id = UUID()
        try root.ledger.insertCreated(
            LedgerRecord(
                id: id, source: SourceInfo(name: "pair.jpg", bytes: 10, sha256: String(repeating: "d", count: 64)),
                storePath: "store/x/\(id).jpg", createdAt: Date()))
        let faces = [
            Face(location: FaceLocation(top: 0, right: 10, bottom: 10, left: 0), encoding: ann),
            Face(location: FaceLocation(top: 20, right: 30, bottom: 30, left: 20), encoding: other),
        ]
        let final = try root.ledger.complete(
            id, image: ImageInfo(format: .jpeg, width: 100, height: 100), faces: faces, completedAt: Date(),
            duration: 0.1)
        let configuration = DaemonConfiguration(root: root.directory.path)
        let documents = ResultsWriter.documentWriter(for: configuration)
        try documents(final, root.ledger)
        func shown() -> [[Float]] {
            ResultFiles.read(id: id, in: configuration.results)?.faces.map(\.encoding) ?? []
        }
        #expect(shown() == [ann, other])
        #expect(ResultFiles.read(id: id, in: configuration.results)?.faces[0].matches?.first?.name == "ann")

        // The transition alone: what a kill -9 right after the forget's commit leaves.
        #expect(try root.ledger.forgetFaces(id, of: "ann") == 1)
        #expect(try root.ledger.documentsToRewrite(limit: 10) == [id])
        #expect(shown() == [ann, other])
        // A forgetter without a document writer (retention) leaves the mark for one that has one.
        #expect(try Forgetter(configuration: configuration, ledger: root.ledger).sweep() == 0)
        #expect(try root.ledger.documentsToRewrite(limit: 10) == [id])
        // The next forget, compaction or daemon start rewrites the document from the record.
        #expect(try Forgetter(configuration: configuration, ledger: root.ledger, documents: documents).sweep() == 1)
        #expect(shown() == [other])
        #expect(try root.ledger.documentsToRewrite(limit: 10).isEmpty)
        // A document written from the record as it was before (the daemon, mid-write) is written again.
        try ResultsWriter(directory: configuration.results, tombstones: root.ledger).write(final)
        #expect(shown() == [other])
        #expect(try root.ledger.labels(id)?.faces.count == 1)
    }
}
