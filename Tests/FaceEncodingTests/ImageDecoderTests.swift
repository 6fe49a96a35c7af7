import CImageCodec
import FaceCore
import FaceImage
import Foundation
import Testing
@testable import FaceEncoding

/// The committed codec fixtures (Fixtures/codec, made by scripts/make_codec_fixtures.py with a pinned
/// Pillow) and what Pillow makes of each one.
enum CodecFixtures {
    struct Expectation: Decodable, Sendable {
        var width: Int?
        var height: Int?
        var sha256: String?
        var error: String?
        var note: String?
        /// HEIF: Pillow's pixels (a file beside the fixtures) and how far a sample may differ.
        var pillowPixels: String?
        var maxDifference: Int?

        enum CodingKeys: String, CodingKey {
            case width, height, sha256, error, note
            case pillowPixels = "pillow_pixels"
            case maxDifference = "max_difference"
        }
    }

    private struct Document: Decodable {
        var pillow: String
        var images: [String: Expectation]
    }

    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/codec")

    static let expectations: [String: Expectation] = {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("expected.json").path),
            let document = try? JSONDecoder().decode(Document.self, from: data)
        else { return [:] }
        return document.images
    }()

    static var names: [String] { expectations.keys.sorted() }

    /// Fixtures that decode (the starting points of the corruption tests).
    static var decodableNames: [String] { names.filter { expectations[$0]?.error == nil } }

    static func bytes(_ name: String) throws -> [UInt8] {
        let path = directory.appendingPathComponent(name).path
        let data = try #require(FileManager.default.contents(atPath: path), "missing fixture \(name)")
        return [UInt8](data)
    }
}

@Suite("ImageDecoder", .timeLimit(.minutes(10)))
struct ImageDecoderTests {
    static let defaultLimits = ImageLimits()

    static func decodeResult(_ bytes: [UInt8], limits: ImageLimits = defaultLimits) -> Result<DecodedImage, Failure> {
        Result { () throws(Failure) -> DecodedImage in try ImageDecoder.decode(bytes, limits: limits) }
    }

    static func failureCode(_ bytes: [UInt8], limits: ImageLimits = defaultLimits) -> FailureCode? {
        if case .failure(let failure) = decodeResult(bytes, limits: limits) { return failure.code }
        return nil
    }

    // MARK: Pixels, sizes and errors equal to Pillow's

    @Test func fixturesArePresent() {
        // Guards the parameterised test below against silently running on nothing.
        #expect(CodecFixtures.names.count >= 50)
        #expect(CodecFixtures.decodableNames.count >= 35)
    }

