import FaceCore
import FaceImage
import Foundation
import FaceTestSupport
import Testing
@testable import FaceEncoding

@Suite(.timeLimit(.minutes(10))) struct FaceEngineTests {
    private func engine(_ models: Result<FaceModels, ModelError> = EngineTestSupport.defaultModels) throws -> FaceEngine
    {
        try FaceEngine(models: try models.get())
    }

    /// The astronaut's face: HOG finds it first in astronaut.png (face_recognition also reports a
    /// second, false detection lower in the picture).
    static let astronautFace = FaceLocation(top: 76, right: 265, bottom: 166, left: 175)

    private func firstFace(_ result: Result<EncodedImage, Failure>) throws -> Face {
        let encoded = try result.get()
        return try #require(encoded.faces.first, "no face found")
    }

    @Test func imageWithoutFacesIsCompletedWithZeroFaces() throws {
        let png = TinyPNG.make(width: 320, height: 240) { x, y in
            (UInt8(x * 255 / 319), UInt8(y * 255 / 239), 128)
        }
        let encoded = try engine().encode(bytes: png, limits: ImageLimits()).get()
        #expect(encoded.faces.isEmpty)
        #expect(encoded.image == ImageInfo(format: .png, width: 320, height: 240))
        #expect(encoded.timings.detect > 0)
        #expect(encoded.timings.encode >= 0)
    }

    @Test func failuresCarryTheirCodes() throws {
        let engine = try engine()
        let directory = try EngineTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func code(_ result: Result<EncodedImage, Failure>) -> FailureCode? {
            if case .failure(let failure) = result { return failure.code }
            return nil
        }
        let png = TinyPNG.make(width: 40, height: 30) { _, _ in (10, 20, 30) }

        #expect(code(engine.encode(bytes: [], limits: ImageLimits())) == .emptyFile)
        #expect(
            code(engine.encode(bytes: Array("just some text, not an image\n".utf8), limits: ImageLimits()))
                == .notAnImage)
        #expect(
            code(engine.encode(bytes: png, limits: ImageLimits(maxBytes: 50_000_000, maxPixels: 1000)))
                == .tooManyPixels)

        let empty = directory.appendingPathComponent("empty.jpg").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(code(engine.encode(fileAt: empty, limits: ImageLimits())) == .emptyFile)

        let big = directory.appendingPathComponent("big.png").path
        _ = FileManager.default.createFile(atPath: big, contents: Data(png))
        #expect(
            code(engine.encode(fileAt: big, limits: ImageLimits(maxBytes: png.count - 1, maxPixels: 50_000_000)))
                == .tooLarge)
        #expect(
            code(engine.encode(fileAt: big, limits: ImageLimits(maxBytes: png.count, maxPixels: 50_000_000))) == nil)

        #expect(
            code(engine.encode(fileAt: directory.appendingPathComponent("missing.jpg").path, limits: ImageLimits()))
                == .ioError)
        #expect(code(engine.encode(fileAt: directory.path, limits: ImageLimits())) == .notARegularFile)

        let fifo = directory.appendingPathComponent("fifo.jpg").path
        try #require(mkfifo(fifo, 0o600) == 0)
        #expect(code(engine.encode(fileAt: fifo, limits: ImageLimits())) == .notARegularFile)
    }

    @Test func fileAndBytesGiveTheSameFaces() throws {
        let engine = try engine()
        let bytes = try EngineTestSupport.testImage("astronaut.png")
        let path = EngineTestSupport.testImageDirectory.appendingPathComponent("astronaut.png").path
        let fromBytes = try engine.encode(bytes: bytes, limits: ImageLimits()).get()
        let fromFile = try engine.encode(fileAt: path, limits: ImageLimits()).get()
        #expect(fromBytes.faces == fromFile.faces)
        #expect(fromBytes.faces.first?.location == Self.astronautFace)
        #expect(fromBytes.faces.first?.encoding.count == Face.encodingLength)
    }

    @Test func enginesFromTheSameModelsAgreeExactly() throws {
        let models = try EngineTestSupport.defaultModels.get()
        let bytes = try EngineTestSupport.testImage("two_faces.png")
        let first = try FaceEngine(models: models).encode(bytes: bytes, limits: ImageLimits()).get()
        let second = try FaceEngine(models: models).encode(bytes: bytes, limits: ImageLimits()).get()
        #expect(first.faces.count == 2)
        #expect(first.faces == second.faces)
    }

    @Test func jittersAverageToAnEncodingCloseToTheUnjitteredOne() throws {
        let engine = try engine()
        let bytes = try EngineTestSupport.testImage("astronaut.png")
        let plain = try firstFace(engine.encode(bytes: bytes, limits: ImageLimits()))
        engine.options.jitters = 6
        #expect(engine.options.jitters == 6)
        let jittered = try firstFace(engine.encode(bytes: bytes, limits: ImageLimits()))
        #expect(plain.location == Self.astronautFace)
        #expect(jittered.location == plain.location)
        #expect(jittered.encoding.count == Face.encodingLength)
        #expect(jittered.encoding != plain.encoding)
        let distance = EngineTestSupport.distance(jittered.encoding, plain.encoding)
        #expect(distance < 0.15, "distance \(distance)")
    }

    @Test func largeLandmarksEncodeTheSameFace() throws {
        let bytes = try EngineTestSupport.testImage("astronaut.png")
        let small = try firstFace(engine().encode(bytes: bytes, limits: ImageLimits()))
        let large = try firstFace(
            engine(EngineTestSupport.largeLandmarkModels).encode(bytes: bytes, limits: ImageLimits()))
        #expect(small.location == Self.astronautFace)
        #expect(large.location == small.location)
        #expect(large.encoding != small.encoding)
        let distance = EngineTestSupport.distance(large.encoding, small.encoding)
        #expect(distance < 0.3, "distance \(distance)")
    }

    @Test func cnnDetectorFindsTheAstronaut() throws {
        let bytes = try EngineTestSupport.testImage("astronaut.png")
        let hog = try firstFace(engine().encode(bytes: bytes, limits: ImageLimits()))
        let cnnFaces = try engine(EngineTestSupport.cnnModels).encode(bytes: bytes, limits: ImageLimits()).get().faces
        try #require(cnnFaces.count == 1, "cnn faces: \(cnnFaces.map(\.location))")
        let cnn = cnnFaces[0]
        #expect(hog.location == Self.astronautFace)
        #expect(cnn.location != hog.location, "the CNN detector's box is its own")
        let a = hog.location
        let b = cnn.location
        let overlapWidth = max(0, min(a.right, b.right) - max(a.left, b.left))
        let overlapHeight = max(0, min(a.bottom, b.bottom) - max(a.top, b.top))
        let intersection = Double(overlapWidth * overlapHeight)
        let union =
            Double((a.right - a.left) * (a.bottom - a.top) + (b.right - b.left) * (b.bottom - b.top)) - intersection
        #expect(intersection / union > 0.5, "hog \(a), cnn \(b)")
        #expect(EngineTestSupport.distance(hog.encoding, cnn.encoding) < 0.3)
    }
}

