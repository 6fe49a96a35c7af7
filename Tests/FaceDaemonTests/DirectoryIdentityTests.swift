import FaceCore
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The root's identity markers and the errors that pass.
@Suite(.timeLimit(.minutes(1))) struct DirectoryIdentityTests {
    func guarded(_ scratch: ScratchDirectory) -> [DirectoryIdentity.Guarded] {
        ["store", "results", "db"].map { DirectoryIdentity.Guarded(role: $0, path: scratch.appending($0)) }
    }

    @Test func aNewRootIsMarkedAndAMissingOrForeignMarkerIsAProblem() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let directories = guarded(scratch)
        let (identity, problems) = try DirectoryIdentity.establish(directories)
        #expect(problems.isEmpty)
        for directory in directories {
            let marker = try String(contentsOfFile: directory.path + "/.facewatch-root", encoding: .utf8)
            #expect(marker == identity.rootID + "\n")
        }
        #expect(identity.check().isEmpty)

        // The store renamed away: missing, and a new start creates nothing in its place.
        #expect(rename(directories[0].path, scratch.appending("store.away")) == 0)
        #expect(identity.check().map(\.directory.role) == ["store"])
        #expect(identity.check().first?.foundID == nil)
        let (again, found) = try DirectoryIdentity.establish(directories)
        #expect(again.rootID == identity.rootID)
        #expect(found.map(\.directory.role) == ["store"])
        #expect(!FileManager.default.fileExists(atPath: directories[0].path))
        #expect(rename(scratch.appending("store.away"), directories[0].path) == 0)
        #expect(identity.check().isEmpty)

        // Another root's results directory: foreign, naming the id it holds.
        try "someone-else\n".write(toFile: directories[1].path + "/.facewatch-root", atomically: true, encoding: .utf8)
        let foreign = identity.check()
        #expect(foreign.map(\.directory.role) == ["results"])
        #expect(foreign.first?.foundID == "someone-else")
        #expect(DirectoryIdentity.describe(foreign).contains("belongs to another facewatch root"))
    }

    @Test func transientErrorsAreTheMachinesNotTheFiles() {
        for code in [EMFILE, ENFILE, EIO, ESTALE, ENOSPC, ETIMEDOUT] {
            #expect(TransientRetry.isTransient(Failure(.ioError, "x", systemError: code)))
        }
        for code in [EACCES, ELOOP, ENOENT, EISDIR] {
            #expect(!TransientRetry.isTransient(Failure(.ioError, "x", systemError: code)))
        }
        #expect(!TransientRetry.isTransient(Failure(.ioError, "no errno")))
        #expect(!TransientRetry.isTransient(Failure(.corruptImage, "x", systemError: EIO)))
        #expect((1...8).map(TransientRetry.delay(retry:)) == [1, 2, 4, 8, 16, 32, 60, 60])
        // The errno is not part of a failure's identity (it is never stored).
        #expect(Failure(.ioError, "x", systemError: EIO) == Failure(.ioError, "x"))
    }
}
