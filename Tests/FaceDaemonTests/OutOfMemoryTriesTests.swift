import FaceCore
import Foundation
import Testing

@testable import FaceDaemon

#if canImport(Glibc)
import Glibc
#endif

/// `ENOMEM` is retried, but not for ever: the try `TransientRetry.outOfMemoryTries` in a row that
/// ends in it is the file's final `out_of_memory`; any other outcome starts the count again.
@Suite struct OutOfMemoryTriesTests {
    let outOfMemory = Result<Int, Failure>.failure(Failure(.ioError, "out of memory: test", systemError: ENOMEM))

    @Test func theLastTryAllowedIsFinal() {
        var tries = OutOfMemoryTries()
        let id = UUID()
        for _ in 1..<TransientRetry.outOfMemoryTries {
            guard case .failure(let failure) = tries.settle(id, outOfMemory) else {
                Issue.record("not a failure")
                return
            }
            #expect(TransientRetry.isTransient(failure), "\(failure)")
        }
        guard case .failure(let final) = tries.settle(id, outOfMemory) else {
            Issue.record("not a failure")
            return
        }
        #expect(final.code == .outOfMemory && !TransientRetry.isTransient(final), "\(final)")
        #expect(final.message.contains("\(TransientRetry.outOfMemoryTries) tries"), "\(final.message)")
    }

    @Test func anotherOutcomeStartsTheCountAgain() {
        var tries = OutOfMemoryTries()
        let (id, other) = (UUID(), UUID())
        for _ in 1..<TransientRetry.outOfMemoryTries { _ = tries.settle(id, outOfMemory) }
        // Another file's count is its own.
        if case .failure(let failure) = tries.settle(other, outOfMemory) { #expect(failure.code == .ioError) }
        // A try that fails otherwise (EIO) ends the run of ENOMEMs.
        _ = tries.settle(id, Result<Int, Failure>.failure(Failure(.ioError, "eio", systemError: EIO)))
        if case .failure(let failure) = tries.settle(id, outOfMemory) { #expect(failure.code == .ioError) }
        // A file's own failure is never changed.
        let corrupt = Result<Int, Failure>.failure(Failure(.corruptImage, "bad"))
        if case .failure(let failure) = tries.settle(id, corrupt) { #expect(failure.code == .corruptImage) }
    }
}
