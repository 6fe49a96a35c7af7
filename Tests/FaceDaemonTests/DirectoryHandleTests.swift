import FaceCore
import FaceRoot
import Foundation
import Glibc
import Testing

@testable import FaceDaemon

@Suite(.timeLimit(.minutes(1))) struct DirectoryHandleTests {
    @Test func noSymlinkIsFollowedAndNothingLeavesTheTree() throws {
        let scratch = FileSystemScratch("handle")
        scratch.directory("inbox/a/b")
        scratch.directory("outside")
        FileManager.default.createFile(atPath: scratch.sub("outside/secret"), contents: Data([1]))
        #expect(symlink(scratch.sub("outside"), scratch.sub("inbox/a/link")) == 0)
        let inbox = try DirectoryHandle.open(scratch.sub("inbox"))

        let b = try inbox.openDirectory(beneath: "a/b")
        #expect(FileStatus.of(b)?.inode == FileStatus.lstat(scratch.sub("inbox/a/b"))?.inode)
        // A symlink anywhere in the path (ELOOP, or ENOTDIR: O_DIRECTORY with O_NOFOLLOW on a link),
        // `..`, `.` or an empty component: refused.
        for (relative, code) in [
            ("a/link", ELOOP), ("a/link/x", ELOOP), ("..", EINVAL), ("a/../a", EINVAL),
            ("a//b", EINVAL), ("./a", EINVAL),
        ] {
            do {
                _ = try inbox.openDirectory(beneath: relative)
                Issue.record("\(relative) was opened")
            } catch {
                #expect(error.code == code || (code == ELOOP && error.code == ENOTDIR), "\(relative): \(error)")
            }
        }
        // The entry itself is never followed either.
        let a = try inbox.openDirectory(beneath: "a")
        #expect(try a.status(of: "link").kind == .symlink)
        do {
            _ = try a.openRegularFile("link")
            Issue.record("opened through a symlink")
        } catch {
            #expect(error.code == ELOOP)
        }
        // Renames go between the two directories' descriptors, never replacing.
        FileManager.default.createFile(atPath: scratch.sub("inbox/a/f"), contents: Data([2]))
        FileManager.default.createFile(atPath: scratch.sub("inbox/a/b/f"), contents: Data([3]))
        do {
            try a.rename("f", to: b, as: "f", replacing: false)
            Issue.record("replaced an existing entry")
        } catch {
            #expect(error.code == EEXIST)
        }
        try a.rename("f", to: b, as: "g", replacing: false)
        #expect(FileManager.default.contents(atPath: scratch.sub("inbox/a/b/g")) == Data([2]))
    }

    @Test func aFileOverTheLimitIsRefusedFromItsSizeAndAReadIsBoundedByIt() throws {
        let scratch = FileSystemScratch("content")
        let path = scratch.sub("sparse")
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(ftruncate(fd, 20 << 30) == 0)  // 20 GB of holes
        switch FileContent.read(descriptor: fd, name: "sparse", maxBytes: 50_000_000) {
        case .failure(let failure): #expect(failure.code == .tooLarge)
        case .success: Issue.record("a 20 GB file was read")
        }
        #expect(ftruncate(fd, 5) == 0)
        #expect(pwrite(fd, "hello", 5, 0) == 5)
        switch FileContent.read(descriptor: fd, name: "small", maxBytes: 50_000_000) {
        case .failure(let failure): Issue.record("\(failure)")
        case .success(let content):
            #expect(content.bytes == Array("hello".utf8))
            #expect(content.sha256 == SHA256.hex(Array("hello".utf8)))
        }
    }
}
