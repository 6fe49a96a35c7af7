import FaceCore
import Testing
@testable import FaceEncoding
@testable import FaceImage

/// WebP, HEIF and AVIF beyond what the fixtures' expectations show (ImageDecoderTests checks those,
/// and cuts and flips the bits of every one): the limits read from their headers before anything
/// is decoded, and the size the memory budget reads from a file's first bytes.
@Suite("Phone formats: limits and headers", .timeLimit(.minutes(2)))
struct PhoneFormatTests {
    static let limits = ImageLimits()

    static func failure(_ name: String, limits: ImageLimits = limits) throws -> Failure? {
        let bytes = try CodecFixtures.bytes(name)
        do {
            _ = try ImageDecoder.decode(bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("webp_bomb.webp", "WebP is 16384x16384 = 268435456 pixels, over the limit of 50000000"),
        ("heic_ispe_huge.heic", "HEIF's coded image is 20000x20000 = 400000000 pixels, over the limit of 50000000"),
        ("avif_ispe_huge.avif", "AVIF is 20000x20000 = 400000000 pixels, over the limit of 50000000"),
    ])
    func bombsAreRefusedFromTheirHeaders(name: String, message: String) throws {
        #expect(try CodecFixtures.bytes(name).count < 40_000)
        #expect(try Self.failure(name) == Failure(.tooManyPixels, message))
    }

    /// The header says 16x16 (ispe) cropped to 48x32 (clap), the HEVC stream 64x64: with a limit
    /// between the two, the stream's size in its parameter set is refused before libde265 allocates
    /// a picture.
    @Test func heifStreamLargerThanItsHeaderIsRefusedAtTheLimit() throws {
        let failure = try #require(try Self.failure("heic_ispe_small.heic", limits: ImageLimits(maxPixels: 2000)))
        #expect(failure == Failure(.tooManyPixels, "HEIF's HEVC stream is 64x64 = 4096 pixels, over the limit of 2000"))
    }

    /// The same for AV1: dav1d is told the header's size as its frame size limit.
    @Test func avifStreamLargerThanItsHeaderIsRefused() throws {
        let failure = try #require(try Self.failure("avif_ispe_small.avif"))
        #expect(failure.code == .corruptImage)
        #expect(failure.message.contains("AVIF"))
    }

    @Test func otherHeifIsCorruptNotUnsupported() throws {
        // An ftyp box with HEIF brands and nothing else: a HEIF file that cannot be read.
        let failure = try #require(try Self.failure("other.heic"))
        #expect(failure.code == .corruptImage)
        #expect(failure.message.contains("HEIF"))
    }

    /// The memory budget reads a file's first MiB: a HEIF or AVIF larger than that still gives its
    /// size (from its largest ispe box: the coded size, which an HEIF's crop may make larger than
    /// the decoded one, never smaller), like JPEG, PNG and WebP.
    @Test(arguments: [
        "webp_lossy.webp", "webp_animated.webp", "heic_8bit.heic", "heic_10bit.heic", "avif_8bit.avif",
    ])
    func headerIsReadFromTheFirstBytes(name: String) throws {
        let bytes = try CodecFixtures.bytes(name)
        let decoded = try ImageDecoder.decode(bytes, limits: Self.limits)
        let whole = bytes.withUnsafeBytes { ImageHeader.info(ofPrefix: $0) }
        #expect(whole == decoded.info)
        // The first 600 bytes hold the boxes or chunks before the coded data.
        let prefix = Array(bytes.prefix(600))
        let info = try #require(prefix.withUnsafeBytes { ImageHeader.info(ofPrefix: $0) }, "\(name)")
        #expect(info.format == decoded.info.format)
        #expect(info.width * info.height >= decoded.info.width * decoded.info.height)
    }

    @Test(arguments: [("webp_lossy.webp", ImageFormat.webp), ("heic_8bit.heic", .heif), ("avif_8bit.avif", .avif)])
    func formatIsRecorded(name: String, format: ImageFormat) throws {
        let image = try ImageDecoder.decode(try CodecFixtures.bytes(name), limits: Self.limits)
        #expect(image.info.format == format)
        #expect(image.info.width == 48 && image.info.height == 32)
    }
}
