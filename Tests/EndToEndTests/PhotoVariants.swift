import FaceCore
import FaceImage
import FaceReport
import Foundation

/// Photos made from a test image by simple pixel operations (flips, crops, scales, small rotations,
/// brightness, a colour negative, swapped channels), so that tests can drop many different files
/// that hold the same face, or faces the encoder sees as other people, without the golden set.
struct PhotoVariant: Sendable, CustomStringConvertible {
    enum Step: Sendable {
        /// Mirror left to right.
        case flip
        /// Keep the part from (x, y), of width and height, as fractions of the picture.
        case crop(x: Double, y: Double, width: Double, height: Double)
        /// Resize by a factor in each direction (bilinear).
        case scale(x: Double, y: Double)
        /// Turn by degrees around the centre (bilinear; outside is grey).
        case rotate(Double)
        /// Multiply every sample, then add (clamped).
        case brightness(gain: Double, offset: Double)
        /// The colour negative.
        case negative
        /// Red and blue exchanged.
        case swapRedBlue
        /// The side left (or right) of a vertical line at `axis` (a fraction of the width) mirrored
        /// onto the other side: a symmetric face made of one half.
        case mirrorHalf(axis: Double, keepLeft: Bool)
        /// Each row shifted by `factor` times its distance from the middle row.
        case shear(Double)
    }

    var source: String
    var steps: [Step]
    var description: String { "\(source) \(steps)" }

    /// The variant as a JPEG (quality 92) made from `images`/`source`.
    func jpeg(from images: String) throws -> [UInt8] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: images + "/" + source)))
        let decoded = try ImageDecoder.decode(bytes, limits: ImageLimits())
        var image = Picture(width: decoded.info.width, height: decoded.info.height, pixels: decoded.pixels)
        for step in steps { image = image.applying(step) }
        return try RGBImage(width: image.width, height: image.height, pixels: image.pixels).encoded(
            as: .jpeg, quality: 92)
    }
}

/// RGB pixels, row-major.
private struct Picture {
    var width: Int
    var height: Int
    var pixels: [UInt8]

    /// The sample of channel `c` at (x, y), bilinear; grey outside.
    func sample(_ x: Double, _ y: Double, _ c: Int) -> Double {
        let x0 = Int(x.rounded(.down))
        let y0 = Int(y.rounded(.down))
        let fx = x - Double(x0)
        let fy = y - Double(y0)
        func at(_ px: Int, _ py: Int) -> Double {
            guard px >= 0, py >= 0, px < width, py < height else { return 128 }
            return Double(pixels[(py * width + px) * 3 + c])
        }
        let top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx
        let bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx
        return top * (1 - fy) + bottom * fy
    }

    /// A picture of `width` x `height` whose pixel (x, y) is read at `from(x, y)` in this one.
    func mapped(width: Int, height: Int, _ from: (Double, Double) -> (Double, Double)) -> Picture {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let (sx, sy) = from(Double(x), Double(y))
                for c in 0..<3 {
                    out[(y * width + x) * 3 + c] = UInt8(max(0, min(255, sample(sx, sy, c).rounded())))
                }
            }
        }
        return Picture(width: width, height: height, pixels: out)
    }

    func applying(_ step: PhotoVariant.Step) -> Picture {
        switch step {
        case .flip:
            return mapped(width: width, height: height) { (Double(width - 1) - $0, $1) }
        case .crop(let x, let y, let w, let h):
            let left = Double(width) * x
            let top = Double(height) * y
            return mapped(width: Int(Double(width) * w), height: Int(Double(height) * h)) { ($0 + left, $1 + top) }
        case .scale(let fx, let fy):
            return mapped(width: Int(Double(width) * fx), height: Int(Double(height) * fy)) { ($0 / fx, $1 / fy) }
        case .rotate(let degrees):
            let angle = degrees * .pi / 180
            let cx = Double(width) / 2
            let cy = Double(height) / 2
            return mapped(width: width, height: height) { x, y in
                let dx = x - cx
                let dy = y - cy
                return (cx + dx * cos(angle) + dy * sin(angle), cy - dx * sin(angle) + dy * cos(angle))
            }
        case .brightness(let gain, let offset):
            return Picture(
                width: width, height: height,
                pixels: pixels.map { UInt8(max(0, min(255, (Double($0) * gain + offset).rounded()))) })
        case .negative:
            return Picture(width: width, height: height, pixels: pixels.map { 255 - $0 })
        case .mirrorHalf(let axis, let keepLeft):
            let line = Double(width) * axis
            return mapped(width: width, height: height) { x, y in
                (keepLeft ? (x <= line ? x : 2 * line - x) : (x >= line ? x : 2 * line - x), y)
            }
        case .shear(let factor):
            let middle = Double(height) / 2
            return mapped(width: width, height: height) { x, y in (x + factor * (y - middle), y) }
        case .swapRedBlue:
            var out = pixels
            for i in stride(from: 0, to: out.count, by: 3) { out.swapAt(i, i + 2) }
            return Picture(width: width, height: height, pixels: out)
        }
    }
}

