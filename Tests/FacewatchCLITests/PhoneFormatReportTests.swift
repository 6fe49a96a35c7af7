import FaceCore
import FaceEncoding
import FaceTestSupport
import Foundation
import Testing

/// `facewatch report`'s thumbnails of WebP, HEIF and AVIF pictures, with the real binary: made by the
/// same decoder as the encoder's, upright (the HEIF and AVIF files store the astronaut on its side,
/// with an irot box).
@Suite(.timeLimit(.minutes(5)), .enabled(if: canSee, "\(whyNotSee)"))
struct PhoneFormatReportTests {
    @Test func thumbnailsAreMadeUprightFromPhoneFormats() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let names = ["astronaut.png", "astronaut_rot6.heic", "astronaut_lossy.webp", "astronaut_rot6.avif"]
        let records = try await root.addCompleted(names)
        #expect(records.map { $0.image?.format } == [.png, .heif, .webp, .avif])

        let report = root.directory.appending("report")
        let run = try await runFacewatch(["report", "--root", root.directory.path, "-o", report])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("4 images in the gallery, 4 new thumbnails"), "\(run.stdout)")
        let thumbnails = try records.map {
            try decodePicture(report + "/thumbs/" + $0.id.uuidString.lowercased() + ".jpg")
        }
        // Against the PNG's thumbnail: the same picture up to the formats' losses; a thumbnail on
        // its side would differ by far more.
        let upright = thumbnails[0]
        for (name, thumbnail) in zip(names, thumbnails).dropFirst() {
            #expect(thumbnail.info.width == upright.info.width && thumbnail.info.height == upright.info.height)
            let difference = zip(thumbnail.pixels, upright.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
            let mean = Double(difference) / Double(max(1, upright.pixels.count))
            #expect(mean < 6, "\(name): mean difference \(mean) from the upright PNG's thumbnail")
        }
    }
}
