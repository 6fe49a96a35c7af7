/// Which landmark model places the points a face chip is aligned on.
public enum Landmarks: String, Sendable, CaseIterable {
    /// `shape_predictor_5_face_landmarks.dat`: 5 points, face_recognition's default for encodings.
    case small
    /// `shape_predictor_68_face_landmarks.dat`: 68 points.
    case large

    /// The model file this choice loads.
    public var modelFile: String {
        switch self {
        case .small: ModelFile.landmarks5
        case .large: ModelFile.landmarks68
        }
    }
}

/// Which face detector runs.
public enum DetectorKind: String, Sendable, CaseIterable {
    /// dlib's HOG frontal face detector, face_recognition's default, computed by facewatch's own
    /// scanner: the same boxes and scores as `dlibHog`, faster and in less memory.
    case hog
    /// The same detector run by dlib's own scanner (`scan_fhog_pyramid`): the reference `hog` is
    /// tested against.
    case dlibHog = "dlib-hog"
    /// dlib's MMOD CNN face detector (`mmod_human_face_detector.dat`), face_recognition's `cnn`,
    /// computed by facewatch's own forward pass: the same boxes as `dlibCnn`, several times faster.
    /// Finds faces HOG misses (turned, tilted, small, badly lit); slower than `hog`.
    case cnn
    /// The same network run by dlib's own network code: the reference `cnn` is tested against.
    case dlibCnn = "dlib-cnn"

    /// Whether this detector is the MMOD CNN (it needs `mmod_human_face_detector.dat`).
    public var isCNN: Bool { self == .cnn || self == .dlibCnn }
}

/// How images are encoded. The defaults are face_recognition's.
public struct EncoderOptions: Sendable, Equatable {
    /// Valid values of `upsample`.
    public static let upsampleRange = 0...8
    /// Valid values of `jitters`.
    public static let jittersRange = 1...1000

    /// How many times the image is doubled in size before detection (finds smaller faces).
    public var upsample: Int = 1
    /// How many randomly jittered copies of each face chip are averaged (1: none).
    public var jitters: Int = 1
    /// 5-point (`small`) or 68-point (`large`) landmarks.
    public var landmarks: Landmarks = .small
    /// HOG (ours or dlib's scanner) or CNN face detector.
    public var detector: DetectorKind = .hog

    public init(upsample: Int = 1, jitters: Int = 1, landmarks: Landmarks = .small, detector: DetectorKind = .hog) {
        self.upsample = upsample
        self.jitters = jitters
        self.landmarks = landmarks
        self.detector = detector
    }

    /// Clamps `upsample` and `jitters` into their valid ranges.
    var clamped: EncoderOptions {
        var copy = self
        copy.upsample = min(max(upsample, Self.upsampleRange.lowerBound), Self.upsampleRange.upperBound)
        copy.jitters = min(max(jitters, Self.jittersRange.lowerBound), Self.jittersRange.upperBound)
        return copy
    }
}
