/// The image formats facewatch decodes.
public enum ImageFormat: String, Codable, Sendable {
    case jpeg
    case png

    /// The file extension used in the store for this format.
    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .png: "png"
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