extension PhotoVariant {
    /// Sixty photos for the people order tests, from `astronaut.png`, `camera.png` and `chelsea.png`.
    /// Mirroring one half of the astronaut's face onto the other, or squeezing it, makes faces the
    /// encoder puts 0.33 to 0.76 from each other (measured with `facewatch encode`, HOG), while each
    /// look's own variants (flips, crops, scales, rotations of a few degrees, brightness) lie within
    /// 0.26 of each other. So at `cluster_distance` 0.3 there are five looks of 10 to 12 photos (people),
    /// two photos of a sixth look (alone: two faces are fewer than `cluster_min_faces`), and six
    /// photos with no face (the cameraman's is too small and turned for HOG, the cat has none).
    static let sixty: [(name: String, look: String, variant: PhotoVariant)] = {
        let variations: [[Step]] = [
            [], [.flip], [.rotate(6)], [.rotate(-5)], [.scale(x: 0.7, y: 0.7)], [.scale(x: 0.8, y: 0.8), .flip],
            [.brightness(gain: 0.6, offset: 0)], [.brightness(gain: 1.15, offset: 15)],
            [.crop(x: 0.1, y: 0, width: 0.8, height: 0.9)],
            [.crop(x: 0.05, y: 0.05, width: 0.85, height: 0.85), .flip],
            [.rotate(3), .brightness(gain: 0.8, offset: 0)], [.scale(x: 0.85, y: 0.85), .rotate(-3)],
        ]
        let looks: [(look: String, base: [Step], count: Int)] = [
            ("astronaut", [.scale(x: 0.6, y: 0.6)], 12),
            ("squeezed", [.scale(x: 0.4, y: 0.6)], 10),
            ("left-half", [.scale(x: 0.6, y: 0.6), .mirrorHalf(axis: 0.43, keepLeft: true)], 10),
            ("right-half", [.scale(x: 0.6, y: 0.6), .mirrorHalf(axis: 0.43, keepLeft: false)], 10),
            ("tall-right-half", [.scale(x: 0.6, y: 0.9), .mirrorHalf(axis: 0.43, keepLeft: false)], 10),
            ("tall-left-half", [.scale(x: 0.6, y: 0.9), .mirrorHalf(axis: 0.43, keepLeft: true)], 2),
        ]
        var photos: [(name: String, look: String, variant: PhotoVariant)] = []
        for (look, base, count) in looks {
            for (index, steps) in variations.prefix(count).enumerated() {
                photos.append(
                    ("\(look)-\(index).jpg", look, PhotoVariant(source: "astronaut.png", steps: base + steps)))
            }
        }
        for (index, steps) in variations.prefix(3).enumerated() {
            photos.append(
                (
                    "camera-\(index).jpg", "none",
                    PhotoVariant(source: "camera.png", steps: [.scale(x: 0.6, y: 0.6)] + steps)
                ))
            photos.append(
                (
                    "chelsea-\(index).jpg", "none",
                    PhotoVariant(source: "chelsea.png", steps: [.scale(x: 0.6, y: 0.6)] + steps)
                ))
        }
        return photos
    }()

    /// Writes the sixty photos into `directory`.
    static func writeSixty(into directory: String, from images: String) throws {
        for photo in sixty {
            try Data(photo.variant.jpeg(from: images)).write(to: URL(fileURLWithPath: directory + "/" + photo.name))
        }
    }
}