    @Test(arguments: CodecFixtures.names)
    func fixtureDecodesLikePillow(name: String) throws {
        let expected = try #require(CodecFixtures.expectations[name])
        let bytes = try CodecFixtures.bytes(name)
        switch Self.decodeResult(bytes) {
        case .success(let image):
            #expect(expected.error == nil, "\(name) decoded but should fail with \(expected.error ?? "")")
            #expect(image.info.width == expected.width)
            #expect(image.info.height == expected.height)
            #expect(image.pixels.count == image.info.width * image.info.height * 3)
            if let pillowPixels = expected.pillowPixels, let maxDifference = expected.maxDifference {
                let reference = try CodecFixtures.bytes(pillowPixels)
                #expect(reference.count == image.pixels.count)
                let largest = zip(reference, image.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
                #expect(largest <= maxDifference, "\(name): a sample differs from Pillow's by \(largest)")
            } else {
                #expect(SHA256.hex(image.pixels) == expected.sha256, "\(name): pixels differ from Pillow's")
            }
            #expect(image.info.format == ImageDecoder.sniff(bytes).imageFormat)
        case .failure(let failure):
            #expect(failure.code.rawValue == expected.error, "\(name): \(failure)")
            #expect(!failure.message.isEmpty)
            #expect(!failure.message.contains("\n"))
        }
    }

    // MARK: EXIF orientation

    /// Pillow's transposes written out independently: where stored pixel (x, y) of a w x h image lands.
    static func orientedPosition(_ orientation: Int, x: Int, y: Int, w: Int, h: Int) -> (Int, Int) {
        switch orientation {
        case 2: (w - 1 - x, y)  // FLIP_LEFT_RIGHT
        case 3: (w - 1 - x, h - 1 - y)  // ROTATE_180
        case 4: (x, h - 1 - y)  // FLIP_TOP_BOTTOM
        case 5: (y, x)  // TRANSPOSE
        case 6: (h - 1 - y, x)  // ROTATE_270
        case 7: (h - 1 - y, w - 1 - x)  // TRANSVERSE
        case 8: (y, w - 1 - x)  // ROTATE_90
        default: (x, y)
        }
    }

    @Test(arguments: 1...8)
    func exifOrientationMovesEveryPixel(orientation: Int) throws {
        let upright = try ImageDecoder.decode(try CodecFixtures.bytes("jpeg_exif1.jpg"), limits: Self.defaultLimits)
        let oriented = try ImageDecoder.decode(
            try CodecFixtures.bytes("jpeg_exif\(orientation).jpg"),
            limits: Self.defaultLimits)
        let w = upright.info.width
        let h = upright.info.height
        let transposes = orientation >= 5
        #expect(oriented.info.width == (transposes ? h : w))
        #expect(oriented.info.height == (transposes ? w : h))
        var mismatches = 0
        for y in 0..<h {
            for x in 0..<w {
                let (ox, oy) = Self.orientedPosition(orientation, x: x, y: y, w: w, h: h)
                let source = (y * w + x) * 3
                let target = (oy * oriented.info.width + ox) * 3
                if upright.pixels[source..<source + 3] != oriented.pixels[target..<target + 3] { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func pngExifChunkIsApplied() throws {
        let plain = try ImageDecoder.decode(try CodecFixtures.bytes("png_rgb.png"), limits: Self.defaultLimits)
        let rotated = try ImageDecoder.decode(try CodecFixtures.bytes("png_exif6.png"), limits: Self.defaultLimits)
        #expect(rotated.info.width == plain.info.height && rotated.info.height == plain.info.width)
        // Orientation 6: the stored top-left pixel ends at the top-right.
        let topRight = (rotated.info.width - 1) * 3
        #expect(Array(rotated.pixels[topRight..<topRight + 3]) == Array(plain.pixels[0..<3]))
    }

    // MARK: Limits

    @Test func byteLimitIsChecked() throws {
        let bytes = try CodecFixtures.bytes("jpeg_baseline.jpg")
        let over = Self.decodeResult(bytes, limits: ImageLimits(maxBytes: bytes.count - 1))
        guard case .failure(let failure) = over else {
            Issue.record("a file over the byte limit decoded")
            return
        }
        #expect(failure.code == .tooLarge)
        #expect(failure.message.contains("\(bytes.count)") && failure.message.contains("\(bytes.count - 1)"))
        #expect(Self.failureCode(bytes, limits: ImageLimits(maxBytes: bytes.count)) == nil)
    }

    @Test(arguments: [
        "jpeg_baseline.jpg", "png_rgb.png", "jpeg_exif6.jpg", "webp_lossy.webp", "webp_animated.webp",
        "heic_8bit.heic", "heic_orient6.heic", "avif_8bit.avif", "avif_orient6.avif",
    ])
    func pixelLimitIsChecked(name: String) throws {
        let bytes = try CodecFixtures.bytes(name)
        let image = try ImageDecoder.decode(bytes, limits: Self.defaultLimits)
        // An HEIF's limit applies to its coded size too, which the decoder allocates: the HEIF fixtures
        // are coded 64x64 (the encoder's padding) and cropped to 48x32 by their clap box.
        let pixels = image.info.format == .heif ? 64 * 64 : image.info.width * image.info.height
        #expect(Self.failureCode(bytes, limits: ImageLimits(maxPixels: pixels - 1)) == .tooManyPixels)
        #expect(Self.failureCode(bytes, limits: ImageLimits(maxPixels: pixels)) == nil)
        #expect(Self.failureCode(bytes, limits: ImageLimits(maxPixels: 0)) == .tooManyPixels)
    }

    @Test func negativeLimitsAllowNothing() throws {
        let bytes = try CodecFixtures.bytes("png_rgb.png")
        #expect(Self.failureCode(bytes, limits: ImageLimits(maxBytes: -1)) == .tooLarge)
        #expect(Self.failureCode(bytes, limits: ImageLimits(maxPixels: -5)) == .tooManyPixels)
    }

    @Test func bombIsRefusedFromItsHeaderWithAClearMessage() throws {
        let bomb = try CodecFixtures.bytes("png_bomb.png")
        #expect(bomb.count < 100)
        guard case .failure(let failure) = Self.decodeResult(bomb) else {
            Issue.record("the bomb decoded")
            return
        }
        #expect(
            failure == Failure(.tooManyPixels, "PNG is 60000x60000 = 3600000000 pixels, over the limit of 50000000"))
    }

    @Test func hugeJpegHeaderIsRefusedBeforeDecoding() throws {
        // A baseline JPEG header declaring 65000x65000 (no image data follows).
        var jpeg = try CodecFixtures.bytes("jpeg_baseline.jpg")
        let sof = try #require(jpeg.indices.dropLast().first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[sof + 5] = 0xFD
        jpeg[sof + 6] = 0xE8  // height 65000
        jpeg[sof + 7] = 0xFD
        jpeg[sof + 8] = 0xE8  // width 65000
        #expect(Self.failureCode(jpeg) == .tooManyPixels)
    }

    // MARK: Error codes and messages

    @Test func emptyInputIsEmptyFile() {
        guard case .failure(let failure) = Self.decodeResult([]) else {
            Issue.record("no bytes decoded")
            return
        }
        #expect(failure.code == .emptyFile)
    }

    @Test(arguments: [
        ("other.gif", "GIF"), ("other.bmp", "BMP"), ("other.tif", "TIFF"),
    ])
    func unsupportedFormatsAreNamed(name: String, format: String) throws {
        guard case .failure(let failure) = Self.decodeResult(try CodecFixtures.bytes(name)) else {
            Issue.record("\(name) decoded")
            return
        }
        #expect(failure.code == .unsupportedFormat)
        #expect(failure.message.contains(format))
    }

    @Test func truncatedFilesAreCorrupt() throws {
        for name in [
            "jpeg_truncated.jpg", "png_truncated.png", "jpeg_no_eoi.jpg", "webp_truncated.webp", "heic_truncated.heic",
        ] {
            guard case .failure(let failure) = Self.decodeResult(try CodecFixtures.bytes(name)) else {
                Issue.record("\(name) decoded")
                continue
            }
            #expect(failure.code == .corruptImage)
            #expect(failure.message.contains("truncated"), "\(name): \(failure.message)")
        }
    }

    // MARK: Sniffing

    @Test func sniffUsesMagicBytesOnly() throws {
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("jpeg_baseline.jpg")) == .jpeg)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("png_rgb.png")) == .png)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("other.gif")) == .gif)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("other.bmp")) == .bmp)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("webp_lossy.webp")) == .webp)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("heic_8bit.heic")) == .heif)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("avif_8bit.avif")) == .avif)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("other.tif")) == .tiff)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("other.heic")) == .heif)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("noise.bin")) == .unknown)
        #expect(ImageDecoder.sniff(try CodecFixtures.bytes("text.txt")) == .unknown)
        #expect(ImageDecoder.sniff([]) == .unknown)
    }

    @Test func sniffKnowsOtherImageSignatures() {
        let padding = [UInt8](repeating: 0, count: 32)
        func bytes(_ text: String) -> [UInt8] { Array(text.utf8) + padding }
        #expect(ImageDecoder.sniff([0, 0, 0, 24] + bytes("ftypavif")) == .avif)
        #expect(ImageDecoder.sniff([0, 0, 0, 24] + bytes("ftypmif1")) == .heif)
        #expect(ImageDecoder.sniff([0, 0, 0, 24] + bytes("ftypisom")) == .unknown)  // a video
        #expect(
            ImageDecoder.sniff([0, 0, 0, 12, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A] + padding) == .jpeg2000)
        #expect(ImageDecoder.sniff([0xFF, 0x0A] + padding) == .jpegXL)
        #expect(ImageDecoder.sniff([0, 0, 1, 0, 1, 0, 16, 16, 0, 0] + padding) == .ico)
        #expect(ImageDecoder.sniff(Array("8BPS".utf8) + [0, 1] + padding) == .psd)
        #expect(ImageDecoder.sniff(bytes("qoif")) == .qoi)
        #expect(ImageDecoder.sniff(bytes("P6\n3 2\n255\n")) == .pnm)
        #expect(ImageDecoder.sniff(bytes("GIF89a")) == .gif)
        #expect(ImageDecoder.sniff(bytes("BM is not a bitmap")) == .unknown)
        #expect(ImageDecoder.sniff(bytes("RIFF\0\0\0\0WAVE")) == .unknown)
        #expect(SniffedFormat.jpeg2000.displayName == "JPEG 2000")
        #expect(SniffedFormat.allCases.filter { $0.imageFormat != nil } == [.jpeg, .png, .webp, .heif, .avif])
    }

    @Test func extensionDoesNotMatter() throws {
        // The name is never looked at: a PNG named .jpg is a PNG, a text file named .png is not an image.
        let png = try CodecFixtures.bytes("png_rgb.png")
        #expect(try ImageDecoder.decode(png, limits: Self.defaultLimits).info.format == .png)
        #expect(Self.failureCode(try CodecFixtures.bytes("text.txt")) == .notAnImage)
    }

    // MARK: Robustness: nothing crashes, every result is typed

    static let corruptionCodes: Set<FailureCode> = [.corruptImage, .notAnImage, .unsupportedFormat, .tooManyPixels]

    static func checkTyped(_ bytes: [UInt8], _ context: @autoclosure () -> String) {
        switch decodeResult(bytes) {
        case .success(let image):
            #expect(image.info.width > 0 && image.info.height > 0, "\(context())")
            #expect(image.pixels.count == image.info.width * image.info.height * 3, "\(context())")
        case .failure(let failure):
            #expect(
                corruptionCodes.contains(failure.code) || (bytes.isEmpty && failure.code == .emptyFile),
                "\(context()): \(failure)")
            #expect(!failure.message.isEmpty, "\(context())")
        }
    }

    @Test(arguments: CodecFixtures.decodableNames)
    func everyTruncationGivesATypedResult(name: String) async throws {
        let bytes = try CodecFixtures.bytes(name)
        let step = max(1, bytes.count / 80)
        for length in stride(from: 0, to: bytes.count, by: step) {
            await Task.yield()  // many decodes: the other suites share the cooperative threads
            Self.checkTyped(Array(bytes[..<length]), "\(name) cut to \(length) bytes")
        }
    }

    @Test(arguments: CodecFixtures.decodableNames)
    func bitFlipsGiveATypedResult(name: String) async throws {
        let bytes = try CodecFixtures.bytes(name)
        var random = SeededGenerator(seed: UInt64(truncatingIfNeeded: name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }))
        for round in 0..<60 {
            await Task.yield()  // many decodes: the other suites share the cooperative threads
            var mutated = bytes
            let flips = Int.random(in: 1...6, using: &random)
            for _ in 0..<flips {
                // Half of the flips hit the first 200 bytes, where the headers and EXIF are.
                let limit = Bool.random(using: &random) ? min(200, mutated.count) : mutated.count
                let index = Int.random(in: 0..<limit, using: &random)
                mutated[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
            }
            Self.checkTyped(mutated, "\(name) with \(flips) flipped bits, round \(round)")
        }
    }

    @Test func randomBytesBehindImageSignaturesGiveATypedResult() {
        var random = SeededGenerator(seed: 42)
        let prefixes: [[UInt8]] = [
            [], [0xFF, 0xD8, 0xFF], [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x40] + Array("Exif\0\0MM\0*".utf8),
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8),
            Array("RIFF\0\u{2}\0\0WEBPVP8 ".utf8), Array("RIFF\0\u{2}\0\0WEBPVP8L".utf8),
            Array("RIFF\0\u{2}\0\0WEBPVP8X".utf8), [0, 0, 0, 24] + Array("ftypheic\0\0\0\0mif1heic".utf8),
            [0, 0, 0, 24] + Array("ftypavif\0\0\0\0mif1avif".utf8),
        ]
        for round in 0..<400 {
            let prefix = prefixes[round % prefixes.count]
            let count = Int.random(in: 0...600, using: &random)
            let noise = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            Self.checkTyped(prefix + noise, "random bytes, round \(round)")
        }
    }

    @Test func hostilePngHeadersAreCorrupt() throws {
        let png = try CodecFixtures.bytes("png_rgb.png")
        func withHeader(width: UInt32, height: UInt32, depth: UInt8 = 8, colorType: UInt8 = 2) -> [UInt8] {
            var bytes = png
            let fields =
                withUnsafeBytes(of: width.bigEndian, Array.init) + withUnsafeBytes(of: height.bigEndian, Array.init)
            bytes.replaceSubrange(16..<24, with: fields)
            bytes[24] = depth
            bytes[25] = colorType
            let crc = Self.crc32(Array(bytes[12..<29]))
            bytes.replaceSubrange(29..<33, with: withUnsafeBytes(of: crc.bigEndian, Array.init))
            return bytes
        }
        #expect(Self.failureCode(withHeader(width: 0, height: 32)) == .corruptImage)
        #expect(Self.failureCode(withHeader(width: 48, height: 0)) == .corruptImage)
        #expect(Self.failureCode(withHeader(width: 0x8000_0000, height: 1)) == .corruptImage)
        #expect(Self.failureCode(withHeader(width: 48, height: 32, depth: 3)) == .corruptImage)
        #expect(Self.failureCode(withHeader(width: 48, height: 32, colorType: 5)) == .corruptImage)
        #expect(Self.failureCode(withHeader(width: 50_000, height: 1001)) == .tooManyPixels)
        // Declares more rows than the data holds: every row must be there.
        #expect(Self.failureCode(withHeader(width: 48, height: 33)) == .corruptImage)
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }

    // MARK: Concurrency

    @Test func concurrentDecodesAgree() async throws {
        let names = ["jpeg_progressive.jpg", "png_interlaced_rgb.png", "jpeg_exif7.jpg", "jpeg_cmyk.jpg"]
        let inputs = try names.map { try CodecFixtures.bytes($0) }
        let reference = try inputs.map { try ImageDecoder.decode($0, limits: Self.defaultLimits) }
        let results = await withTaskGroup(of: (Int, DecodedImage?).self) { group in
            for round in 0..<32 {
                let index = round % inputs.count
                let input = inputs[index]
                group.addTask { (index, try? ImageDecoder.decode(input, limits: Self.defaultLimits)) }
            }
            var collected: [(Int, DecodedImage?)] = []
            for await result in group { collected.append(result) }
            return collected
        }
        #expect(results.count == 32)
        for (index, image) in results { #expect(image == reference[index]) }
    }
}

