import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// `facewatch report` with the real binary, opened in headless Chromium (Debian's `chromium`,
/// installed by `make deps`): it loads with no console message, shows the totals `stats` prints,
/// names the known person, and links every thumbnail to a file that exists. The screenshot it
/// takes is the README's (`FACEWATCH_UPDATE_SCREENSHOT=1` copies it to docs/report.png).
@Suite(
    .timeLimit(.minutes(5)), .enabled(if: canSee, "\(whyNotSee)"),
    .enabled(if: programPath("chromium") != nil, "no chromium: make deps installs it"))
struct ReportCommandTests {
    /// Runs headless Chromium on `page` with `arguments`; its stderr carries the page's console.
    func chromium(_ arguments: [String], _ page: String) async throws -> ProgramOutput {
        try await runProgram(
            programPath("chromium")!,
            [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr",
                "--v=0", "--user-data-dir=" + NSTemporaryDirectory() + "fw-chromium-\(getpid())",
            ] + arguments + ["file://" + page], timeout: .seconds(120))
    }

    @Test func theReportLoadsCleanlyAndShowsWhatStatsPrints() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        try await root.addCompleted(
            ["two_faces.png", "astronaut_exif6.jpg", "chelsea.png"], matches: ["two_faces.png": [0: [("alice", 0.41)]]])
        try root.addFailed("party.gif", Array("GIF89a-not-decoded".utf8), code: .unsupportedFormat)

        let report = root.directory.appending("report")
        let run = try await runFacewatch(["report", "--root", root.directory.path, "-o", report])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("4 images in the gallery, 3 new thumbnails"), "\(run.stdout)")
        let index = report + "/index.html"

        let stats = try await runFacewatch(["stats", "--root", root.directory.path, "--compact"])
        let totals = try #require(
            try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any], "\(stats.stdout)")

        let dom = try await chromium(["--dump-dom"], index)
        #expect(dom.status == 0, "\(dom.stderr)")
        let consoleLines = dom.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
        #expect(consoleLines.isEmpty, "console: \(consoleLines)")
        for key in ["total", "created", "completed", "failed", "faces"] {
            let value = try #require(totals[key] as? Int, "stats has \(key)")
            #expect(dom.stdout.contains("<dd id=\"\(key)\">\(value)</dd>"), "\(key) = \(value) is shown")
        }
        #expect(dom.stdout.contains("alice 0.41"), "the known person's name and distance are shown")
        #expect(dom.stdout.contains("unsupported_format"), "the failure code is shown")
        #expect(dom.stdout.components(separatedBy: "class=\"box\"").count - 1 == 2 + 2 + 0)

        // Every picture and link of the page is a file beside it.
        let html = try String(contentsOfFile: index, encoding: .utf8)
        let references = html.components(separatedBy: "href=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(references.count >= 4 + 3)
        for reference in references {
            let path = (report as NSString).appendingPathComponent(String(reference).removingPercentEncoding!)
            #expect(FileManager.default.fileExists(atPath: path), "\(reference) exists")
        }
        #expect(!html.contains("<script"), "no script")
        #expect(
            !html.contains("http://")
                || html.components(separatedBy: "http://").dropFirst().allSatisfy {
                    $0.hasPrefix("www.w3.org/2000/svg")
                }, "no network reference")

        let screenshot = root.directory.appending("report.png")
        let shot = try await chromium(
            ["--screenshot=" + screenshot, "--window-size=1100,1000", "--hide-scrollbars"], index)
        #expect(shot.status == 0, "\(shot.stderr)")
        let picture = try decodePicture(screenshot)
        #expect(picture.info.width == 1100 && picture.info.height == 1000)
        if ProcessInfo.processInfo.environment["FACEWATCH_UPDATE_SCREENSHOT"] == "1" {
            let target = repositoryRoot + "/docs/report.png"
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: screenshot, toPath: target)
        }
    }
}
