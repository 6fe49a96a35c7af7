import FaceCore
import FaceImage
import FaceTestSupport
import Foundation
import Testing
@testable import FaceEncoding

/// facewatch's HOG scanner (`hog`) against dlib's own (`dlib-hog`): the same detections, in the same
/// order, with identical boxes and scores within `HOGStageTests.scoreBound` (the filter bank's sums
/// are fused multiply-adds; every other step is dlib's arithmetic). On every conformance image and on
/// generated variants of them: crops (around faces and anywhere), scales, noise, gray, flips,
/// transposes, odd and tiny sizes, with 0, 1 and 2 upsamplings. The scanner with helper threads (its
/// levels split into strips) must give exactly what it gives alone.
@Suite(.serialized, .timeLimit(.minutes(4))) struct DetectorDifferentialTests {
    struct Engines {
        let ours: FaceEngine
        let dlib: FaceEngine
        /// Our scanner with 3 helper threads to borrow.
        let split: FaceEngine
    }

    /// The engines, or a failure naming what is missing.
    static func engines() throws -> Engines {
        try engines(ours: EngineTestSupport.defaultModels, dlib: EngineTestSupport.dlibHogModels)
    }

    /// Our detector alone and with 3 helpers, and dlib's reference, from their models (the CNN
    /// differential tests use it too).
    static func engines<E: Error>(ours: Result<FaceModels, E>, dlib: Result<FaceModels, E>) throws -> Engines {
        let split = try FaceEngine(models: try ours.get())
        split.detectionHelpers = try #require(DetectionHelpers(available: 3))
        return Engines(
            ours: try FaceEngine(models: try ours.get()), dlib: try FaceEngine(models: try dlib.get()), split: split)
    }

    /// The decodable conformance images, each decoded image once: a file whose pixels an earlier name
    /// already gave (the lossless WebP is the PNG's pixels, the progressive JPEG the baseline one's)
    /// would only run the same detections again.
    static func testImages() throws -> [(name: String, image: DecodedImage)] {
        let directory = EngineTestSupport.testImageDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path), !names.isEmpty else {
            throw MissingTestImages(path: directory.path)
        }
        struct Pixels: Hashable {
            let width: Int
            let height: Int
            let bytes: [UInt8]
        }
        var seen = Set<Pixels>()
        return names.sorted().compactMap { name in
            guard let bytes = try? EngineTestSupport.testImage(name),
                let image = try? ImageDecoder.decode(bytes, limits: ImageLimits()),
                seen.insert(Pixels(width: image.info.width, height: image.info.height, bytes: image.pixels)).inserted
            else { return nil }
            return (name, image)
        }
    }

    /// Same boxes in the same order, scores within the bound.
    static func agree(_ ours: [FaceDetection], _ reference: [FaceDetection]) -> Bool {
        ours.count == reference.count
            && zip(ours, reference).allSatisfy { a, b in
                a.location == b.location && abs(a.confidence - b.confidence) <= HOGStageTests.scoreBound
            }
    }

    /// Runs the detectors on `image` and records any difference; returns how many faces dlib found.
    @discardableResult
    static func compare(_ image: DecodedImage, upsample: Int, label: String, engines: Engines) async throws -> Int {
        engines.ours.options.upsample = upsample
        engines.dlib.options.upsample = upsample
        engines.split.options.upsample = upsample
        let owned = TestOwned(engines)
        let (ours, reference, split) = try await offTheCooperativePool {
            (
                try owned.value.ours.detect(image: image), try owned.value.dlib.detect(image: image),
                try owned.value.split.detect(image: image)
            )
        }
        #expect(
            agree(ours, reference),
            "\(label) (\(image.info.width)x\(image.info.height), upsample \(upsample)): ours \(ours), dlib \(reference)"
        )
        #expect(split == ours, "\(label) (upsample \(upsample)): with helpers \(split), alone \(ours)")
        return reference.count
    }

    @Test func sameDetectionsOnEveryTestImage() async throws {
        let engines = try Self.engines()
        let images = try Self.testImages()
        #expect(images.count >= 10, "only \(images.count) decodable test images")
        var faces = 0
        for (name, image) in images {
            // Heavy and synchronous: give the cooperative threads back between images, so the
            // other suites running beside this one are not held up for minutes.
            await Task.yield()
            faces += try await Self.compare(image, upsample: 1, label: name, engines: engines)
        }
        #expect(faces >= 10, "dlib found only \(faces) faces in the test images: the comparison is too weak")
        // The other upsampling counts on a few images (upsample 2 quadruples the work).
        for (name, image) in images.prefix(3) {
            try await Self.compare(image, upsample: 0, label: name, engines: engines)
        }
        if let (name, image) = images.first(where: { $0.name == "two_faces.png" }) {
            try await Self.compare(image, upsample: 2, label: name, engines: engines)
        }
    }

    @Test func sameDetectionsOnGeneratedVariants() async throws {
        let engines = try Self.engines()
        let sources = try Self.testImages().filter { $0.image.info.width >= 64 && $0.image.info.height >= 64 }
        #expect(!sources.isEmpty)
        var random = SeededGenerator(seed: 0x5EED_FACE)
        // Face boxes (dlib's, upsample 1) to crop around.
        engines.dlib.options.upsample = 1
        let faceBoxes = try sources.map { try engines.dlib.detect(image: $0.image).map(\.location) }

        let variantCount = 520
        var withFaces = 0
        for index in 0..<variantCount {
            // Heavy and synchronous: give the cooperative threads back between images, so the
            // other suites running beside this one are not held up for minutes.
            await Task.yield()
            let sourceIndex = Int(random.next(below: UInt64(sources.count)))
            let source = sources[sourceIndex].image
            var variant: DecodedImage
            var label = "variant \(index) of \(sources[sourceIndex].name):"
            if index % 16 == 15 {
                // Tiny and odd sizes: the scanner's edge cases (no cells, one cell, a partial level).
                let width = 1 + Int(random.next(below: 40))
                let height = 1 + Int(random.next(below: 40))
                variant = ImageVariants.crop(
                    source, x: 0, y: 0, width: min(width, source.info.width),
                    height: min(height, source.info.height))
                label += " tiny"
            } else if let box = faceBoxes[sourceIndex].randomElement(using: &random), index % 3 != 2 {
                // Around a face, the face scaled to 40..100 pixels.
                let size = max(box.right - box.left, box.bottom - box.top, 1)
                let margin = Double(random.next(below: 120) + 30) / 100
                let side = Int(Double(size) * (1 + 2 * margin))
                let cx = (box.left + box.right) / 2 + Int(random.next(below: 21)) - 10
                let cy = (box.top + box.bottom) / 2 + Int(random.next(below: 21)) - 10
                variant = ImageVariants.crop(
                    source, x: cx - side / 2, y: cy - side / 2, width: side, height: side + Int(random.next(below: 17)))
                let target = Double(random.next(below: 61) + 40) / Double(size)
                variant = ImageVariants.scale(variant, by: min(target, 1.5))
                label += " face crop"
            } else {
                let width = 24 + Int(random.next(below: 137))
                let height = 24 + Int(random.next(below: 137))
                let x = Int(random.next(below: UInt64(max(source.info.width - width, 1))))
                let y = Int(random.next(below: UInt64(max(source.info.height - height, 1))))
                variant = ImageVariants.crop(source, x: x, y: y, width: width, height: height)
                label += " crop"
            }
            // Upright faces survive horizontal flips, gray and noise; upside-down and transposed
            // ones are rarer, so most variants keep their faces.
            let transforms = random.next(below: 256)
            if transforms & 1 != 0 {
                variant = ImageVariants.flipHorizontally(variant)
                label += " hflip"
            }
            if transforms & 6 == 6 {
                variant = ImageVariants.flipVertically(variant)
                label += " vflip"
            }
            if transforms & 8 != 0 && transforms & 16 != 0 {
                variant = ImageVariants.gray(variant)
                label += " gray"
            }
            if transforms & 32 != 0 {
                let amplitude = Int(random.next(below: 24)) + 1
                variant = ImageVariants.noise(variant, amplitude: amplitude, random: &random)
                label += " noise \(amplitude)"
            }
            if transforms & 192 == 192 {
                variant = ImageVariants.transpose(variant)
                label += " transpose"
            }
            // Mostly face_recognition's upsample 1; some 0, a few 2 on small images.
            let choice = random.next(below: 10)
            let upsample =
                choice == 0 && variant.info.width * variant.info.height <= 120 * 120 ? 2 : (choice < 3 ? 0 : 1)
            if try await Self.compare(variant, upsample: upsample, label: label, engines: engines) > 0 {
                withFaces += 1
            }
        }
        // Enough variants must contain faces for box and score equality to mean something.
        #expect(withFaces >= variantCount / 5, "only \(withFaces) of \(variantCount) variants had a face")
    }
}

