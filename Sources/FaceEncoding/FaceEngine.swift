import CDlibFace
import FaceCore
import FaceImage
import Foundation

/// One face engine: its own HOG or CNN detector and ResNet (copied from `FaceModels`), the shared
/// shape predictor, and the pipeline of face_recognition 1.3.0 (docs/ARCHITECTURE.md, "The engine").
///
/// Not thread-safe and not `Sendable`: use one engine per worker thread (`EncoderPool` does).
public final class FaceEngine {
    /// The models this engine was made from (kept alive as long as the engine).
    public let models: FaceModels
    /// Upsample count and jitters used by `encode`. `landmarks` and `detector` are those of `models`
    /// and cannot be changed here.
    public var options: EncoderOptions {
        didSet {
            options.landmarks = models.options.landmarks
            options.detector = models.options.detector
            options = options.clamped
        }
    }

    /// Where this engine borrows helper threads while it detects (nil: it uses only its caller's
    /// thread). The engine keeps the budget alive.
    public var detectionHelpers: DetectionHelpers? {
        didSet { fwd_engine_set_helper_budget(handle, detectionHelpers?.handle) }
    }

    private let handle: OpaquePointer
    private var message = [CChar](repeating: 0, count: Int(FWD_MESSAGE_CAPACITY))

    /// Creates an engine with its own copy of the detector and the network. Limits OpenBLAS to one
    /// thread first (once per process).
    public init(models: FaceModels) throws(ModelError) {
        _ = blasLimitedToOneThread
        var created: OpaquePointer?
        let status = fwd_engine_create(models.handle, &created, &message, message.count)
        guard status == FWD_OK, let created else {
            throw ModelError(.engineFailed, path: models.directory.path, detail: String(cMessage: message))
        }
        self.handle = created
        self.models = models
        self.options = models.options
    }

    deinit {
        fwd_engine_set_helper_budget(handle, nil)
        fwd_engine_free(handle)
    }

    /// Reads the file at `path` (see `ImageFile.read`: a regular file, at most `limits.maxBytes`,
    /// checked before reading), decodes it and encodes every face. The decode timing includes reading.
    public func encode(fileAt path: String, limits: ImageLimits) -> Result<EncodedImage, Failure> {
        let start = Stopwatch()
        switch ImageFile.read(atPath: path, maxBytes: limits.maxBytes) {
        case .failure(let failure):
            return .failure(failure)
        case .success(let bytes):
            return encode(bytes: bytes, limits: limits, alreadySpent: start.seconds)
        }
    }

    /// Decodes JPEG or PNG `bytes` (checking `limits`, applying EXIF orientation) and encodes every
    /// face, in the detector's order. Zero faces is a success.
    public func encode(bytes: [UInt8], limits: ImageLimits) -> Result<EncodedImage, Failure> {
        encode(bytes: bytes, limits: limits, alreadySpent: 0)
    }