@Suite(.timeLimit(.minutes(10))) struct FaceModelsTests {
    /// A model directory holding links to the real models except `replaced`, which gets `content`
    /// (nil: left out).
    private func modelDirectory(replacing replaced: String, with content: [UInt8]?) throws -> URL {
        let directory = try EngineTestSupport.temporaryDirectory()
        for name in ModelFile.all where name != replaced {
            try FileManager.default.createSymbolicLink(
                at: directory.appendingPathComponent(name),
                withDestinationURL: EngineTestSupport.modelDirectory.appendingPathComponent(name))
        }
        if let content {
            _ = FileManager.default.createFile(
                atPath: directory.appendingPathComponent(replaced).path, contents: Data(content))
        }
        return directory
    }

    private func loadError(_ directory: URL, _ options: EncoderOptions = EncoderOptions()) -> ModelError? {
        do {
            _ = try FaceModels(directory: directory, options: options)
            return nil
        } catch {
            return error
        }
    }

    @Test func missingModelFileIsNamedWithHowToFetchIt() throws {
        let directory = try modelDirectory(replacing: ModelFile.landmarks5, with: nil)
        defer { try? FileManager.default.removeItem(at: directory) }
        let error = try #require(loadError(directory))
        #expect(error.kind == .missing)
        #expect(error.path.hasSuffix(ModelFile.landmarks5))
        #expect(error.description.contains(ModelFile.landmarks5))
        #expect(error.description.contains("make models"))
        #expect(!error.description.contains("\n"))
        // The 68-point model is not needed by default, the CNN one only for --detector cnn.
        let cnnMissing = try modelDirectory(replacing: ModelFile.cnnDetector, with: nil)
        defer { try? FileManager.default.removeItem(at: cnnMissing) }
        #expect(loadError(cnnMissing) == nil)
        #expect(loadError(cnnMissing, EncoderOptions(detector: .cnn))?.kind == .missing)
    }

    @Test(arguments: [ModelFile.resnet, ModelFile.landmarks5, ModelFile.cnnDetector])
    func corruptModelFileFailsCleanly(name: String) throws {
        let options = EncoderOptions(detector: name == ModelFile.cnnDetector ? .cnn : .hog)
        var generator = SystemRandomNumberGenerator()
        let garbage = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let real = try Data(contentsOf: EngineTestSupport.modelDirectory.appendingPathComponent(name))
        let truncated = [UInt8](real.prefix(real.count / 2))
        for content in [garbage, truncated, Array("not a model\n".utf8)] {
            let directory = try modelDirectory(replacing: name, with: content)
            defer { try? FileManager.default.removeItem(at: directory) }
            let error = try #require(loadError(directory, options))
            #expect(error.kind == .corrupt, "\(error)")
            #expect(error.description.contains(name))
            #expect(error.description.contains("make models"))
            #expect(!error.description.contains("\n"))
        }
    }

    /// The HOG scanner's filters are kept in the cache file after the first start (its directory made)
    /// and read at the next (the file is not replaced, so it was accepted: a rejected one is rewritten);
    /// a copy that is cut short, altered or garbage is rewritten, and every start finds the same faces.
    /// Nothing is written into the models directory.
    @Test func hogFiltersAreKeptBetweenStarts() throws {
        let directory = try modelDirectory(replacing: "", with: nil)
        let scratch = try EngineTestSupport.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: directory)
            try? FileManager.default.removeItem(at: scratch)
        }
        let cache = scratch.appendingPathComponent("made/by/the/load").appendingPathComponent(
            FaceModels.filterCacheName)
        let bytes = try EngineTestSupport.testImage("two_faces.png")
        func faces() throws -> [Face] {
            try FaceEngine(models: try FaceModels(directory: directory, filterCache: cache))
                .encode(bytes: bytes, limits: ImageLimits()).get().faces
        }
        func inode() throws -> Int {
            try #require(try FileManager.default.attributesOfItem(atPath: cache.path)[.systemFileNumber] as? Int)
        }
        let decoded = try faces()
        #expect(decoded.count == 2)
        let written = try Data(contentsOf: cache)
        let first = try inode()
        #expect(try faces() == decoded)
        #expect(try inode() == first, "a valid copy was replaced")

        var altered = written
        altered[altered.count / 2] ^= 0x40
        for content in [written.prefix(written.count / 2), altered, Data("not filters\n".utf8)] {
            try content.write(to: cache)
            #expect(try faces() == decoded)
            #expect(try Data(contentsOf: cache) == written)
        }
        #expect(try Set(FileManager.default.contentsOfDirectory(atPath: directory.path)) == Set(ModelFile.all))
    }

    @Test func locateFollowsTheDocumentedOrder() throws {
        let root = try EngineTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let explicit = root.appendingPathComponent("explicit")
        let fromEnvironment = root.appendingPathComponent("env")
        let working = root.appendingPathComponent("work")
        let prefix = root.appendingPathComponent("prefix")
        for directory in [
            explicit, fromEnvironment, working.appendingPathComponent("models"),
            prefix.appendingPathComponent("share/facewatch/models"), prefix.appendingPathComponent("bin"),
        ] {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        let executable = prefix.appendingPathComponent("bin/facewatch").path
        func locate(_ explicitPath: String?, _ environment: [String: String], cwd: String) throws(ModelError) -> String
        {
            try ModelLocator.locate(
                explicit: explicitPath, environment: environment, currentDirectory: cwd,
                executablePath: executable
            ).path
        }
        let env = ["FACEWATCH_MODELS": fromEnvironment.path]
        #expect(try locate(explicit.path, env, cwd: working.path) == explicit.path)
        #expect(try locate(nil, env, cwd: working.path) == fromEnvironment.path)
        // Default places count only when they hold the ResNet file.
        let installed = ["/usr/local/share/facewatch/models", "/usr/share/facewatch/models"]
            .contains { FileManager.default.fileExists(atPath: "\($0)/\(ModelFile.resnet)") }
        if !installed {
            #expect(throws: ModelError.self) { try locate(nil, [:], cwd: working.path) }
        }
        _ = FileManager.default.createFile(
            atPath: prefix.appendingPathComponent("share/facewatch/models/\(ModelFile.resnet)").path, contents: Data())
        #expect(try locate(nil, [:], cwd: working.path) == prefix.appendingPathComponent("share/facewatch/models").path)
        _ = FileManager.default.createFile(
            atPath: working.appendingPathComponent("models/\(ModelFile.resnet)").path, contents: Data())
        #expect(try locate(nil, [:], cwd: working.path) == working.appendingPathComponent("models").path)
        // An explicit directory that does not exist is an error, not a reason to look elsewhere.
        do {
            _ = try locate(root.appendingPathComponent("nope").path, [:], cwd: working.path)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .directoryNotFound)
            #expect(error.description.contains("make models"))
        }
    }
}