extension ImageDecoderTests {
    /// Pillow's limits on PNG text, the metadata read once, and the inputs the fuzzer found
    /// (`make fuzz`). The PNGs are built here from a committed fixture.
    @Suite(.timeLimit(.minutes(1)))
    struct TextLimitsAndFuzzFindings {
        static let megabyte = 1 << 20

        /// A PNG chunk with its length and CRC.
        static func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typeBytes = Array(type.utf8)
            let length = withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init)
            let crc = withUnsafeBytes(of: ImageDecoderTests.crc32(typeBytes + body).bigEndian, Array.init)
            return length + typeBytes + body + crc
        }

        /// `base` with `before` inserted right after IHDR and `after` right before IEND.
        static func png(_ base: [UInt8], before: [UInt8] = [], after: [UInt8] = []) -> [UInt8] {
            let iend = base.count - 12  // the fixtures end with a bare IEND chunk
            return Array(base[0..<33]) + before + Array(base[33..<iend]) + after + Array(base[iend...])
        }

        /// A zlib stream that inflates to `count` copies of `byte`: one literal, then copies of
        /// length 258 at distance 1 in a fixed-Huffman block, so a megabyte costs about 7 KB.
        static func zlibRepeating(_ byte: UInt8, count: Int) -> [UInt8] {
            var out: [UInt8] = [0x78, 0x01]
            var bitBuffer: UInt64 = 0
            var bitCount = 0
            func put(_ value: UInt64, _ bits: Int) {  // LSB first, as deflate packs
                bitBuffer |= value << UInt64(bitCount)
                bitCount += bits
                while bitCount >= 8 {
                    out.append(UInt8(bitBuffer & 0xFF))
                    bitBuffer >>= 8
                    bitCount -= 8
                }
            }
            func putCode(_ code: UInt64, _ bits: Int) {  // Huffman codes go most significant bit first
                var reversed: UInt64 = 0
                for i in 0..<bits where code & (1 << UInt64(i)) != 0 { reversed |= 1 << UInt64(bits - 1 - i) }
                put(reversed, bits)
            }
            func literal(_ value: UInt8) {
                if value < 144 { putCode(0x30 + UInt64(value), 8) } else { putCode(0x190 + UInt64(value) - 144, 9) }
            }
            put(1, 1)  // final block
            put(1, 2)  // fixed Huffman codes
            var left = count
            if left > 0 {
                literal(byte)
                left -= 1
            }
            while left >= 258 {
                putCode(0xC5, 8)  // length 258 (code 285)
                putCode(0, 5)  // distance 1
                left -= 258
            }
            for _ in 0..<left { literal(byte) }
            putCode(0, 7)  // end of block
            if bitCount > 0 { put(0, 8 - bitCount) }
            // Adler-32 of `count` equal bytes, in closed form.
            let n = UInt64(count)
            let v = UInt64(byte)
            let modulus: UInt64 = 65521
            let a = (1 + n * v) % modulus
            let b = (n + v * ((n * (n + 1) / 2) % modulus)) % modulus
            out += withUnsafeBytes(of: UInt32(b << 16 | a).bigEndian, Array.init)
            return out
        }

        static func zTXt(_ key: String, inflatingTo count: Int) -> [UInt8] {
            chunk("zTXt", Array(key.utf8) + [0, 0] + zlibRepeating(UInt8(ascii: "a"), count: count))
        }

        static func iTXtCompressed(_ key: String, inflatingTo count: Int) -> [UInt8] {
            chunk("iTXt", Array(key.utf8) + [0, 1, 0, 0, 0] + zlibRepeating(UInt8(ascii: "a"), count: count))
        }

        @Test func compressedTextChunkOverOneMegabyteIsRefusedLikePillow() throws {
            let base = try CodecFixtures.bytes("png_rgb.png")
            let original = try ImageDecoder.decode(base, limits: ImageDecoderTests.defaultLimits)
            // Pillow's MAX_TEXT_CHUNK is 1 MB: exactly that is read, one byte more fails the file.
            let atLimit = Self.png(base, before: Self.zTXt("Comment", inflatingTo: Self.megabyte))
            #expect(try ImageDecoder.decode(atLimit, limits: ImageDecoderTests.defaultLimits) == original)
            for over in [
                Self.png(base, before: Self.zTXt("Comment", inflatingTo: Self.megabyte + 1)),
                Self.png(base, after: Self.zTXt("Comment", inflatingTo: Self.megabyte + 1)),
                Self.png(base, before: Self.zTXt("", inflatingTo: 2 * Self.megabyte)),  // no key: still inflated
                Self.png(base, before: Self.iTXtCompressed("Comment", inflatingTo: Self.megabyte + 1)),
            ] {
                guard case .failure(let failure) = ImageDecoderTests.decodeResult(over) else {
                    Issue.record("a text chunk over 1 MB was accepted")
                    continue
                }
                #expect(failure.code == .corruptImage)
                #expect(failure.message.contains("1 MB per compressed chunk"))
            }
        }

        @Test func textOverSixtyFourMegabytesInAllIsRefusedLikePillow() throws {
            let base = try CodecFixtures.bytes("png_rgb.png")
            let original = try ImageDecoder.decode(base, limits: ImageDecoderTests.defaultLimits)
            // 64 chunks of 1 MB is Pillow's MAX_TEXT_MEMORY exactly; one more character is over.
            let full = (0..<64).flatMap { Self.zTXt("k\($0)", inflatingTo: Self.megabyte) }
            let limits = ImageDecoderTests.defaultLimits
            #expect(try ImageDecoder.decode(Self.png(base, before: full), limits: limits) == original)
            let oneMore = Self.chunk("tEXt", Array("x\0y".utf8))
            #expect(ImageDecoderTests.failureCode(Self.png(base, before: full + oneMore)) == .corruptImage)
            #expect(ImageDecoderTests.failureCode(Self.png(base, before: full, after: oneMore)) == .corruptImage)
            // Text Pillow would inflate without counting (no key) is capped at the same total.
            let keyless = (0..<65).flatMap { _ in Self.zTXt("", inflatingTo: Self.megabyte) }
            #expect(ImageDecoderTests.failureCode(Self.png(base, before: keyless)) == .corruptImage)
        }

        @Test func iccProfilesAreHeldToTheSameLimitLikePillow() throws {
            let base = try CodecFixtures.bytes("png_rgb.png")
            let original = try ImageDecoder.decode(base, limits: ImageDecoderTests.defaultLimits)
            func iCCP(_ body: [UInt8]) -> [UInt8] { Self.chunk("iCCP", body) }
            let profile = { (count: Int) in Array("icc".utf8) + [0, 0] + Self.zlibRepeating(0x41, count: count) }
            let atLimit = Self.png(base, before: iCCP(profile(Self.megabyte)))
            #expect(try ImageDecoder.decode(atLimit, limits: ImageDecoderTests.defaultLimits) == original)
            let damaged = Self.png(base, before: iCCP(Array("icc".utf8) + [0, 0] + Array("garbage".utf8)))
            #expect(try ImageDecoder.decode(damaged, limits: ImageDecoderTests.defaultLimits) == original)
            // Pillow raises on each of these, so face_recognition cannot load the file.
            let overLimit = iCCP(profile(Self.megabyte + 1))
            let unknownMethod = iCCP(Array("icc".utf8) + [0, 1, 0x78])
            let noMethod = iCCP(Array("icc".utf8) + [0])
            for refused in [
                Self.png(base, before: overLimit), Self.png(base, after: overLimit),
                Self.png(base, before: unknownMethod), Self.png(base, before: iCCP([])),
                Self.png(base, before: noMethod),
            ] {
                #expect(ImageDecoderTests.failureCode(refused) == .corruptImage)
            }
        }

        @Test func unknownTextCompressionAndCutShortChunksAreRefusedLikePillow() throws {
            let base = try CodecFixtures.bytes("png_rgb.png")
            let unknownMethod = Self.chunk("zTXt", Array("Comment".utf8) + [0, 1] + Array("abc".utf8))
            #expect(ImageDecoderTests.failureCode(Self.png(base, before: unknownMethod)) == .corruptImage)
            #expect(ImageDecoderTests.failureCode(Self.png(base, after: unknownMethod)) == .corruptImage)
            // A text chunk after the image data that the file cuts short: Pillow's read fails.
            let text = Self.chunk("tEXt", Array("Comment\0some text".utf8))
            let cut = Array(base[0..<(base.count - 12)]) + text.dropLast(8)
            #expect(ImageDecoderTests.failureCode(cut) == .corruptImage)
        }

        @Test func orientationFromCompressedTextIsStillRead() throws {
            // A Raw profile in a zTXt chunk: the one parse shared by probe and decode still sees it.
            let exif: [UInt8] = [
                0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x01, 0x12, 0x00, 0x03,
                0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            ]
            let hex = exif.map { String(format: "%02x", $0) }.joined()
            let profile = Array("\nexif\n      26\n\(hex)\n".utf8)
            // Stored (uncompressed) deflate block: zlib header, block header, length, ~length, data, Adler-32.
            var a: UInt32 = 1
            var b: UInt32 = 0
            for byte in profile {
                a = (a + UInt32(byte)) % 65521
                b = (b + a) % 65521
            }
            let length = UInt16(profile.count)
            let blockHeader: [UInt8] = [
                0x01, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8),
            ]
            let checksum = withUnsafeBytes(of: (b << 16 | a).bigEndian, Array.init)
            let stream = [0x78, 0x01] + blockHeader + profile + checksum
            let base = try CodecFixtures.bytes("png_rgb.png")
            let profileChunk = Self.chunk("zTXt", Array("Raw profile type exif".utf8) + [0, 0] + stream)
            let rotated = Self.png(base, before: profileChunk)
            let image = try ImageDecoder.decode(rotated, limits: ImageDecoderTests.defaultLimits)
            #expect(image.info.width == 32 && image.info.height == 48)  // orientation 6 turns 48x32
        }

        @Test func decodeWithAProbedHeaderOfOtherDataIsRefused() throws {
            let limits = ImageDecoderTests.defaultLimits.cLimits
            func probe(_ bytes: [UInt8]) -> fwc_header {
                var header = fwc_header()
                _ = fwc_probe(bytes, bytes.count, limits, &header, nil, 0)
                return header
            }
            let wide = try CodecFixtures.bytes("png_rgb.png")  // 48x32
            let tall = try CodecFixtures.bytes("png_exif6.png")  // 32x48 after orientation 6, stored 48x32
            let gray = try CodecFixtures.bytes("png_gray16.png")  // 40x24
            func decode(_ bytes: [UInt8], with probed: fwc_header) -> fwc_status {
                var given = probed
                var decoded = fwc_header()
                var pixels = [UInt8](repeating: 0, count: Int(probed.width) * Int(probed.height) * 3)
                return fwc_decode_probed(bytes, bytes.count, limits, &given, &pixels, pixels.count, &decoded, nil, 0)
            }
            #expect(decode(wide, with: probe(wide)) == FWC_OK)
            #expect(decode(tall, with: probe(tall)) == FWC_OK)
            #expect(decode(wide, with: probe(gray)) == FWC_BAD_ARGUMENT)  // another stored size
            #expect(decode(wide, with: probe(try CodecFixtures.bytes("jpeg_baseline.jpg"))) == FWC_BAD_ARGUMENT)
            var badOrientation = probe(wide)
            badOrientation.orientation = 9
            #expect(decode(wide, with: badOrientation) == FWC_BAD_ARGUMENT)
            // Same stored size, other orientation: the buffer is the other way round, the codec
            // writes the pixels the header describes and never outside them.
            var turned = probe(tall)
            #expect(decode(wide, with: turned) == FWC_OK)
            turned.orientation = 1
            #expect(decode(tall, with: turned) == FWC_OK)
        }

        /// Found by the fuzzer (a leak under ASan, Fixtures/codec/fuzz): a zlib stream that ends
        /// before the last row, another chunk, then more IDAT. libpng announced the image a second
        /// time and the codec set it up again, leaking the first row buffer. Pillow fails the file
        /// ("broken data stream"); `make fuzz` runs the input again under ASan as a seed.
        @Test func imageDataAgainAfterItsStreamEndedIsCorruptLikePillow() throws {
            let path = CodecFixtures.directory.appendingPathComponent("fuzz/png_image_data_twice_leak.png").path
            let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
            #expect(ImageDecoderTests.failureCode(bytes) == .corruptImage)
        }

        /// All the rows, then another chunk and more IDAT: Pillow reads the rows and ignores the rest.
        @Test func imageDataAfterTheLastRowIsIgnoredLikePillow() throws {
            let base = try CodecFixtures.bytes("png_gray16.png")  // 24 rows: the last band is 8 rows
            let original = try ImageDecoder.decode(base, limits: ImageDecoderTests.defaultLimits)
            let more = Self.chunk("tEXt", Array("Comment\0x".utf8)) + Self.chunk("IDAT", [0, 0, 0, 0])
            let split = Self.png(base, after: more)
            #expect(try ImageDecoder.decode(split, limits: ImageDecoderTests.defaultLimits) == original)
        }
    }
}
