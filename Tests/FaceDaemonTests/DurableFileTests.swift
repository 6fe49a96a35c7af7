import FaceRoot
import Foundation
import Glibc
import Testing
@testable import FaceDaemon

private typealias FS = FileSystemTestSupport

@Suite(.timeLimit(.minutes(5))) struct DurableFileTests {
    @Test func writeAtomicallyCreatesReplacesAndLeavesNoTemporaryFile() throws {
        let scratch = FileSystemScratch("durable")
        let path = scratch.sub("stats.json")
        try DurableFile.writeAtomically("first", to: path, permissions: 0o640)
        #expect(FS.read(path) == Array("first".utf8))
        #expect(FS.lstatOrNil(path).map { $0.st_mode & 0o777 } == 0o640)
        let before = try #require(FS.lstatOrNil(path))
        try DurableFile.writeAtomically([1, 2, 3], to: path)
        #expect(FS.read(path) == [1, 2, 3])
        // Replaced by rename: a new inode, so a reader holding the old one never sees a mix.
        #expect(FS.lstatOrNil(path)?.st_ino != before.st_ino)
        #expect(FS.names(scratch.path) == ["stats.json"])
    }

    @Test func writeAtomicallyReplacesASymlinkItselfNotItsTarget() throws {
        let scratch = FileSystemScratch("durable")
        FS.write(scratch.sub("target"), "keep me")
        #expect(symlink(scratch.sub("target"), scratch.sub("link")) == 0)
        try DurableFile.writeAtomically("new", to: scratch.sub("link"))
        #expect(FS.kind(scratch.sub("link")) == .regular)
        #expect(FS.read(scratch.sub("link")) == Array("new".utf8))
        #expect(FS.read(scratch.sub("target")) == Array("keep me".utf8))
    }

    @Test func errorsCarryTheErrnoAndItsText() {
        let scratch = FileSystemScratch("durable")
        let error = #expect(throws: FileSystemError.self) {
            try DurableFile.writeAtomically("x", to: scratch.sub("missing/dir/file"))
        }
        #expect(error?.code == ENOENT)
        #expect(error?.description.contains("No such file or directory") == true)
        #expect(error?.description.contains(scratch.sub("missing/dir")) == true)
        #expect(FS.names(scratch.path).isEmpty)

        let syncError = #expect(throws: FileSystemError.self) { try DurableFile.syncDirectory(scratch.sub("nope")) }
        #expect(syncError?.code == ENOENT)
    }

    @Test func syncDirectorySucceedsOnADirectoryAndRefusesAFile() throws {
        let scratch = FileSystemScratch("durable")
        FS.write(scratch.sub("entry"), "x")
        #expect(throws: Never.self) { try DurableFile.syncDirectory(scratch.path) }
        // O_DIRECTORY: a regular file is not synced as if it were its directory.
        let error = #expect(throws: FileSystemError.self) { try DurableFile.syncDirectory(scratch.sub("entry")) }
        #expect(error?.code == ENOTDIR)
    }

    @Test func createDirectoriesMakesEveryMissingParentAndAcceptsExistingOnes() throws {
        let scratch = FileSystemScratch("durable")
        let deep = scratch.sub("a/b/c/d")
        try DurableFile.createDirectories(deep)
        #expect(FS.kind(deep) == .directory)
        try DurableFile.createDirectories(deep)  // exists: fine
        try DurableFile.createDirectories(scratch.sub("a/b/e/"))  // trailing slash
        #expect(FS.kind(scratch.sub("a/b/e")) == .directory)
        // An existing component may be a symlink to a directory (a store on another disk).
        #expect(symlink(scratch.sub("a"), scratch.sub("alias")) == 0)
        try DurableFile.createDirectories(scratch.sub("alias/f"))
        #expect(FS.kind(scratch.sub("a/f")) == .directory)
        // A file in the way is ENOTDIR.
        FS.write(scratch.sub("file"), "x")
        let error = #expect(throws: FileSystemError.self) { try DurableFile.createDirectories(scratch.sub("file/sub")) }
        #expect(error?.code == ENOTDIR)
    }

    @Test func renameWithoutReplacingRefusesAnExistingDestination() throws {
        let scratch = FileSystemScratch("durable")
        FS.write(scratch.sub("a"), "a")
        FS.write(scratch.sub("b"), "b")
        let error = #expect(throws: FileSystemError.self) {
            try DurableFile.rename(from: scratch.sub("a"), to: scratch.sub("b"), replacing: false)
        }
        #expect(error?.code == EEXIST)
        #expect(FS.read(scratch.sub("a")) == Array("a".utf8))
        #expect(FS.read(scratch.sub("b")) == Array("b".utf8))
        try DurableFile.rename(from: scratch.sub("a"), to: scratch.sub("c"), replacing: false)
        #expect(!FS.exists(scratch.sub("a")) && FS.read(scratch.sub("c")) == Array("a".utf8))
    }

    // The cross-file-system move, called directly (it works on one file system too).

    @Test func crossFileSystemMoveCopiesARegularFileWithItsModeAndTime() throws {
        let scratch = FileSystemScratch("durable")
        scratch.directory("in")
        scratch.directory("out")
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        FS.write(scratch.sub("in/photo.jpg"), content)
        #expect(chmod(scratch.sub("in/photo.jpg"), 0o604) == 0)
        FS.age(scratch.sub("in/photo.jpg"), secondsAgo: 3600)
        let before = try #require(FS.lstatOrNil(scratch.sub("in/photo.jpg")))
        try DurableFile.moveAcrossFileSystems(from: scratch.sub("in/photo.jpg"), to: scratch.sub("out/x.jpg"))
        #expect(!FS.exists(scratch.sub("in/photo.jpg")))
        #expect(FS.read(scratch.sub("out/x.jpg")) == content)
        let after = try #require(FS.lstatOrNil(scratch.sub("out/x.jpg")))
        #expect(after.st_mode & 0o777 == 0o604)
        #expect(after.st_mtim.tv_sec == before.st_mtim.tv_sec)
        #expect(FS.names(scratch.sub("out")) == ["x.jpg"])  // no temporary left
    }

    @Test func crossFileSystemMoveRecreatesASymlinkWithoutFollowingIt() throws {
        let scratch = FileSystemScratch("durable")
        scratch.directory("in")
        scratch.directory("out")
        FS.write(scratch.sub("secret"), "not to be copied")
        #expect(symlink(scratch.sub("secret"), scratch.sub("in/link.jpg")) == 0)
        #expect(symlink("/nonexistent/target", scratch.sub("in/dangling")) == 0)
        try DurableFile.moveAcrossFileSystems(from: scratch.sub("in/link.jpg"), to: scratch.sub("out/a.jpg"))
        try DurableFile.moveAcrossFileSystems(from: scratch.sub("in/dangling"), to: scratch.sub("out/b.bin"))
        #expect(FS.kind(scratch.sub("out/a.jpg")) == .symlink)
        #expect(FS.readLink(scratch.sub("out/a.jpg")) == scratch.sub("secret"))
        #expect(FS.readLink(scratch.sub("out/b.bin")) == "/nonexistent/target")
        #expect(FS.names(scratch.sub("in")).isEmpty)
        #expect(FS.read(scratch.sub("secret")) == Array("not to be copied".utf8))
    }

    @Test func crossFileSystemMoveRecreatesAFifoWithoutOpeningIt() throws {
        let scratch = FileSystemScratch("durable")
        scratch.directory("in")
        scratch.directory("out")
        #expect(mkfifo(scratch.sub("in/pipe"), 0o640) == 0)
        // Opening the fifo would block this test forever: returning at all shows it was not opened.
        try DurableFile.moveAcrossFileSystems(from: scratch.sub("in/pipe"), to: scratch.sub("out/p.bin"))
        #expect(FS.kind(scratch.sub("out/p.bin")) == .fifo)
        #expect(FS.lstatOrNil(scratch.sub("out/p.bin")).map { $0.st_mode & 0o777 } == 0o640)
        #expect(!FS.exists(scratch.sub("in/pipe")))
    }

    @Test func crossFileSystemMoveRefusesSocketsAndKeepsTheSource() throws {
        let scratch = FileSystemScratch("durable")
        scratch.directory("out")
        FS.makeSocket(scratch.sub("sock"))
        let error = #expect(throws: FileSystemError.self) {
            try DurableFile.moveAcrossFileSystems(from: scratch.sub("sock"), to: scratch.sub("out/s.bin"))
        }
        #expect(error?.code == EOPNOTSUPP)
        #expect(FS.kind(scratch.sub("sock")) == .socket)
        #expect(FS.names(scratch.sub("out")).isEmpty)
    }

    @Test func crossFileSystemMoveNeverReplacesAndCleansUp() throws {
        let scratch = FileSystemScratch("durable")
        FS.write(scratch.sub("src"), "new")
        FS.write(scratch.sub("dst"), "old")
        let error = #expect(throws: FileSystemError.self) {
            try DurableFile.moveAcrossFileSystems(from: scratch.sub("src"), to: scratch.sub("dst"))
        }
        #expect(error?.code == EEXIST)
        #expect(FS.read(scratch.sub("src")) == Array("new".utf8))
        #expect(FS.read(scratch.sub("dst")) == Array("old".utf8))
        #expect(FS.names(scratch.path) == ["dst", "src"])
    }

    @Test func copyAtomicallyCopiesRegularFilesOnly() throws {
        let scratch = FileSystemScratch("durable")
        FS.write(scratch.sub("a.jpg"), [0xFF, 0xD8, 0xFF, 1, 2])
        try DurableFile.copyAtomically(from: scratch.sub("a.jpg"), to: scratch.sub("b.jpg"))
        #expect(FS.read(scratch.sub("b.jpg")) == [0xFF, 0xD8, 0xFF, 1, 2])
        #expect(FS.exists(scratch.sub("a.jpg")))
        let exists = #expect(throws: FileSystemError.self) {
            try DurableFile.copyAtomically(from: scratch.sub("a.jpg"), to: scratch.sub("b.jpg"))
        }
        #expect(exists?.code == EEXIST)
        #expect(symlink(scratch.sub("a.jpg"), scratch.sub("link")) == 0)
        #expect(throws: FileSystemError.self) {
            try DurableFile.copyAtomically(from: scratch.sub("link"), to: scratch.sub("c.jpg"))
        }
        #expect(!FS.exists(scratch.sub("c.jpg")))
        #expect(FS.names(scratch.path) == ["a.jpg", "b.jpg", "link"])
    }

    @Test(
        .enabled(
            if: SecondFileSystem.unavailableReason == nil,
            "needs a second file system: mounting a tmpfs failed and /dev/shm is on /tmp's file system"))
    func moveFallsBackToCopyAcrossARealFileSystemBoundary() throws {
        let scratch = FileSystemScratch("durable")
        let other = try #require(SecondFileSystem.make())
        FS.write(scratch.sub("photo.jpg"), "bytes")
        #expect(FS.lstatOrNil(scratch.path)?.st_dev != FS.lstatOrNil(other.path)?.st_dev)
        let rename = #expect(throws: FileSystemError.self) {
            try DurableFile.rename(from: scratch.sub("photo.jpg"), to: "\(other.path)/x.jpg", replacing: false)
        }
        #expect(rename?.code == EXDEV)
        try DurableFile.move(from: scratch.sub("photo.jpg"), to: "\(other.path)/x.jpg")
        #expect(FS.read("\(other.path)/x.jpg") == Array("bytes".utf8))
        #expect(!FS.exists(scratch.sub("photo.jpg")))
        #expect(FS.names(other.path) == ["x.jpg"])
    }

    @Test func pathHelpers() {
        #expect(DurableFile.parentDirectory(of: "/a/b/c") == "/a/b")
        #expect(DurableFile.parentDirectory(of: "/a") == "/")
        #expect(DurableFile.parentDirectory(of: "name") == ".")
        #expect(DurableFile.parentDirectory(of: "/a/b/") == "/a")
        #expect(DurableFile.baseName(of: "/a/b/c.jpg") == "c.jpg")
        #expect(DurableFile.baseName(of: "c.jpg") == "c.jpg")
        let temporary = DurableFile.temporaryPath(for: "/x/results/id.json")
        #expect(temporary.hasPrefix("/x/results/.facewatch-"))
        #expect(!temporary.contains("id.json"), "a temporary name shows the final one")
        #expect(DurableFile.isTemporaryName(DurableFile.baseName(of: temporary)))
        #expect(Inbox.isWriterTemporaryName(DurableFile.baseName(of: temporary)))
    }
}
