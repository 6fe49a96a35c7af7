import Foundation

/// Test hooks of the daemon's compaction, in debug builds only: the crash tests stop the daemon at a
/// point of the compaction and kill it there.
enum CompactionTestHooks {
    #if DEBUG
    /// `FACEWATCH_TEST_HOLD_COMPACTION=copied|renamed` with `FACEWATCH_TEST_PAUSE_GATE=path`: the
    /// compaction creates `path.compacting` at that point and then waits for a signal for ever (the
    /// test sends `SIGKILL`).
    private static let point = ProcessInfo.processInfo.environment["FACEWATCH_TEST_HOLD_COMPACTION"]
    private static let gate = ProcessInfo.processInfo.environment["FACEWATCH_TEST_PAUSE_GATE"]

    static func hold(_ at: String) {
        guard at == point, let gate else { return }
        FileManager.default.createFile(atPath: gate + ".compacting", contents: nil)
        while true { pause() }
    }
    #else
    static func hold(_ at: String) {}
    #endif
}
