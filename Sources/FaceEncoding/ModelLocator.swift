import Foundation

/// The names of the dlib model files (from PyPI's `face_recognition_models` 0.3.0; checksums in
/// `models/SHA256SUMS`).
public enum ModelFile {
    public static let resnet = "dlib_face_recognition_resnet_model_v1.dat"
    public static let landmarks5 = "shape_predictor_5_face_landmarks.dat"
    public static let landmarks68 = "shape_predictor_68_face_landmarks.dat"
    public static let cnnDetector = "mmod_human_face_detector.dat"

    /// Every model file.
    public static let all = [resnet, landmarks5, landmarks68, cnnDetector]

    /// The files that `options` needs.
    public static func needed(for options: EncoderOptions) -> [String] {
        var files = [resnet, options.landmarks.modelFile]
        if options.detector.isCNN { files.append(cnnDetector) }
        return files
    }
}

/// Finds the directory that holds the models.
///
/// Order: the explicit directory (`--models`), `$FACEWATCH_MODELS`, `./models`,
/// `../share/facewatch/models` relative to the executable, `/usr/local/share/facewatch/models`,
/// `/usr/share/facewatch/models`. An explicit directory or `$FACEWATCH_MODELS` is used as given (a
/// wrong one is an error, not a reason to look elsewhere); the other places are taken when they hold
/// the ResNet model file.
public enum ModelLocator {
    /// The environment variable naming the model directory.
    public static let environmentVariable = "FACEWATCH_MODELS"

    /// The model directory, or a `ModelError` listing where it looked.
    public static func locate(
        explicit: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath,
        executablePath: String? = ModelLocator.executablePath()
    ) throws(ModelError) -> URL {
        if let explicit, !explicit.isEmpty {
            return try existingDirectory(explicit, source: "--models")
        }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            return try existingDirectory(fromEnvironment, source: "$\(environmentVariable)")
        }
        let candidates = searchPath(currentDirectory: currentDirectory, executablePath: executablePath)
        for candidate in candidates
        where FileManager.default.fileExists(atPath: candidate + "/" + ModelFile.resnet) {
            return URL(fileURLWithPath: candidate, isDirectory: true).standardizedFileURL
        }
        throw ModelError(
            .directoryNotFound, path: candidates.first ?? "models",
            detail: "no \(ModelFile.resnet) in " + candidates.joined(separator: ", "))
    }

    /// The default places, in order, after the explicit directory and the environment variable.
    public static func searchPath(currentDirectory: String, executablePath: String?) -> [String] {
        var places = [currentDirectory + "/models"]
        if let executablePath {
            let binDirectory = URL(fileURLWithPath: executablePath).deletingLastPathComponent()
            places.append(binDirectory.appendingPathComponent("../share/facewatch/models").standardizedFileURL.path)
        }
        places.append("/usr/local/share/facewatch/models")
        places.append("/usr/share/facewatch/models")
        return places
    }

    /// The running executable with symbolic links resolved (`/proc/self/exe` on Linux).
    public static func executablePath() -> String? {
        #if os(Linux)
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return resolved
        }
        #endif
        return Bundle.main.executableURL?.resolvingSymlinksInPath().path
    }

    private static func existingDirectory(_ path: String, source: String) throws(ModelError) -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError(.directoryNotFound, path: path, detail: "\(path) (from \(source)) is not a directory")
        }
        return URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }
}
