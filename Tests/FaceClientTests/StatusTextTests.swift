import FaceClient
import FaceCore
import FaceRoot
import FaceDaemon
import FaceLedger
import Foundation
import Testing

/// `facewatch status` prints names a member chose: a name holding terminal control sequences is
/// shown with them escaped, never sent to the terminal.
@Suite struct StatusTextTests {
    @Test func membersNamesReachTheTerminalWithTheirControlCharactersEscaped() {
        let now = Date()
        let hostile = "a\u{1B}]0;owned\u{07}\u{1B}[2J\u{9B}31m\u{202E}gnp.exe"
        let counts = StatsDocument(
            total: 1, created: 0, completed: 0, failed: 1, faces: 0, averageEncoding: [], imagesPerMinute: 0,
            updatedAt: now)
        let failure = ResultDocument(
            id: "1", status: .failed, source: SourceInfo(name: hostile, bytes: 3, sha256: SourceInfo.unknownSHA256),
            completedAt: now, error: Failure(.notAnImage, "\(hostile) is not an image"))
        var report = StatusReport(root: "/r", daemonPID: nil, stats: counts, recentFailures: [failure], figures: nil)
        report.refusals = [InboxRefusal(name: hostile, reason: "open \(hostile): Permission denied", since: now)]
        let text = report.text(now: now)
        let controls = text.unicodeScalars.filter { TerminalText.isUnsafe($0) && $0 != "\n" }
        #expect(controls.isEmpty, "\(controls.map { String($0.value, radix: 16) })")
        #expect(text.contains("a\\u{1B}]0;owned\\u{7}\\u{1B}[2J\\u{9B}31m\\u{202E}gnp.exe"))
    }

    @Test func plainNamesAreUnchanged() {
        #expect(TerminalText.printable("party/été 2024.jpg") == "party/été 2024.jpg")
        #expect(TerminalText.printable("tab\there") == "tab\\u{9}here")
    }
}
