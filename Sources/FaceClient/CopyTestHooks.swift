#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Hooks that let the tests cut a ledger copy short where they choose. Debug builds only (the tests
/// run the debug binary); a release build has none.
enum CopyTestHooks {
    #if DEBUG
    private static let environment = ProcessInfo.processInfo.environment
    /// `FACEWATCH_TEST_COPY_BATCH=n`: batches of n records instead of `LedgerTransfer.batchSize`.
    private static let batch = environment["FACEWATCH_TEST_COPY_BATCH"].flatMap { Int($0) }
    /// `FACEWATCH_TEST_KILL_COPY_AFTER=n`: the process kills itself (`SIGKILL`) once n records are
    /// committed, as a copy killed halfway would be.
    private static let killAfter = environment["FACEWATCH_TEST_KILL_COPY_AFTER"].flatMap { Int($0) }
    #endif

    /// Records per batch: the test's, else `standard`.
    static func batchSize(_ standard: Int) -> Int {
        #if DEBUG
        if let batch, batch > 0 { return batch }
        #endif
        return standard
    }

    /// Kills the process if the test asked for it at `committed` records.
    static func killIfAsked(committed: Int) {
        #if DEBUG
        if let killAfter, committed >= killAfter { kill(getpid(), SIGKILL) }
        #endif
    }
}
