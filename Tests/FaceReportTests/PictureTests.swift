import FaceCore
import FaceImage
import FaceEncoding
import FaceTestSupport
import Foundation
import Testing

@testable import FaceReport

/// The drawing and encoding parts of FaceReport, on synthetic pictures.
@Suite(.timeLimit(.minutes(1)))
struct PictureTests {
    /// A picture whose every pixel differs from its neighbours (no flat area hides a mistake).
    func gradient(width: Int, height: Int) -> RGBImage {
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width { pixels += [UInt8(x % 256), UInt8(y % 256), UInt8((x + y) % 200)] }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test(arguments: PictureFormat.allCases)
    func anEncodedPictureDecodesToItsSize(format: PictureFormat) throws {
        let picture = gradient(width: 97, height: 41)
        let bytes = try picture.encoded(as: format)
        let decoded = try ImageDecoder.decode(bytes, limits: ImageLimits())
        #expect(decoded.info.width == 97 && decoded.info.height == 41)
        #expect(decoded.info.format == (format == .png ? .png : .jpeg))
        if format == .png { #expect(decoded.pixels == picture.pixels, "PNG is lossless") }
    }

    @Test func aWrongBufferIsRefusedNotCrashed() {
        let picture = gradient(width: 4, height: 4)
        var broken = picture
        broken.pixels.removeLast()
        // Built by hand: the initialiser would refuse it.
        #expect(throws: PictureEncodingError.self) {
            try RGBImage(unchecked: broken.pixels, width: 4, height: 4).encoded(as: .png)
        }
    }

    @Test func scalingDownAveragesAndKeepsTheAspect() {
        let flat = RGBImage(width: 640, height: 320, pixels: [UInt8](repeating: 100, count: 640 * 320 * 3))
        let small = flat.scaledDown(toFit: 160)
        #expect(small.width == 160 && small.height == 80)
        #expect(small.pixels.allSatisfy { $0 == 100 })
        #expect(gradient(width: 50, height: 20).scaledDown(toFit: 160).width == 50, "a small picture stays")
    }

    @Test func boxesAndLabelsStayInsideThePicture() {
        var picture = gradient(width: 120, height: 80)
        let faces = [
            AnnotatedFace(
                location: FaceLocation(top: 50, right: 130, bottom: 90, left: 90),
                matches: [PersonMatch(name: "someone with a long name", distance: 0.5)])
        ]
        let marks = Annotator().draw(faces, on: &picture)
        let label = try! #require(marks[0].label)
        #expect(label.x0 >= 0 && label.x1 <= 120 && label.y0 >= 0 && label.y1 <= 80)
        #expect(marks[0].box == Annotator.Rectangle(x0: 90, y0: 50, x1: 120, y1: 80))
    }

    @Test func theFontDrawsPrintableASCIIAndAQuestionMarkForTheRest() {
        #expect(LabelFont.glyphRows.count == 95 * LabelFont.glyphHeight)
        func ink(_ c: Unicode.Scalar) -> Int {
            (0..<16).reduce(0) { sum, row in sum + (0..<8).filter { LabelFont.isSet(c, column: $0, row: row) }.count }
        }
        #expect(ink(" ") == 0)
        #expect(ink("A") > 10)
        #expect(ink("é") == ink("?"))
    }

    @Test func relativeLinksAndEscaping() {
        #expect(ReportFiles.relativePath(from: "/r/report", to: "/r/results/a.json") == "../results/a.json")
        #expect(ReportFiles.relativePath(from: "/r", to: "/r/results/a.json") == "results/a.json")
        #expect(HTMLText.escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
        #expect(HTMLText.url("thumbs/a b#.jpg") == "thumbs/a%20b%23.jpg")
    }

    @Test func bucketsAreRoundAndAtMost96() {
        #expect(ReportData.bucketSeconds(forWindow: 3600) == 60)
        #expect(ReportData.bucketSeconds(forWindow: 86_400) == 900)
        #expect(ReportData.bucketSeconds(forWindow: 7 * 86_400) == 7200)
        #expect(ReportCharts.niceCeiling(17) == 20 && ReportCharts.niceCeiling(51) == 100)
    }
}
