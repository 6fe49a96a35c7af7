import CDlibFace
import Foundation

/// Makes OpenBLAS run one thread per caller, once per process, before the first engine exists:
/// each encoder worker is one thread, so N workers use N cores instead of N×cores threads.
/// True when OpenBLAS was found and limited.
let blasLimitedToOneThread: Bool = fwd_limit_blas_threads() == 1

/// The dlib models, read from disk once and shared by every `FaceEngine`.
///
/// The shape predictor is used by all engines at once (dlib's `shape_predictor` is thread-safe); the
/// detector and the ResNet are copied into each engine, which owns them.
public final class FaceModels: @unchecked Sendable {
    // @unchecked Sendable: `handle` points to a `fwd_models` that is never modified after loading.
    // The only things done with it from several threads are fwd_engine_create (which copies the
    // templates under a mutex inside the C++) and the shape predictor's const call operator, which
    // dlib documents as thread-safe. It is freed in deinit, when no engine refers to it any more
    // (each engine holds a strong reference to this object).
    let handle: OpaquePointer

    /// The directory the models were read from.
    public let directory: URL
    /// The options the models were loaded for: `landmarks` and `detector` are fixed by the files
    /// loaded; `upsample` and `jitters` are the engines' defaults.
    public let options: EncoderOptions

    /// Finds the model directory; see `ModelLocator` for the order.
    public static func locate(explicit: String?) throws(ModelError) -> URL {
        try ModelLocator.locate(explicit: explicit)
    }

    /// Reads the models `options` needs from `directory`: the ResNet, the 5- or 68-point shape
    /// predictor, and the CNN detector when `options.detector` is `.cnn` or `.dlibCnn`. With the `hog` detector,
    /// `filterCache` (nil: none) keeps the filters facewatch's scanner derives from dlib's compiled-in
    /// detector between starts, so later starts skip decoding it (about 0.4 s); it is written when
    /// missing, stale or corrupt, and its directory is created (mode 0700) when missing.
    public init(
        directory: URL, options: EncoderOptions = EncoderOptions(), filterCache: URL? = FaceModels.defaultFilterCache
    ) throws(ModelError) {
        _ = blasLimitedToOneThread
        if let filterCache, options.detector == .hog {
            try? FileManager.default.createDirectory(
                at: filterCache.deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        var message = [CChar](repeating: 0, count: Int(FWD_MESSAGE_CAPACITY))
        var loaded: OpaquePointer?
        let load = { (cachePath: UnsafePointer<CChar>?) -> fwd_status in
            var modelOptions = fwd_model_options(
                detector: Self.detector(options.detector),
                landmarks: options.landmarks == .large ? FWD_LANDMARKS_68 : FWD_LANDMARKS_5,
                filter_cache: cachePath)
            return fwd_models_load(directory.path, &modelOptions, &loaded, &message, message.count)
        }
        let status = filterCache.map { $0.path.withCString { load($0) } } ?? load(nil)
        guard status == FWD_OK, let loaded else {
            let detail = String(cMessage: message)
            throw ModelError(
                Self.kind(of: status), path: Self.file(named: detail, in: directory, options: options),
                detail: detail)
        }
        self.handle = loaded
        self.directory = directory
        self.options = options.clamped
    }

    deinit {
        fwd_models_free(handle)
    }

    /// The file name of the kept filters (not a model; see `init`).
    public static let filterCacheName = "frontal_face_detector.fwhog"

    /// Where the filters are kept by default: `$XDG_CACHE_HOME/facewatch/`, else
    /// `$HOME/.cache/facewatch/`, never the models directory (an installed one belongs to the package
    /// manager); nil when neither variable is set.
    public static var defaultFilterCache: URL? {
        let environment = ProcessInfo.processInfo.environment
        let base: String
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") {
            base = cache
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            base = home + "/.cache"
        } else {
            return nil
        }
        return URL(fileURLWithPath: base).appendingPathComponent("facewatch").appendingPathComponent(filterCacheName)
    }

    private static func detector(_ kind: DetectorKind) -> fwd_detector {
        switch kind {
        case .hog: FWD_DETECTOR_HOG
        case .dlibHog: FWD_DETECTOR_DLIB_HOG
        case .cnn: FWD_DETECTOR_CNN
        case .dlibCnn: FWD_DETECTOR_DLIB_CNN
        }
    }

    private static func kind(of status: fwd_status) -> ModelError.Kind {
        switch status {
        case FWD_MODEL_MISSING: .missing
        case FWD_MODEL_CORRUPT: .corrupt
        default: .engineFailed
        }
    }

    /// The model file a C message talks about (messages name it), else the directory.
    private static func file(named detail: String, in directory: URL, options: EncoderOptions) -> String {
        for name in ModelFile.needed(for: options) where detail.contains(name) {
            return directory.appendingPathComponent(name).path
        }
        return directory.path
    }
}
