import CHOGStageChecks
import FaceCore
import FaceImage
import Foundation
import Testing
@testable import FaceEncoding

/// Each stage of facewatch's HOG scanner against the same stage of dlib on the same input: the
/// bilinear resize (pyramid_up, pyramid_down<6>) and the pyramid's sizes bit for bit; the fhog planes
/// within `featureBound` of dlib's and the 5 filters' score images within `scoreBound`, both computed
/// band by band and bit for bit the same whatever the band.
@Suite(.serialized, .timeLimit(.minutes(2))) struct HOGStageTests {
    /// Small inputs: two test images cropped, and noise images of awkward sizes (tails of the 8-lane
    /// loops, one cell, no cells).
    static func inputs() throws -> [(label: String, image: DecodedImage)] {
        var inputs: [(String, DecodedImage)] = []
        for name in ["two_faces.png", "astronaut.png"] {
            let decoded = try ImageDecoder.decode(try EngineTestSupport.testImage(name), limits: ImageLimits())
            inputs.append((name, ImageVariants.crop(decoded, x: 40, y: 30, width: 203, height: 157)))
        }
        var random = SeededGenerator(seed: 42)
        for (width, height) in [(1, 1), (7, 9), (17, 8), (64, 64), (83, 61), (131, 97)] {
            let pixels = (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            inputs.append(
                (
                    "noise \(width)x\(height)",
                    DecodedImage(info: ImageInfo(format: .png, width: width, height: height), pixels: pixels)
                ))
        }
        return inputs
    }

    @Test func resizeIsBitExact() throws {
        for (label, image) in try Self.inputs() {
            let (w, h) = (Int32(image.info.width), Int32(image.info.height))
            image.pixels.withUnsafeBufferPointer { px in
                // pyramid_up's size, pyramid_down<6>'s size, and odd ones; halving and thirding take the
                // gathers where pyramid sizes take byte shuffles.
                for (ow, oh) in [
                    (2 * w + 2, 2 * h + 1), (max(w * 5 / 6, 1), max(h * 5 / 6, 1)), (w + 3, max(h - 1, 1)),
                    (max(w / 2, 1), max(h / 2, 1)), (max(w / 3, 1), h),
                ] {
                    #expect(hsc_resize_differences(px.baseAddress, w, h, ow, oh) == 0, "\(label) -> \(ow)x\(oh)")
                }
            }
            #expect(hsc_pyramid_size_differences(w, h) == 0, "\(label)")
        }
    }

    /// The largest fhog feature difference from dlib the histogram may have: a pixel row's votes go
    /// to one row of cells before they are weighted into two histogram rows, where dlib adds each
    /// pixel's four products in raster order (observed on 2026-11-29: 1.8e-7 on the golden set; the
    /// features are at most about 0.5). A wrong orientation or bin would move a whole vote, far more.
    static let featureBound = 1e-5

    @Test func fhogPlanesAreWithinTheBound() throws {
        for (label, image) in try Self.inputs() {
            for band in [Int32(1), 7, 64] {
                let difference = image.pixels.withUnsafeBufferPointer { px in
                    hsc_fhog_max_difference(px.baseAddress, Int32(image.info.width), Int32(image.info.height), band)
                }
                #expect(
                    difference >= 0 && difference <= Self.featureBound, "\(label), bands of \(band) rows: \(difference)"
                )
            }
        }
    }

    @Test func fhogPlanesDoNotDependOnTheBand() throws {
        for (label, image) in try Self.inputs() {
            let differences = image.pixels.withUnsafeBufferPointer { px in
                hsc_fhog_band_differences(px.baseAddress, Int32(image.info.width), Int32(image.info.height), 1, 7)
                    + hsc_fhog_band_differences(
                        px.baseAddress, Int32(image.info.width), Int32(image.info.height), 7, 64)
            }
            #expect(differences == 0, "\(label)")
        }
    }

    /// The largest score difference from dlib the filter bank may have: its sums are chains of fused
    /// multiply-adds, dlib's are separately rounded products in three partial sums (observed on
    /// 2026-11-29: 1.2e-6 on score images; 1.4e-6 on the golden set's detections, which also carry the
    /// histogram's reordered sums). The detector's tests hold detection scores to the same bound.
    static let scoreBound = 1e-4

    @Test func filterScoresAreWithinTheBound() throws {
        for (label, image) in try Self.inputs() {
            for band in [Int32(1), 13] {
                let difference = image.pixels.withUnsafeBufferPointer { px in
                    hsc_filter_score_max_difference(
                        px.baseAddress, Int32(image.info.width), Int32(image.info.height), band)
                }
                #expect(
                    difference >= 0 && difference <= Self.scoreBound, "\(label), bands of \(band) rows: \(difference)")
            }
        }
    }

    @Test func filterScoresDoNotDependOnTheBand() throws {
        for (label, image) in try Self.inputs() {
            let differences = image.pixels.withUnsafeBufferPointer { px in
                hsc_filter_score_band_differences(
                    px.baseAddress, Int32(image.info.width), Int32(image.info.height), 1, 13)
            }
            #expect(differences == 0, "\(label)")
        }
    }
}