extension SeededGenerator {
    /// A number in 0..<bound (0 when bound is 0).
    fileprivate mutating func next(below bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }
}

/// Image transformations the differential test makes its variants with.
enum ImageVariants {
    /// The part of `image` in the rectangle, clamped to the image (at least 1×1).
    static func crop(_ image: DecodedImage, x: Int, y: Int, width: Int, height: Int) -> DecodedImage {
        let x0 = min(max(x, 0), image.info.width - 1)
        let y0 = min(max(y, 0), image.info.height - 1)
        let w = max(1, min(width, image.info.width - x0))
        let h = max(1, min(height, image.info.height - y0))
        return map(image, width: w, height: h) { px, py in (x0 + px, y0 + py) }
    }

    /// Nearest-neighbour scaling by `factor` (at least 1×1).
    static func scale(_ image: DecodedImage, by factor: Double) -> DecodedImage {
        let w = max(1, Int(Double(image.info.width) * factor))
        let h = max(1, Int(Double(image.info.height) * factor))
        return map(image, width: w, height: h) { px, py in
            (min(Int(Double(px) / factor), image.info.width - 1), min(Int(Double(py) / factor), image.info.height - 1))
        }
    }

    static func flipHorizontally(_ image: DecodedImage) -> DecodedImage {
        map(image, width: image.info.width, height: image.info.height) { px, py in (image.info.width - 1 - px, py) }
    }

