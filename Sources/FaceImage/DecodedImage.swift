import FaceCore

/// An image decoded to 8-bit RGB with its EXIF orientation applied.
public struct DecodedImage: Sendable, Equatable {
    /// The format and the size after the orientation was applied.
    public var info: ImageInfo
    /// RGB, row-major, 3 bytes per pixel: `info.width * info.height * 3` bytes.
    public var pixels: [UInt8]

    public init(info: ImageInfo, pixels: [UInt8]) {
        self.info = info
        self.pixels = pixels
    }
}
