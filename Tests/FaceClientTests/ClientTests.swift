#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import FaceTestSupport
import Testing

@testable import FaceClient
import FaceDaemon

@Suite(.timeLimit(.minutes(5))) struct SubmitterTests {
    @Test func expandsDirectoriesSkippingWritersTemporaryFiles() throws {
        let directory = ScratchDirectory()
        defer { directory.remove() }
        for name in ["b.jpg", "a.png", "sub/c.jpeg", "sub/.hidden.jpg", "d.part", "e.tmp", "f~", "sub/deeper/g.PNG"] {
            write([1], to: directory.appending("in/" + name))
        }
        #expect(symlink(directory.appending("in/a.png"), directory.appending("in/link.png")) == 0)
        let files = try Submitter.expand([directory.appending("in"), directory.appending("in/b.jpg")])
        let relative = files.map { $0.replacingOccurrences(of: directory.appending("in") + "/", with: "") }
        #expect(relative == ["a.png", "b.jpg", "sub/c.jpeg", "sub/deeper/g.PNG", "b.jpg"])
        #expect(throws: ClientError.self) { try Submitter.expand([directory.appending("missing")]) }
    }

    @Test func copiesUnderTheUUIDAndAnExtension() throws {
        let directory = ScratchDirectory()
        defer { directory.remove() }
        let inbox = directory.appending("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        let png = TinyPNG.make(seed: 3)
        write(png, to: directory.appending("Photo.PNG"))
        write([1, 2, 3], to: directory.appending("noext"))
        let submitter = Submitter(inbox: inbox)
        let first = try submitter.submit(directory.appending("Photo.PNG"))
        #expect(first.inboxName == first.id.lowercased + ".png")
        #expect(FileManager.default.contents(atPath: inbox + "/" + first.inboxName) == Data(png))
        #expect(Store.requestedID(fromName: first.inboxName) == first.id)
        let second = try submitter.submit(directory.appending("noext"))
        #expect(second.inboxName == second.id.lowercased)
        // The source is left alone; nothing but the two files is in the inbox (no temporary left).
        #expect(FileManager.default.fileExists(atPath: directory.appending("Photo.PNG")))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: inbox).sorted()
                == [first.inboxName, second.inboxName].sorted())
        #expect(throws: ClientError.self) { try submitter.submit(directory.appending("absent.jpg")) }
        // A name that would be a writer's temporary one loses its extension: the daemon takes it.
        write(png, to: directory.appending("photo.tmp"))
        let third = try submitter.submit(directory.appending("photo.tmp"))
        #expect(third.inboxName == third.id.lowercased)
        #expect(!WriterTemporaryName.matches(third.inboxName))
        // The digest of the bytes sent; a result of other content under the same UUID is refused.
        #expect(third.sha256 == SHA256.hex(png))
        var document = ResultDocument(
            id: third.id.lowercased, status: .completed, source: SourceInfo(name: "x", bytes: 1, sha256: third.sha256))
        #expect(Submitter.mismatch(document, for: third) == nil)
        document.source?.sha256 = SHA256.hex([1, 2, 3])
        #expect(Submitter.mismatch(document, for: third) != nil)
        document.source?.sha256 = SourceInfo.unknownSHA256
        #expect(Submitter.mismatch(document, for: third) != nil)
    }
}

@Suite(.timeLimit(.minutes(5))) struct QueriesTests {
    /// A root whose ledger has three completed images (one without faces) and a failure.
    func populated() throws -> (TestRoot, [LedgerRecord]) {
        let root = try TestRoot()
        let created = try root.ingestor.ingest((0..<4).map { root.drop("q\($0).png", TinyPNG.make(seed: 50 + $0)) })
            .created
        func face(_ value: Float) -> Face {
            Face(
                location: FaceLocation(top: 0, right: 1, bottom: 1, left: 0),
                encoding: [Float](repeating: value, count: 128))
        }
        let image = ImageInfo(format: .png, width: 4, height: 4)
        _ = try root.ledger.complete(
            created[0].id, image: image, faces: [face(1), face(2)], completedAt: Date(), duration: 0.1)
        _ = try root.ledger.complete(created[1].id, image: image, faces: [face(6)], completedAt: Date(), duration: 0.1)
        _ = try root.ledger.complete(created[2].id, image: image, faces: [], completedAt: Date(), duration: 0.1)
        _ = try root.ledger.fail(created[3].id, Failure(.corruptImage, "bad"), completedAt: Date(), duration: 0.1)
        return (root, created)
    }

    func configuration(_ root: TestRoot) -> DaemonConfiguration {
        DaemonConfiguration(root: root.directory.path)
    }

    @Test func averageIsTheTrueMeanOverFacesNotImages() throws {
        let (root, _) = try populated()
        defer { root.directory.remove() }
        let queries = try Queries(configuration: configuration(root))
        let all = try queries.average(from: nil, to: nil)
        #expect(all.faces == 3)
        #expect(all.images == 3)
        #expect(all.mean.count == 128)
        #expect(all.mean.allSatisfy { abs($0 - 3) < 1e-12 })  // (1 + 2 + 6) / 3, not ((1+2)/2 + 6) / 2
        let window = try queries.average(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(60))
        #expect(window == AverageDocument(from: window.from, to: window.to, images: 3, faces: 3, mean: all.mean))
        let future = try queries.average(from: Date().addingTimeInterval(3600), to: nil)
        #expect(future.faces == 0 && future.images == 0 && future.mean.isEmpty)
        #expect(future.json.serialized().contains("\"average_encoding\":[]"))
    }

    @Test func statsStatusAndResult() throws {
        let (root, created) = try populated()
        defer { root.directory.remove() }
        let queries = try Queries(configuration: configuration(root))
        let stats = try queries.stats()
        #expect(stats.total == 4 && stats.completed == 3 && stats.failed == 1 && stats.created == 0 && stats.faces == 3)
        #expect(stats.imagesPerMinute == 0)  // no daemon runs
        let status = try queries.status()
        #expect(status.daemonPID == nil)
        #expect(status.recentFailures.map(\.id) == [created[3].id.lowercased])
        let text = status.text()
        #expect(text.contains("not running"))
        #expect(text.contains("corrupt_image"))
        #expect(try queries.result(created[1].id)?.faces.count == 1)
        #expect(try queries.result(UUID()) == nil)
    }

    @Test func aRootWithoutALedgerSaysSo() {
        let directory = ScratchDirectory()
        defer { directory.remove() }
        #expect(throws: ClientError.self) { try Queries(configuration: DaemonConfiguration(root: directory.path)) }
    }
}
