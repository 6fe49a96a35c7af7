import FaceImage

/// An 8-bit RGB picture being drawn on: row-major, 3 bytes per pixel.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// One colour, red, green and blue.
    public struct Color: Sendable, Equatable {
        public var red: UInt8
        public var green: UInt8
        public var blue: UInt8

        public init(red: UInt8, green: UInt8, blue: UInt8) {
            self.red = red
            self.green = green
            self.blue = blue
        }

        public static let white = Color(red: 255, green: 255, blue: 255)
    }

    /// A `width` x `height` picture of `pixels` (exactly `width * height * 3` bytes).
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(
            width > 0 && height > 0 && pixels.count == width * height * 3, "not a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Any buffer, unchecked: for tests of the encoder's own checks.
    init(unchecked pixels: [UInt8], width: Int, height: Int) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The decoded image, upright.
    public init(_ decoded: DecodedImage) {
        self.init(width: decoded.info.width, height: decoded.info.height, pixels: decoded.pixels)
    }

    /// The colour at (`x`, `y`).
    public func color(x: Int, y: Int) -> Color {
        let i = (y * width + x) * 3
        return Color(red: pixels[i], green: pixels[i + 1], blue: pixels[i + 2])
    }

    /// Fills the rectangle `[x0, x1) x [y0, y1)`, clipped to the picture.
    public mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, with color: Color) {
        let (left, right) = (max(0, x0), min(width, x1))
        let (top, bottom) = (max(0, y0), min(height, y1))
        guard left < right, top < bottom else { return }
        pixels.withUnsafeMutableBufferPointer { p in
            for y in top..<bottom {
                var i = (y * width + left) * 3
                for _ in left..<right {
                    p[i] = color.red
                    p[i + 1] = color.green
                    p[i + 2] = color.blue
                    i += 3
                }
            }
        }
    }

    /// A copy whose longer side is at most `maxSide` pixels (the same picture when it already is),
    /// each output pixel the mean of the source pixels it covers (a box filter: no aliasing).
    public func scaledDown(toFit maxSide: Int) -> RGBImage {
        let longer = max(width, height)
        guard longer > maxSide, maxSide > 0 else { return self }
        let outWidth = max(1, width * maxSide / longer)
        let outHeight = max(1, height * maxSide / longer)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
        pixels.withUnsafeBufferPointer { src in
            for oy in 0..<outHeight {
                let sy0 = oy * height / outHeight
                let sy1 = max(sy0 + 1, (oy + 1) * height / outHeight)
                for ox in 0..<outWidth {
                    let sx0 = ox * width / outWidth
                    let sx1 = max(sx0 + 1, (ox + 1) * width / outWidth)
                    var (r, g, b) = (0, 0, 0)
                    for sy in sy0..<sy1 {
                        var i = (sy * width + sx0) * 3
                        for _ in sx0..<sx1 {
                            r += Int(src[i])
                            g += Int(src[i + 1])
                            b += Int(src[i + 2])
                            i += 3
                        }
                    }
                    let n = (sy1 - sy0) * (sx1 - sx0)
                    let o = (oy * outWidth + ox) * 3
                    out[o] = UInt8((r + n / 2) / n)
                    out[o + 1] = UInt8((g + n / 2) / n)
                    out[o + 2] = UInt8((b + n / 2) / n)
                }
            }
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: out)
    }
}
