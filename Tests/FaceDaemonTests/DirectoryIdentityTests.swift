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

    @Test func daemonsMarkingANewSharedRootAtOnceAgreeOnOneID() async throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        // Store and results only (a shared ledger has no db directory), marked by eight at once.
        let directories = Array(guarded(scratch).prefix(2))
        let outcomes = await withTaskGroup(of: (String, Int)?.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    guard let (identity, problems) = try? DirectoryIdentity.establish(directories) else { return nil }
                    return (identity.rootID, problems.count)
                }
            }
            var all: [(String, Int)?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let ids = Set(outcomes.compactMap { $0?.0 })
        #expect(outcomes.count == 8 && outcomes.allSatisfy { $0 != nil })
        #expect(ids.count == 1, "\(ids)")
        #expect(outcomes.allSatisfy { $0?.1 == 0 })
        for directory in directories {
            let marker = try String(contentsOfFile: directory.path + "/.facewatch-root", encoding: .utf8)
            #expect(marker == ids.first! + "\n")
        }
        // No temporary marker file is left behind.
        for directory in directories {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(names == [".facewatch-root"], "\(names)")
        }
    }

    @Test func aPausedDirectorySaysWhatToRunWhenItIsTheRightOne() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let directories = guarded(scratch)
        let (identity, _) = try DirectoryIdentity.establish(directories)
        try "someone-else\n".write(toFile: directories[1].path + "/.facewatch-root", atomically: true, encoding: .utf8)
        let text = DirectoryIdentity.describe(identity.check())
        #expect(text.contains("run: echo \(identity.rootID) > \(directories[1].path)/.facewatch-root"), "\(text)")
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
