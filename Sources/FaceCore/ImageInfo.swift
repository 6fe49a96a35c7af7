/// The image formats facewatch decodes (docs/formats.md).
public enum ImageFormat: String, Codable, Sendable, CaseIterable {
    case jpeg
    case png
    case webp
    /// HEIF with HEVC-coded images: HEIC, as phones save photos.
    case heif
    case avif

    /// The usual file extension of this format.
    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .png: "png"
        case .webp: "webp"
        case .heif: "heic"
        case .avif: "avif"
        }
    }
}

/// What was decoded: the format and the size after the EXIF orientation was applied.
public struct ImageInfo: Codable, Sendable, Equatable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int

    public init(format: ImageFormat, width: Int, height: Int) {
        self.format = format
        self.width = width
        self.height = height
    }
}