    static func flipVertically(_ image: DecodedImage) -> DecodedImage {
        map(image, width: image.info.width, height: image.info.height) { px, py in (px, image.info.height - 1 - py) }
    }

    static func transpose(_ image: DecodedImage) -> DecodedImage {
        map(image, width: image.info.height, height: image.info.width) { px, py in (py, px) }
    }

    /// Each pixel's luma (integer BT.601 weights) in all three channels.
    static func gray(_ image: DecodedImage) -> DecodedImage {
        var pixels = image.pixels
        for i in stride(from: 0, to: pixels.count, by: 3) {
            let luma = (299 * Int(pixels[i]) + 587 * Int(pixels[i + 1]) + 114 * Int(pixels[i + 2]) + 500) / 1000
            pixels[i] = UInt8(luma)
            pixels[i + 1] = UInt8(luma)
            pixels[i + 2] = UInt8(luma)
        }
        return DecodedImage(info: image.info, pixels: pixels)
    }

    /// Uniform noise in [-amplitude, amplitude] on every channel, clamped to 0...255.
    static func noise(_ image: DecodedImage, amplitude: Int, random: inout SeededGenerator) -> DecodedImage {
        var pixels = image.pixels
        let span = UInt64(2 * amplitude + 1)
        for i in pixels.indices {
            let delta = Int(random.next(below: span)) - amplitude
            pixels[i] = UInt8(min(max(Int(pixels[i]) + delta, 0), 255))
        }
        return DecodedImage(info: image.info, pixels: pixels)
    }

    /// A `width`×`height` image whose pixel (x, y) is `image`'s pixel at `source(x, y)`.
    private static func map(_ image: DecodedImage, width: Int, height: Int, source: (Int, Int) -> (Int, Int))
        -> DecodedImage
    {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for py in 0..<height {
            for px in 0..<width {
                let (sx, sy) = source(px, py)
                let from = (sy * image.info.width + sx) * 3
                let to = (py * width + px) * 3
                pixels[to] = image.pixels[from]
                pixels[to + 1] = image.pixels[from + 1]
                pixels[to + 2] = image.pixels[from + 2]
            }
        }
        return DecodedImage(info: ImageInfo(format: image.info.format, width: width, height: height), pixels: pixels)
    }
}
