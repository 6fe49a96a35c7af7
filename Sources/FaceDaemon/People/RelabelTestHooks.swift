import Foundation

extension TestHooks {
    #if DEBUG
    /// `FACEWATCH_TEST_RELABEL_PAUSE_MS=n`: a relabel takes one record per batch and waits `n` ms
    /// between writing a batch's documents and committing it, so that a test can kill the daemon in
    /// the middle of a relabel.
    private static let relabelPause = ProcessInfo.processInfo.environment["FACEWATCH_TEST_RELABEL_PAUSE_MS"]
        .flatMap { Int($0) }
    #endif

    /// Records per relabel batch when a test asks for a slow relabel (debug builds only).
    static var relabelBatchSize: Int? {
        #if DEBUG
        return relabelPause == nil ? nil : 1
        #else
        return nil
        #endif
    }

    /// Waits the test's relabel pause, if any (debug builds only).
    static func pauseInRelabel() {
        #if DEBUG
        if let relabelPause { usleep(UInt32(relabelPause) * 1000) }
        #endif
    }
}
