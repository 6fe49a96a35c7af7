import ArgumentParser
import FaceClient
import FaceCore
import FaceImage
import FaceEncoding
import FaceReport
import Foundation

/// `facewatch annotate UUID|FILE`: the image upright with each face's box and, for faces matching a
/// known person, the name and distance under the box.
struct AnnotateCommand: ParsableCommand, RunsTheFaceNetwork {
    static let configuration = CommandConfiguration(
        commandName: "annotate",
        abstract: "Draw the faces' boxes (and known people's names) on an image.",
        discussion: """
            With a UUID, draws the stored image's result (the boxes of results/<uuid>.json, and the name \
            and distance of the closest known person under each face that has "matches"). With a file, \
            encodes it on the spot (no daemon, no ledger) and draws its boxes. The image is written \
            upright (its EXIF orientation applied, as it was encoded), as PNG when the output name ends \
            in .png, else as JPEG. Exit status: 0 written, 1 unknown or unfinished image, unreadable \
            file or models, 2 usage error.
            """
    )

    @Argument(help: "An image's UUID (its results/<uuid>.json), or an image file.")
    var image: String

    @Option(name: [.short, .customLong("output")], help: "Where to write (default: <uuid or name>.annotated.jpg).")
    var output: String?

    @OptionGroup var rootOptions: RootOptions

    @Option(help: "Model directory for a file (default: $FACEWATCH_MODELS, ./models, <prefix>/share/facewatch/models).")
    var models: String?

    func run() throws {
        let isFile = FileManager.default.fileExists(atPath: image)
        let id = isFile ? nil : UUID(uuidString: image)
        guard isFile || id != nil else {
            printError("facewatch: \(image) is neither a file nor a UUID")
            throw ExitCode(1)
        }
        let base =
            id.map { $0.uuidString.lowercased() }
            ?? ((image as NSString).lastPathComponent as NSString).deletingPathExtension
        let destination = output ?? base + ".annotated.jpg"
        do {
            let (decoded, faces) = try id.map(stored) ?? encodedFile()
            let bytes = try AnnotatedPicture.render(
                decoded, faces: faces, format: PictureFormat.forFileName(destination))
            try Data(bytes).write(to: URL(fileURLWithPath: destination), options: .atomic)
            let named = faces.compactMap(\.label)
            print(
                "\(destination): \(decoded.info.width)x\(decoded.info.height), \(faces.count) face\(faces.count == 1 ? "" : "s")"
                    + (named.isEmpty ? "" : " (\(named.joined(separator: ", ")))"))
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }

    /// A stored image, decoded, and its result's faces.
    private func stored(_ id: UUID) throws -> (DecodedImage, [AnnotatedFace]) {
        let configuration = try rootOptions.configuration()
        let queries = try rootOptions.queries()
        let stored = try queries.storedImage(id)
        let limits = ImageLimits(maxBytes: configuration.maxBytes, maxPixels: configuration.maxPixels)
        let bytes = try ImageFile.read(atPath: stored.path, maxBytes: limits.maxBytes).get()
        return (try ImageDecoder.decode(bytes, limits: limits), stored.faces)
    }

    /// The file, decoded and encoded now with the default options (`facewatch encode`'s faces).
    private func encodedFile() throws -> (DecodedImage, [AnnotatedFace]) {
        try Facewatch.requireSupportedCPU()
        let limits = ImageLimits()
        let bytes = try ImageFile.read(atPath: image, maxBytes: limits.maxBytes).get()
        let decoded = try ImageDecoder.decode(bytes, limits: limits)
        let engine = try FaceEngine(models: try FaceModels(directory: try FaceModels.locate(explicit: models)))
        let encoded = try engine.encode(image: decoded).get()
        return (decoded, encoded.faces.map { AnnotatedFace(location: $0.location) })
    }
}