    /// Encodes every face of an already decoded image.
    public func encode(image: DecodedImage) -> Result<EncodedImage, Failure> {
        let info = image.info
        guard info.width > 0, info.height > 0, info.width <= Int(Int32.max), info.height <= Int(Int32.max),
            image.pixels.count == info.width * info.height * 3
        else {
            return .failure(
                Failure(.corruptImage, "decoded image of \(info.width)x\(info.height) has \(image.pixels.count) bytes"))
        }
        var encodeOptions = fwd_encode_options(upsample: Int32(options.upsample), jitters: Int32(options.jitters))
        var result = fwd_result()
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            fwd_engine_encode(
                handle, pixels.baseAddress, Int32(info.width), Int32(info.height), &encodeOptions,
                &result, &message, message.count)
        }
        guard status == FWD_OK else {
            return .failure(Self.failure(for: status, message: String(cMessage: message), image: info))
        }
        var faces: [Face] = []
        faces.reserveCapacity(result.face_count)
        for index in 0..<result.face_count {
            let face = result.faces[index]
            let encoding = withUnsafeBytes(of: face.encoding) { Array($0.bindMemory(to: Float.self)) }
            let coordinates = withUnsafeBytes(of: face.landmarks) { Array($0.bindMemory(to: Int32.self)) }
            let count = min(Int(face.landmark_count), coordinates.count / 2)
            let points = (0..<max(count, 0)).map {
                FaceLandmarks.Point(x: Int(coordinates[2 * $0]), y: Int(coordinates[2 * $0 + 1]))
            }
            faces.append(
                Face(
                    location: FaceLocation(
                        top: Int(face.top), right: Int(face.right), bottom: Int(face.bottom),
                        left: Int(face.left)),
                    encoding: encoding, score: face.confidence, landmarks: FaceLandmarks(points: points)))
        }
        return .success(
            EncodedImage(
                image: info, faces: faces,
                timings: EncodeTimings(decode: 0, detect: result.detect_seconds, encode: result.encode_seconds)))
    }

    /// Runs only the detector on a decoded image, with `options.upsample`, and returns every
    /// detection in the detector's order with its score, boxes not clipped to the image.
    /// - Throws: `Failure` when the image's size does not match its pixels or the engine fails.
    public func detect(image: DecodedImage) throws(Failure) -> [FaceDetection] {
        let info = image.info
        guard info.width > 0, info.height > 0, info.width <= Int(Int32.max), info.height <= Int(Int32.max),
            image.pixels.count == info.width * info.height * 3
        else {
            throw Failure(
                .corruptImage, "decoded image of \(info.width)x\(info.height) has \(image.pixels.count) bytes")
        }
        var found: UnsafePointer<fwd_detection>?
        var count = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            fwd_engine_detect(
                handle, pixels.baseAddress, Int32(info.width), Int32(info.height), Int32(options.upsample),
                &found, &count, &message, message.count)
        }
        guard status == FWD_OK else { throw Self.failure(for: status, message: String(cMessage: message), image: info) }
        return (0..<count).map { index in
            let d = found![index]
            return FaceDetection(
                location: FaceLocation(top: Int(d.top), right: Int(d.right), bottom: Int(d.bottom), left: Int(d.left)),
                confidence: d.confidence)
        }
    }

    private func encode(bytes: [UInt8], limits: ImageLimits, alreadySpent: Double) -> Result<EncodedImage, Failure> {
        if bytes.isEmpty { return .failure(Failure(.emptyFile, "the file is empty")) }
        let decodeStart = Stopwatch()
        let decoded: DecodedImage
        do {
            decoded = try ImageDecoder.decode(bytes, limits: limits)
        } catch {
            return .failure(error)
        }
        let decodeSeconds = alreadySpent + decodeStart.seconds
        return encode(image: decoded).map { encoded in
            var encoded = encoded
            encoded.timings.decode = decodeSeconds
            return encoded
        }
    }

    /// The C engine's failures as result codes. They do not happen with a valid decoded image except
    /// when memory runs out: an `ENOMEM` `io_error`, the machine's state at that moment, which the
    /// daemon retries (the image passed `max_pixels`; its size is not at fault).
    static func failure(for status: fwd_status, message: String, image: ImageInfo) -> Failure {
        switch status {
        case FWD_OUT_OF_MEMORY:
            Failure(
                .ioError, "out of memory encoding a \(image.width)x\(image.height) image", systemError: ENOMEM)
        default:
            Failure(.corruptImage, "the face engine failed on a \(image.width)x\(image.height) image: \(message)")
        }
    }
}

@available(*, unavailable, message: "a FaceEngine belongs to one thread; use EncoderPool to share work")
extension FaceEngine: Sendable {}

/// Measures elapsed seconds on a monotonic clock.
struct Stopwatch {
    private let start = DispatchTime.now().uptimeNanoseconds

    var seconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}
