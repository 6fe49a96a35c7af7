import FaceCore

/// One detection as the detector reports it, before face_recognition clips boxes to the image.
public struct FaceDetection: Sendable, Equatable {
    /// The box in the input image's coordinates (may reach outside the image).
    public var location: FaceLocation
    /// dlib's detection confidence: for HOG, the window's score minus its filter's threshold.
    public var confidence: Double

    public init(location: FaceLocation, confidence: Double) {
        self.location = location
        self.confidence = confidence
    }
}
