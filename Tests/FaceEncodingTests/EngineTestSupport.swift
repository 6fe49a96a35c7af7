import FaceCore
import Foundation
import Testing
@testable import FaceEncoding

/// Where the engine tests find the models and the conformance images, and the models they share.
enum EngineTestSupport {
    /// The package root (this file is Tests/FaceEncodingTests/EngineTestSupport.swift).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `$FACEWATCH_MODELS`, else `<repo>/models` (`make models` fills it).
    static var modelDirectory: URL {
        if let fromEnvironment = ProcessInfo.processInfo.environment["FACEWATCH_MODELS"], !fromEnvironment.isEmpty {
            return URL(fileURLWithPath: fromEnvironment)
        }
        return repositoryRoot.appendingPathComponent("models")
    }

    /// `$FACEWATCH_TEST_IMAGES`, else `<repo>/.cache/test-images` (`make test-images` fills it).
    static var testImageDirectory: URL {
        if let fromEnvironment = ProcessInfo.processInfo.environment["FACEWATCH_TEST_IMAGES"], !fromEnvironment.isEmpty
        {
            return URL(fileURLWithPath: fromEnvironment)
        }
        return repositoryRoot.appendingPathComponent(".cache/test-images")
    }

    /// Models loaded once per option set for the whole test run (loading takes seconds).
    static let defaultModels = load(EncoderOptions())
    static let largeLandmarkModels = load(EncoderOptions(landmarks: .large))
    static let cnnModels = load(EncoderOptions(detector: .cnn))
    static let dlibHogModels = load(EncoderOptions(detector: .dlibHog))

    private static func load(_ options: EncoderOptions) -> Result<FaceModels, ModelError> {
        Result { () throws(ModelError) -> FaceModels in try FaceModels(directory: modelDirectory, options: options) }
    }

    /// The bytes of a conformance test image; a missing image fails the test with how to make it.
    static func testImage(_ name: String) throws -> [UInt8] {
        let url = testImageDirectory.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw MissingTestImages(path: url.path)
        }
        return [UInt8](data)
    }

    /// A fresh empty directory under the system's temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("facewatch-engine-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Euclidean distance between two encodings (face_recognition's face_distance).
    static func distance(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }
}

/// The conformance images are not there: they come from `make test-images`.
struct MissingTestImages: Error, CustomStringConvertible {
    var path: String
    var description: String {
        "\(path) is missing: run `make test-images` (or set FACEWATCH_TEST_IMAGES to the folder with the conformance images)"
    }
}

/// Writes minimal PNG files (8-bit RGB, stored deflate blocks) so tests can make exact images.
enum TinyPNG {
    /// A PNG of `width`×`height` whose pixel (x, y) is `pixel(x, y)` as (r, g, b).
    static func make(width: Int, height: Int, pixel: (Int, Int) -> (UInt8, UInt8, UInt8)) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)  // filter: none
            for x in 0..<width {
                let (r, g, b) = pixel(x, y)
                raw += [r, g, b]
            }
        }
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 2, 0, 0, 0])
        png += chunk("IDAT", zlibStored(raw))
        png += chunk("IEND", [])
        return png
    }

    private static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let count = min(65_535, data.count - offset)
            let final: UInt8 = offset + count == data.count ? 1 : 0
            out.append(final)
            out += [UInt8(count & 0xff), UInt8(count >> 8), UInt8(~count & 0xff), UInt8((~count >> 8) & 0xff)]
            out += data[offset..<offset + count]
            offset += count
        } while offset < data.count
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return out + bigEndian(b << 16 | a)
    }

    private static func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        return bigEndian(UInt32(body.count)) + typed + bigEndian(crc32(typed))
    }

    private static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }
}
