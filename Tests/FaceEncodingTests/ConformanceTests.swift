import FaceCore
import FaceImage
import Foundation
import Testing
@testable import FaceEncoding

/// The engine against face_recognition 1.3.0: Fixtures/conformance.jsonl holds face_recognition's
/// results (`make fixtures`, scripts/reference_encode.py) for the images `make test-images` makes.
/// Same face count and order, identical boxes, every encoding component within 1e-5; for HEIF,
/// whose pixels Debian's libheif converts with other rounding than pillow-heif's (docs/formats.md),
/// within `heifTolerance` (scripts/compare_results.py's HEIF_TOLERANCE).
@Suite(.timeLimit(.minutes(10))) struct ConformanceTests {
    static let tolerance: Float = 1e-5
    static let heifTolerance: Float = 0.1

    /// One line of the fixture.
    struct Expected: Decodable {
        struct ExpectedFace: Decodable {
            var box: [Int]
            var encoding: [Float]
        }

        var file: String
        var format: String?
        var width: Int?
        var height: Int?
        var faces: [ExpectedFace]?
        var expect_error: String?
        var reference_error: String?
        var truncated: Bool?
    }

    static func fixture() throws -> [Expected] {
        let url = try #require(
            Bundle.module.url(forResource: "conformance", withExtension: "jsonl", subdirectory: "Fixtures"),
            "Fixtures/conformance.jsonl is missing: run `make fixtures`")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").filter { !$0.isEmpty }.map {
            try JSONDecoder().decode(Expected.self, from: Data($0.utf8))
        }
    }

    @Test func fixtureCoversTheTestImages() throws {
        let expected = try Self.fixture()
        let names = Set(expected.map(\.file))
        for name in [
            "astronaut.png", "camera.png", "chelsea.png", "two_faces.png", "astronaut_left.png", "astronaut_lossy.webp",
            "astronaut_alpha.webp", "astronaut_animated.webp", "astronaut_rot6.heic", "astronaut_10bit_rot6.heic",
            "astronaut_rot6.avif",
        ] {
            #expect(names.contains(name), "the fixture has no line for \(name)")
        }
        #expect(expected.contains { ($0.faces?.count ?? 0) >= 2 }, "no image with two faces in the fixture")
        #expect(expected.contains { $0.faces?.isEmpty == true }, "no image without faces in the fixture")
    }

    @Test func engineMatchesFaceRecognition() async throws {
        let directory = EngineTestSupport.testImageDirectory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw MissingTestImages(path: directory.path)
        }
        let engine = try FaceEngine(models: try EngineTestSupport.defaultModels.get())
        var faceCount = 0
        var largest: Float = 0
        var largestHEIF: Float = 0
        for line in try Self.fixture() {
            // Heavy and synchronous: give the cooperative threads back between images, so the
            // other suites running beside this one are not held up for minutes.
            await Task.yield()
            let path = directory.appendingPathComponent(line.file).path
            guard FileManager.default.fileExists(atPath: path) else {
                Issue.record("\(MissingTestImages(path: path))")
                continue
            }
            let result = engine.encode(fileAt: path, limits: ImageLimits())
            if let code = line.expect_error {
                #expect(result.failureCode?.rawValue == code, "\(line.file): want \(code), got \(result)")
                continue
            }
            if line.reference_error != nil {
                #expect(
                    result.failureCode == .corruptImage, "\(line.file): face_recognition failed, want corrupt_image")
                continue
            }
            if line.truncated == true, result.failureCode == .corruptImage { continue }
            let encoded: EncodedImage
            switch result {
            case .failure(let failure):
                Issue.record("\(line.file): unexpected \(failure)")
                continue
            case .success(let value):
                encoded = value
            }
            #expect(
                encoded.image.width == line.width && encoded.image.height == line.height,
                "\(line.file): size \(encoded.image.width)x\(encoded.image.height)")
            let want = line.faces ?? []
            guard encoded.faces.count == want.count else {
                Issue.record("\(line.file): \(encoded.faces.count) faces, want \(want.count)")
                continue
            }
            for (got, expected) in zip(encoded.faces, want) {
                faceCount += 1
                let box = [got.location.top, got.location.right, got.location.bottom, got.location.left]
                #expect(box == expected.box, "\(line.file): box \(box), want \(expected.box)")
                #expect(got.encoding.count == expected.encoding.count)
                let delta = zip(got.encoding, expected.encoding).map { abs($0 - $1) }.max() ?? .infinity
                let isHEIF = line.format == "heif"
                if isHEIF { largestHEIF = max(largestHEIF, delta) } else { largest = max(largest, delta) }
                let tolerance = isHEIF ? Self.heifTolerance : Self.tolerance
                #expect(delta <= tolerance, "\(line.file): encoding differs by \(delta)")
            }
        }
        #expect(faceCount > 0)
        print("conformance: \(faceCount) faces, largest difference \(largest) (HEIF: \(largestHEIF))")
    }
}

extension Result where Failure == FaceCore.Failure {
    /// The failure's code, or nil on success.
    var failureCode: FailureCode? {
        if case .failure(let failure) = self { return failure.code }
        return nil
    }
}
