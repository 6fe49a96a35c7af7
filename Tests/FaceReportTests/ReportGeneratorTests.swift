import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import FaceReport

/// The report over a real ledger and store (no models: the records are completed by hand): paging,
/// newest first, thumbnails made once and removed with their image, the plot's counts.
@Suite(.timeLimit(.minutes(2)))
struct ReportGeneratorTests {
    /// The count axis reads whole, distinct counts: a 0–2 axis is 0, 1, 2 (not 0, 0, 1, 1, 2), and
    /// every axis reaches its highest bar in at most five ticks.
    @Test func countAxisTicksAreDistinctWholeCounts() {
        #expect(ReportCharts.countTicks(highest: 0) == [0, 1])
        #expect(ReportCharts.countTicks(highest: 2) == [0, 1, 2])
        #expect(ReportCharts.countTicks(highest: 37) == [0, 10, 20, 30, 40])
        #expect(ReportCharts.countTicks(highest: 101) == [0, 50, 100, 150])
        for highest in 0...2_000 {
            let ticks = ReportCharts.countTicks(highest: highest)
            #expect(ticks.first == 0 && ticks.count <= 5 && ticks.last! >= highest, "\(highest): \(ticks)")
            #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $0 < $1 }, "\(highest): \(ticks)")
        }
    }

    /// A root with `count` stored PNGs, completed one by one (so each has its own creation time).
    func root(count: Int) throws -> (TestRoot, [UUID]) {
        let root = try TestRoot()
        var ids: [UUID] = []
        for index in 0..<count {
            let bytes = TinyPNG.make(width: 8 + index % 5, height: 6, seed: index)
            let record = try #require(try root.ingestor.ingest([root.drop("p\(index).png", bytes)]).created.first)
            let face = Face(
                location: FaceLocation(top: 1, right: 5, bottom: 5, left: 1),
                encoding: [Float](repeating: 0, count: 128))
            try root.ledger.complete(
                record.id, image: ImageInfo(format: .png, width: 8 + index % 5, height: 6),
                faces: index % 2 == 0 ? [face] : [], completedAt: Date(), duration: 0.1)
            ids.append(record.id)
        }
        return (root, ids)
    }

    func generator(_ root: TestRoot, gallery: Int) -> ReportGenerator {
        let location = root.location
        return ReportGenerator(
            ledger: root.ledger, root: root.directory.path, resultsDirectory: root.directory.appending("results"),
            limits: ImageLimits(), options: ReportGenerator.Options(galleryLimit: gallery, pageSize: 48)
        ) { location.locate(id: $0.id, recorded: $0.storePath) }
    }

    func figures(_ page: String) throws -> [String] {
        let html = try String(contentsOfFile: page, encoding: .utf8)
        return html.components(separatedBy: "<figure id=\"").dropFirst().map { String($0.prefix(36)) }
    }

    @Test func theGalleryIsPagedNewestFirstAndShrinksCleanly() throws {
        let (root, ids) = try root(count: 100)
        defer { root.directory.remove() }
        let output = root.directory.appending("report")

        let first = try generator(root, gallery: 100).write(to: output, since: 3600, imagesPerMinute: 0)
        #expect(
            first == ReportGenerator.Summary(pages: 3, galleryImages: 100, thumbnailsMade: 100, thumbnailsFailed: 0))
        let pages = [output + "/index.html", output + "/page-2.html", output + "/page-3.html"]
        let shown = try pages.map(figures)
        #expect(shown.map(\.count) == [48, 48, 4])
        #expect(shown.flatMap { $0 } == ids.reversed().map { $0.uuidString.lowercased() }, "newest first, each once")
        let index = try String(contentsOfFile: pages[0], encoding: .utf8)
        #expect(index.contains("<dd id=\"total\">100</dd>") && index.contains("<dd id=\"faces\">50</dd>"))
        #expect(index.contains("href=\"page-3.html\"") && index.contains("rel=\"next\""))
        #expect(!index.contains("<script"))

        // Made once: the second report decodes nothing.
        let again = try generator(root, gallery: 100).write(to: output, since: 3600, imagesPerMinute: 0)
        #expect(again.thumbnailsMade == 0)

        // A smaller gallery: the last page and the thumbnails that left the gallery are removed.
        let smaller = try generator(root, gallery: 50).write(to: output, since: 3600, imagesPerMinute: 0)
        #expect(smaller.pages == 2 && smaller.thumbnailsMade == 0)
        #expect(!FileManager.default.fileExists(atPath: pages[2]))
        let thumbnails = try FileManager.default.contentsOfDirectory(atPath: output + "/thumbs")
        #expect(Set(thumbnails) == Set(ids.suffix(50).map { $0.uuidString.lowercased() + ".jpg" }))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: output).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func thePlotCountsEveryFinalResultOfTheWindow() throws {
        let (root, _) = try root(count: 7)
        defer { root.directory.remove() }
        let data = try ReportData.gather(
            ledger: root.ledger, from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(1),
            galleryLimit: 3, imagesPerMinute: 0)
        #expect(data.buckets.map(\.completed).reduce(0, +) == 7)
        #expect(data.buckets.count <= 96 && data.bucketSeconds == 60)
        #expect(data.imagesInWindow == 7 && data.facesInWindow == 4 && data.gallery.count == 3)
        let old = try ReportData.gather(
            ledger: root.ledger, from: Date().addingTimeInterval(-7200), to: Date().addingTimeInterval(-3600),
            galleryLimit: 3, imagesPerMinute: 0)
        #expect(old.imagesInWindow == 0 && old.gallery.isEmpty)
    }
}

/// The report shows every member's photos: it is its writer's alone, and two writers of one
/// directory never write through each other's temporary file.
@Suite(.timeLimit(.minutes(2)))
struct ReportPrivacyTests {
    @Test func theReportsFilesAndFoldersAreTheWritersAlone() throws {
        let (root, _) = try ReportGeneratorTests().root(count: 3)
        defer { root.directory.remove() }
        let output = root.directory.appending("report")
        try ReportGeneratorTests().generator(root, gallery: 3).write(to: output, since: 3600, imagesPerMinute: 0)
        var checked = 0
        for relative in [""] + (FileManager.default.subpaths(atPath: output) ?? []) {
            var status = stat()
            #expect(lstat(output + "/" + relative, &status) == 0)
            #expect(status.st_mode & 0o077 == 0, "\(relative.isEmpty ? "report/" : relative) is readable by others")
            checked += 1
        }
        #expect(checked == 1 + 1 + 1 + 3, "the report, thumbs/, index.html and three thumbnails")
    }

    @Test func aNameAtTheOldFixedTemporaryNameIsNeitherFollowedNorAnObstacle() throws {
        let (root, _) = try ReportGeneratorTests().root(count: 1)
        defer { root.directory.remove() }
        let output = root.directory.appending("report")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let victim = root.directory.appending("victim")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: victim))
        // What another writer (or anyone) left at the name every writer used to share.
        #expect(symlink(victim, output + "/.index.html.tmp") == 0)
        try ReportGeneratorTests().generator(root, gallery: 1).write(to: output, since: 3600, imagesPerMinute: 0)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        #expect(FileManager.default.fileExists(atPath: output + "/index.html"))
    }
}
