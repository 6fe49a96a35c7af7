/// A face's bounding box in image pixels, as face_recognition reports it: `(top, right, bottom, left)`,
/// clipped to the image (right and bottom may equal the width and height).
public struct FaceLocation: Codable, Sendable, Equatable, Hashable {
    public var top: Int
    public var right: Int
    public var bottom: Int
    public var left: Int

    public init(top: Int, right: Int, bottom: Int, left: Int) {
        self.top = top
        self.right = right
        self.bottom = bottom
        self.left = left
    }
}

/// One face found in an image: where it is and its 128-number encoding.
public struct Face: Codable, Sendable, Equatable {
    /// Number of components of an encoding (dlib's ResNet descriptor).
    public static let encodingLength = 128

    public var location: FaceLocation
    /// The 128 float32 components computed by dlib's face recognition ResNet.
    public var encoding: [Float]
    /// The known people this face resembles, closest first (`PersonMatch`); nil where known people do
    /// not apply (`facewatch encode`, the ledger's records), empty for a face nobody known resembles.
    public var matches: [PersonMatch]?

    public init(location: FaceLocation, encoding: [Float], matches: [PersonMatch]? = nil) {
        self.location = location
        self.encoding = encoding
        self.matches = matches
    }
}
