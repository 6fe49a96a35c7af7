#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceLedger
import Foundation
import Testing

@testable import FaceDaemon
import FaceTestSupport

/// Who else has a file open decides whether it is taken now, and whether the store keeps its inode
/// or a copy (real files, real leases).
@Suite(.timeLimit(.minutes(5))) struct IntakeSharingTests {
    @Test func theKernelTellsAloneReadersAndWriters() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let path = root.drop("a.png", TinyPNG.make(seed: 31)).path
        func probe() -> FileSharing {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            defer { close(fd) }
            return FileSharing.probe(fd)
        }
        #expect(probe() == .alone)
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        #expect(probe() == .readers)
        close(reader)
        let writer = open(path, O_WRONLY | O_CLOEXEC)
        #expect(probe() == .writers)
        close(writer)
        #expect(probe() == .alone)
    }

    @Test func aLeaseHeldSinceTheCheckShowsThatSomeoneOpenedTheFile() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let path = root.drop("a.png", TinyPNG.make(seed: 32)).path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        defer { close(fd) }
        let sharing = FileSharing.probe(fd)
        #expect(sharing == .alone && sharing.isIntact(fd))
        // Another open (non-blocking, so it returns at once) breaks the lease.
        let late = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        #expect(late < 0 && errno == EWOULDBLOCK)
        #expect(!sharing.isIntact(fd))
    }

    @Test(arguments: [InboxEntry.Arrival.found, .closed])
    func aFileOpenForWritingStaysInTheInboxUntilItsWriterCloses(arrival: InboxEntry.Arrival) throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let png = TinyPNG.make(seed: 33)
        var candidate = root.drop("slow.png", Array(png.prefix(png.count / 2)))
        candidate.arrival = arrival
        let writer = open(candidate.path, O_WRONLY | O_APPEND | O_CLOEXEC)
        #expect(writer >= 0)
        let early = try root.ingestor.ingest([candidate])
        #expect(early.created.isEmpty && early.skipped == 1)
        #expect(FileManager.default.fileExists(atPath: candidate.path))
        #expect(try root.ledger.stats().total == 0)

        #expect(png.dropFirst(png.count / 2).withUnsafeBytes { Glibc.write(writer, $0.baseAddress, $0.count) } > 0)
        close(writer)
        let done = try root.ingestor.ingest([candidate])
        #expect(done.created.count == 1)
        #expect(done.created.first?.source.bytes == Int64(png.count))
    }

    @Test func aFileRenamedInWithItsWriterStillOpenIsStoredAsACopyTheWriterCannotReach() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let png = TinyPNG.make(seed: 34)
        var candidate = root.drop("kept.png", png)
        candidate.arrival = .renamed
        let writer = open(candidate.path, O_WRONLY | O_APPEND | O_CLOEXEC)
        #expect(writer >= 0)
        defer { close(writer) }
        let outcome = try root.ingestor.ingest([candidate])
        let record = try #require(outcome.created.first)
        let stored = root.location.absolutePath(forRecorded: record.storePath)
        var mine = stat()
        var kept = stat()
        #expect(fstat(writer, &mine) == 0 && lstat(stored, &kept) == 0)
        #expect(mine.st_ino != kept.st_ino, "the store kept the writer's inode")
        #expect(Glibc.write(writer, "more", 4) == 4)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored))) == png)
    }

    @Test func aFileSomeoneReadsIsStoredAsACopyAndOneNobodyHasOpenIsRenamed() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let read = root.drop("read.png", TinyPNG.make(seed: 35))
        let alone = root.drop("alone.png", TinyPNG.make(seed: 36))
        let reader = open(read.path, O_RDONLY | O_CLOEXEC)
        defer { close(reader) }
        var readInode = stat()
        var aloneInode = stat()
        #expect(fstat(reader, &readInode) == 0 && lstat(alone.path, &aloneInode) == 0)
        let outcome = try root.ingestor.ingest([read, alone])
        #expect(outcome.created.count == 2)
        let inodes = try outcome.created.map { record -> ino_t in
            var status = stat()
            try #require(lstat(root.location.absolutePath(forRecorded: record.storePath), &status) == 0)
            return status.st_ino
        }
        #expect(inodes[0] != readInode.st_ino, "a reader's descriptor reaches the stored original")
        #expect(inodes[1] == aloneInode.st_ino, "a file nobody had open was copied instead of renamed")
    }

    @Test func aSparseFileWithManyLinksIsStoredWithItsHolesNotWrittenOutDensely() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        // 40 MB of holes around a real PNG's bytes, and a second link to it (copied, not renamed).
        let png = TinyPNG.make(seed: 37)
        let candidate = root.drop("sparse.png", png)
        let fd = open(candidate.path, O_WRONLY | O_CLOEXEC)
        #expect(fd >= 0 && ftruncate(fd, 40_000_000) == 0)
        #expect(Glibc.pwrite(fd, "tail", 4, 30_000_000) == 4)
        close(fd)
        #expect(link(candidate.path, root.directory.appending("other-link")) == 0)
        let record = try #require(try root.ingestor.ingest([candidate]).created.first)
        let stored = root.location.absolutePath(forRecorded: record.storePath)
        var status = stat()
        #expect(lstat(stored, &status) == 0)
        #expect(status.st_size == 40_000_000)
        #expect(Int(status.st_blocks) * 512 < 1_000_000, "\(Int(status.st_blocks) * 512) bytes allocated")
        let copy = try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored)))
        #expect(Array(copy.prefix(png.count)) == png)
        #expect(Array(copy[30_000_000..<30_000_004]) == Array("tail".utf8))
        #expect(copy[png.count..<30_000_000].allSatisfy { $0 == 0 })
    }
}
