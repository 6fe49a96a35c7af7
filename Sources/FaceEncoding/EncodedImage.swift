import FaceCore

/// Where the time of one image went, in seconds.
public struct EncodeTimings: Sendable, Equatable {
    /// Reading the file (for the file variants) and decoding it to RGB.
    public var decode: Double
    /// Upsampling and running the face detector.
    public var detect: Double
    /// Landmarks, face chips and the ResNet, for all faces.
    public var encode: Double

    public init(decode: Double = 0, detect: Double = 0, encode: Double = 0) {
        self.decode = decode
        self.detect = detect
        self.encode = encode
    }

    /// The sum of the three parts.
    public var total: Double { decode + detect + encode }
}

/// The outcome of encoding one image: what it was and every face in it, in the detector's order.
public struct EncodedImage: Sendable, Equatable {
    public var image: ImageInfo
    public var faces: [Face]
    public var timings: EncodeTimings

    public init(image: ImageInfo, faces: [Face], timings: EncodeTimings) {
        self.image = image
        self.faces = faces
        self.timings = timings
    }
}
