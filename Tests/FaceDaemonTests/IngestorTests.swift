#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceLedger
import Foundation
import Logging
import Testing

@testable import FaceDaemon
import FaceTestSupport

@Suite(.timeLimit(.minutes(5))) struct IngestorTests {
    @Test func movesFilesIntoTheStoreAndCommitsCreatedRecords() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let png = TinyPNG.make(seed: 1)
        let batch = [
            root.drop("a.png", png),
            root.drop("party/photo.JPG", [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]),
            root.drop("notes.txt", Array("hello".utf8)),
        ]
        let outcome = try root.ingestor.ingest(batch)
        #expect(outcome.created.count == 3)
        #expect(outcome.failed.isEmpty)
        for (candidate, record) in zip(batch, outcome.created) {
            #expect(!FileManager.default.fileExists(atPath: candidate.path), "left in the inbox: \(candidate.name)")
            let stored = try #require(try root.ledger.record(record.id))
            #expect(stored.status == .created)
            #expect(stored.source.name == candidate.name)
            let path = root.location.absolutePath(forRecorded: stored.storePath)
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(path.hasPrefix(root.store.directory + "/" + Store.shard(of: record.id) + "/"))
        }
        let first = outcome.created[0]
        #expect(first.source.bytes == Int64(png.count))
        // Not read yet: the digest is that of the bytes the encoder reads, recorded with the result.
        #expect(first.source.sha256 == SourceInfo.unknownSHA256)
        #expect(first.storePath.hasSuffix(".png"))
        #expect(first.storePath.hasPrefix("store/"))
        #expect(outcome.created[1].storePath.hasSuffix(".jpg"))  // from the content, not the name
        #expect(outcome.created[2].storePath.hasSuffix(".txt"))
        #expect(try root.ledger.queued(limit: 10).count == 3)
    }

    @Test func aUUIDNameKeepsItsUUIDUnlessTheLedgerHasIt() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let chosen = UUID()
        let first = try root.ingestor.ingest([root.drop("\(chosen.lowercased).png", TinyPNG.make(seed: 2))])
        #expect(first.created.map(\.id) == [chosen])
        // The same UUID again (and twice in one batch): fresh UUIDs, nothing lost.
        let second = try root.ingestor.ingest([
            root.drop("again/\(chosen.lowercased).png", TinyPNG.make(seed: 3)),
            root.drop("\(chosen.uuidString).png", TinyPNG.make(seed: 4)),
        ])
        #expect(second.created.count == 2)
        #expect(!second.created.contains { $0.id == chosen })
        #expect(Set(second.created.map(\.id)).count == 2)
        #expect(try root.ledger.stats().total == 3)
        // Its original no longer in the store (another host's store, a removed original): the ledger
        // refuses the UUID when the intents are committed, and the file gets a fresh one.
        let stored = try #require(root.ingestor.store.find(chosen))
        #expect(unlink(stored.path) == 0)
        let third = try root.ingestor.ingest([root.drop("\(chosen.lowercased).png", TinyPNG.make(seed: 5))])
        #expect(third.created.count == 1)
        #expect(third.created.first?.id != chosen)
        #expect(third.created.first?.source.name == "\(chosen.lowercased).png")
        #expect(try root.ledger.record(chosen)?.source.name == "\(chosen.lowercased).png")
        #expect(try root.ledger.intents().isEmpty)
        #expect(try root.ledger.stats().total == 4)
    }

    @Test func nonRegularEntriesAreMovedThemselvesAndFailed() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let target = root.directory.appending("secret.png")
        write(TinyPNG.make(seed: 5), to: target)
        let link = (root.inbox as NSString).appendingPathComponent("link.png")
        #expect(symlink(target, link) == 0)
        let fifo = (root.inbox as NSString).appendingPathComponent("pipe.jpg")
        #expect(mkfifo(fifo, 0o644) == 0)
        let outcome = try root.ingestor.ingest([
            Ingestor.Candidate(path: link, name: "link.png"), Ingestor.Candidate(path: fifo, name: "pipe.jpg"),
        ])
        #expect(outcome.created.isEmpty)
        #expect(outcome.failed.count == 2)
        for record in outcome.failed {
            #expect(record.status == .failed)
            #expect(record.error?.code == .notARegularFile)
            let stored = root.location.absolutePath(forRecorded: record.storePath)
            var status = stat()
            #expect(lstat(stored, &status) == 0, "not in the store: \(stored)")
            #expect(status.st_mode & S_IFMT != S_IFREG)
        }
        #expect(outcome.failed[0].error?.message.contains("symbolic link") == true)
        #expect(outcome.failed[1].error?.message.contains("fifo") == true)
        // The link's target was never touched.
        #expect(FileManager.default.fileExists(atPath: target))
        #expect(try root.ledger.stats().counts[.failed] == 2)
    }

    @Test func anEntryThatVanishedIsSkipped() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let gone = Ingestor.Candidate(
            path: (root.inbox as NSString).appendingPathComponent("gone.png"), name: "gone.png")
        let outcome = try root.ingestor.ingest([gone, root.drop("here.png", TinyPNG.make(seed: 6))])
        #expect(outcome.skipped == 1)
        #expect(outcome.created.map(\.source.name) == ["here.png"])
    }
}

