import FaceCore
import FaceTestSupport
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
    static let dlibCnnModels = load(EncoderOptions(detector: .dlibCnn))

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
