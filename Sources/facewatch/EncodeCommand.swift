import ArgumentParser
import FaceCore
import FaceImage
import FaceEncoding
import Foundation

/// `facewatch encode FILE|DIR...`: one JSON line per image on standard output, in input order.
struct EncodeCommand: AsyncParsableCommand, RunsTheFaceNetwork {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode the faces in images and print one JSON line per image.",
        discussion: """
            Directories are read recursively, sorted by name, skipping dotfiles, *.part, *.tmp and *~.

            Each line is the daemon's per-image result object with "file" instead of "id": file, status, source, image, faces, face_encoding, created_at, completed_at, error. With --timings each line also ends with "timings": {"decode", "detect", "encode"} in seconds (decode includes reading and hashing the file). Lines come in input order.

            Exit status: 0 when every image was encoded (zero faces included), 1 when any failed (each failure is still printed) or the models cannot be loaded, 2 on a usage error.
            """
    )

    @Argument(help: "Image files or directories.")
    var paths: [String]

    @Option(help: "Encoder threads (default: the number of CPU cores).")
    var workers: Int?

    @Option(
        help:
            "Directory with the dlib model files (default: $FACEWATCH_MODELS, ./models, <prefix>/share/facewatch/models)."
    )
    var models: String?

    @Option(help: "How many times to upsample the image before detecting faces (0-8).")
    var upsample: Int = 1

    @Option(help: "How many jittered copies of each face to average (1-1000; 1: none).")
    var jitters: Int = 1

    @Option(help: "Landmark model: small (5 points) or large (68 points).")
    var landmarks: String = Landmarks.small.rawValue

    @Option(
        help:
            "Face detector: hog, dlib-hog (dlib's own scanner, the reference), cnn or dlib-cnn (dlib's own network code, the reference)."
    )
    var detector: String = DetectorKind.hog.rawValue

    @Option(help: "Largest accepted file in bytes.")
    var maxBytes: Int = ImageLimits().maxBytes

    @Option(help: "Largest accepted image in pixels (width x height, read from the header).")
    var maxPixels: Int = ImageLimits().maxPixels

    @Flag(help: "Add \"timings\": {\"decode\", \"detect\", \"encode\"} (seconds) to each line.")
    var timings = false

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one file or directory") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if !EncoderOptions.upsampleRange.contains(upsample) {
            throw ValidationError(
                "--upsample must be between \(EncoderOptions.upsampleRange.lowerBound) and \(EncoderOptions.upsampleRange.upperBound)"
            )
        }
        if !EncoderOptions.jittersRange.contains(jitters) {
            throw ValidationError(
                "--jitters must be between \(EncoderOptions.jittersRange.lowerBound) and \(EncoderOptions.jittersRange.upperBound)"
            )
        }
        if Landmarks(rawValue: landmarks) == nil { throw ValidationError("--landmarks must be small or large") }
        if DetectorKind(rawValue: detector) == nil {
            throw ValidationError("--detector must be hog, dlib-hog, cnn or dlib-cnn")
        }
        if maxBytes < 1 { throw ValidationError("--max-bytes must be positive") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive") }
    }

    func run() async throws {
        try Facewatch.requireSupportedCPU()
        let options = EncoderOptions(
            upsample: upsample, jitters: jitters,
            landmarks: Landmarks(rawValue: landmarks) ?? .small, detector: DetectorKind(rawValue: detector) ?? .hog)
        let limits = ImageLimits(maxBytes: maxBytes, maxPixels: maxPixels)
        let files = FileArguments.expand(paths)

        let pool: EncoderPool
        do {
            let directory = try FaceModels.locate(explicit: models)
            let loaded = try FaceModels(directory: directory, options: options)
            let cores = workers ?? ProcessInfo.processInfo.activeProcessorCount
            // No more engines than files (each loads the models); the cores left over help detection.
            let workerCount = min(cores, max(files.count, 1))
            pool = try EncoderPool(models: loaded, workers: workerCount, limits: limits, cores: cores)
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }

        let progress = Progress(total: files.count)
        var failures = 0
        await BatchEncoder(pool: pool).run(files: files, limits: limits) { item in
            var json = item.document.json
            if timings, case .object(var members) = json {
                let t = item.timings ?? EncodeTimings()
                members.append(
                    (
                        "timings",
                        .object([
                            ("decode", .double(t.decode)), ("detect", .double(t.detect)), ("encode", .double(t.encode)),
                        ])
                    ))
                json = .object(members)
            }
            if item.document.status != .completed { failures += 1 }
            progress.clear()
            print(json.serialized())
            progress.update(done: item.index + 1, failed: failures)
        }
        progress.finish()
        pool.shutdown()
        if failures > 0 { throw ExitCode(1) }
    }
}

/// A progress line on standard error, only when it is a terminal and there are many files.
private final class Progress {
    private let total: Int
    private let enabled: Bool
    private var shown = false

    init(total: Int) {
        self.total = total
        self.enabled = isatty(STDERR_FILENO) == 1 && total >= 20
    }

    func update(done: Int, failed: Int) {
        guard enabled else { return }
        // Stdout may be the same terminal: flush the JSON line before drawing over the line.
        fflush(nil)
        FileHandle.standardError.write(Data("\r\u{1B}[K\(done)/\(total) images, \(failed) failed".utf8))
        shown = true
    }

    func clear() {
        guard enabled, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
    }

    func finish() { clear() }
}
