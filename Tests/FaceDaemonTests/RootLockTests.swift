#if canImport(Glibc)
import Glibc
#endif
import FaceRoot
import Foundation
import FaceTestSupport
import Testing

@testable import FaceDaemon

@Suite(.timeLimit(.minutes(5))) struct RootLockTests {
    @Test func secondLockOnTheSameRootIsRefusedNamingTheHolder() throws {
        let root = ScratchDirectory()
        defer { root.remove() }
        #expect(RootLock.holder(root: root.path) == nil)
        let lock = try RootLock(root: root.path)
        let written = try String(contentsOfFile: lock.path, encoding: .utf8)
        #expect(written == "\(getpid())\n")
        #expect(RootLock.holder(root: root.path) == getpid())

        // flock locks belong to an open file description: a second open in this process conflicts
        // exactly like another process would.
        #expect(throws: RootLockError.held(path: lock.path, pid: getpid())) {
            try RootLock(root: root.path)
        }
        let message = RootLockError.held(path: lock.path, pid: 4242).description
        #expect(message.contains("pid 4242"), "\(message)")

        lock.release()
        #expect(RootLock.holder(root: root.path) == nil)
        let again = try RootLock(root: root.path)
        #expect(RootLock.holder(root: root.path) == getpid())
        again.release()
    }

    @Test func createsTheRootDirectory() throws {
        let parent = ScratchDirectory()
        defer { parent.remove() }
        let root = parent.appending("a/b/root")
        let lock = try RootLock(root: root)
        #expect(FileManager.default.fileExists(atPath: root + "/.facewatch.lock"))
        lock.release()
    }

    @Test func findsTheHolderInProcLocks() {
        let locks = """
            1: POSIX  ADVISORY  WRITE 99 00:2a:100 0 EOF
            2: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF
            3: FLOCK  ADVISORY  WRITE 77 fd:01:9999 0 EOF
            """
        let device = UInt64(0xfd) << 8 | 0x01
        #expect(RootLock.lockHolder(in: locks, device: device, inode: 5678) == 1234)
        #expect(RootLock.lockHolder(in: locks, device: device, inode: 1) == nil)
        #expect(RootLock.lockHolder(in: locks, device: 0x2a, inode: 100) == nil)  // POSIX lock, not flock
    }
}