@Suite(.timeLimit(.minutes(5))) struct ReconcilerTests {
    @Test func storeFilesWithoutRecordsGetOneAndMissingDocumentsAreRewritten() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        // A file moved into the store whose record was never committed (a crash between steps 1 and 2).
        let orphanID = UUID()
        let png = TinyPNG.make(seed: 7)
        write(png, to: root.store.path(for: orphanID, ext: "png"))
        // A final record whose document was never written (a crash between steps 4 and 5).
        let created = try root.ingestor.ingest([root.drop("done.png", TinyPNG.make(seed: 8))]).created[0]
        let done = try root.ledger.fail(created.id, Failure(.corruptImage, "test"), completedAt: Date(), duration: 0.1)
        // A leftover temporary document.
        write([1], to: root.results.directory + "/.x.json.123.tmp")

        var report = Reconciler.Report()
        let finals = try root.reconciler.recordOrphans(report: &report)
        #expect(finals.isEmpty)
        #expect(report.orphansRecorded == 1)
        let orphan = try #require(try root.ledger.record(orphanID))
        #expect(orphan.status == .created)
        #expect(orphan.source.name == "\(orphanID.lowercased).png")
        #expect(orphan.source.sha256 == SourceInfo.unknownSHA256)  // recorded with the result
        #expect(orphan.source.bytes == Int64(png.count))

        // A second pass finds nothing new.
        var again = Reconciler.Report()
        _ = try root.reconciler.recordOrphans(report: &again)
        #expect(again.orphansRecorded == 0)

        root.reconciler.removeTemporaryDocuments()
        #expect(!FileManager.default.fileExists(atPath: root.results.directory + "/.x.json.123.tmp"))
        try root.reconciler.rewriteDocuments(report: &report)
        #expect(report.documentsRewritten == 1)
        let document = try #require(ResultsWriter.read(id: done.id, in: root.results.directory))
        #expect(document.status == .failed)
        #expect(document.error?.code == .corruptImage)
        // A damaged document is rewritten; a current one is left alone.
        write(Array("{\"id\":".utf8), to: root.results.path(for: done.id))
        var third = Reconciler.Report()
        try root.reconciler.rewriteDocuments(report: &third)
        #expect(third.documentsRewritten == 1)
        var fourth = Reconciler.Report()
        try root.reconciler.rewriteDocuments(report: &fourth)
        #expect(fourth.documentsRewritten == 0)
        #expect(fourth.finalRecords == 1)
    }

    @Test func nonRegularOrphansAreFailed() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let id = UUID()
        try FileManager.default.createDirectory(
            atPath: root.store.shardDirectory(for: id), withIntermediateDirectories: true)
        #expect(symlink("/etc/passwd", root.store.path(for: id, ext: "jpg")) == 0)
        var report = Reconciler.Report()
        let finals = try root.reconciler.recordOrphans(report: &report)
        #expect(finals.map(\.id) == [id])
        #expect(finals.first?.error?.code == .notARegularFile)
        #expect(report.orphansFailed == 1)
    }
}
