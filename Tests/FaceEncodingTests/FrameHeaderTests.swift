import FaceCore
import Foundation
import Testing

@testable import FaceEncoding
@testable import FaceImage

/// The frame header is found wherever it is: the memory budget's estimate must not depend on how
/// much a file puts before it.
@Suite struct FrameHeaderTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: CodecFixtures.directory.appendingPathComponent(name)))
    }

    /// `jpeg` with `count` comment segments of 64 KiB (`FF FE`, the longest a segment can be) right
    /// after its SOI: its frame header moves `count` × 65,537 bytes further.
    static func padded(_ jpeg: [UInt8], comments count: Int) -> [UInt8] {
        let comment: [UInt8] = [0xFF, 0xFE, 0xFF, 0xFF] + [UInt8](repeating: 0x41, count: 65_533)
        return Array(jpeg[0..<2]) + (0..<count).flatMap { _ in comment } + Array(jpeg[2...])
    }

    static func walk(_ bytes: [UInt8]) -> ImageInfo? {
        FrameHeader.jpeg(fileSize: Int64(bytes.count)) { offset, count in
            guard offset < bytes.count else { return [] }
            return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
        }
    }

    @Test func aJPEGWhoseFrameHeaderIsPastTheFirstMiBHasItsRealSize() throws {
        let original = try Self.fixture("jpeg_baseline.jpg")
        let expected = try #require(original.withUnsafeBytes { ImageHeader.info(ofPrefix: $0) })
        let padded = Self.padded(original, comments: 17)
        #expect(padded.count > 1_100_000)
        // The first MiB alone does not say (what ingest read before)...
        let firstMiB = Array(padded.prefix(1 << 20))
        #expect(firstMiB.withUnsafeBytes { ImageHeader.info(ofPrefix: $0) } == nil)
        // ...walking the segments does, and it is what the decoder finds.
        #expect(Self.walk(padded) == expected)
        #expect(Self.walk(original) == expected)
        let decoded = try ImageDecoder.decode(padded, limits: ImageLimits())
        #expect(decoded.info.width == expected.width && decoded.info.height == expected.height)
    }

    @Test func everyJPEGFixtureWithAHeaderGivesItsPixelCount() throws {
        // Pixel counts: the header reader gives the size after the EXIF orientation, the walk the
        // stored one (the budget needs only their product).
        for name in CodecFixtures.names where name.hasPrefix("jpeg_") {
            let bytes = try Self.fixture(name)
            guard let header = bytes.withUnsafeBytes({ ImageHeader.info(ofPrefix: $0) }) else { continue }
            let walked = Self.walk(bytes)
            #expect(walked.map { $0.width * $0.height } == header.width * header.height, "\(name)")
        }
    }

    @Test func aWalkStopsAtTheFileItsScanOrABrokenSegment() throws {
        let original = try Self.fixture("jpeg_baseline.jpg")
        // A segment longer than the file, a scan before any frame header, no SOI, nothing.
        #expect(Self.walk(Array(Self.padded(original, comments: 2).prefix(100_000))) == nil)
        #expect(Self.walk([0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08] + [UInt8](repeating: 0, count: 16)) == nil)
        #expect(Self.walk(Array(original.dropFirst(2))) == nil)
        #expect(Self.walk([]) == nil)
        // Fill bytes before a marker are skipped.
        let filled = Array(original[0..<2]) + [0xFF, 0xFF, 0xFF] + Array(original[2...])
        #expect(Self.walk(filled) == original.withUnsafeBytes { ImageHeader.info(ofPrefix: $0) })
    }

    @Test func aPNGSizeComesFromItsIHDR() throws {
        let png = try Self.fixture("png_gray1.png")
        let header = png.withUnsafeBytes { ImageHeader.info(ofPrefix: $0) }
        #expect(FrameHeader.png(prefix: Array(png.prefix(24))) == header)
        #expect(FrameHeader.png(prefix: Array(png.prefix(23))) == nil)
    }
}
