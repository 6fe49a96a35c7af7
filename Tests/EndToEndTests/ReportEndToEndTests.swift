#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// The daemon's `report` setting: the real binary writes DIR/index.html itself, with the totals
/// `stats` prints and a thumbnail per completed image. A report is written when the daemon starts and
/// then at most once a minute; the test restarts the daemon rather than wait a minute.
@Suite(.tags(.endToEnd), .timeLimit(.minutes(5)), .enabled(if: canRunDaemon, "\(whyNot)"))
struct ReportEndToEndTests {
    @Test func theDaemonWritesTheReportWithTheTotals() async throws {
        let root = TestRoot("report")
        let staging = root.staging()
        let first = try await root.startDaemon()
        let images = [TinyPNG.make(width: 48, height: 32, seed: 11), TinyPNG.make(width: 40, height: 40, seed: 12)]
        for (index, bytes) in images.enumerated() {
            write(bytes, to: staging + "/p\(index).png")
            #expect(rename(staging + "/p\(index).png", root.inbox + "/p\(index).png") == 0)
        }
        write(Array("GIF89a".utf8) + noise(32, seed: 13), to: staging + "/a.gif")
        #expect(rename(staging + "/a.gif", root.inbox + "/a.gif") == 0)
        #expect(await eventually { root.documentCount() >= 3 }, "\(first.log)")
        first.stop()

        // Relative to the root, like the other directories.
        let daemon = try await root.startDaemon(["--report", "html"])
        defer { daemon.stop() }
        let index = root.root + "/html/index.html"
        #expect(await eventually { FileManager.default.fileExists(atPath: index) }, "\(daemon.log)")
        let html = try String(contentsOfFile: index, encoding: .utf8)
        #expect(html.contains("<dd id=\"total\">3</dd>"), "\(html.prefix(2000))")
        #expect(html.contains("<dd id=\"completed\">2</dd>") && html.contains("<dd id=\"failed\">1</dd>"))
        #expect(html.contains("unsupported_format"))
        let thumbnails = try FileManager.default.contentsOfDirectory(atPath: root.root + "/html/thumbs")
        #expect(thumbnails.filter { $0.hasSuffix(".jpg") }.count == 2, "\(thumbnails)")
        #expect(!FileManager.default.fileExists(atPath: root.root + "/html/.index.html.tmp"))
    }
}
