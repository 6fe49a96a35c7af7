#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// Phone photos dropped into a running daemon's inbox (the real binary, inotify, LMDB): HEIC, WebP
/// and AVIF are encoded upright with their faces, and a broken file of each format fails with its
/// code, kept in the store under the name it was dropped with.
@Suite(
    .serialized, .timeLimit(.minutes(10)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)),
    .enabled(if: testImagesDirectory != nil, "needs the test images (make test-images)"))
struct PhoneFormatEndToEndTests {
    /// A lossless WebP whose header declares 16384x16384 (268 million pixels), in 42 bytes.
    static let webpBomb: [UInt8] =
        Array("RIFF".utf8) + [34, 0, 0, 0] + Array("WEBPVP8L".utf8) + [22, 0, 0, 0, 0x2F, 0xFF, 0xFF, 0xFF, 0x0F]
        + [UInt8](repeating: 0, count: 17)

    @Test func phonePhotosAreEncodedAndBrokenOnesFailWithTheirCode() async throws {
        let images = testImagesDirectory!
        let root = TestRoot("phone")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }
        let staging = root.staging()

        let photos: [(name: String, format: ImageFormat)] = [
            ("astronaut_rot6.heic", .heif), ("astronaut_10bit_rot6.heic", .heif), ("astronaut_lossy.webp", .webp),
            ("astronaut_animated.webp", .webp), ("astronaut_rot6.avif", .avif),
        ]
        var dropped: [String: [UInt8]] = [:]
        for photo in photos {
            dropped["IMG_\(photo.name)"] = [UInt8](
                try #require(FileManager.default.contents(atPath: images + "/" + photo.name)))
        }
        let heic = dropped["IMG_astronaut_rot6.heic"]!
        let broken: [(name: String, bytes: [UInt8], code: FailureCode)] = [
            ("cut.heic", Array(heic.prefix(heic.count / 2)), .corruptImage),
            ("cut.webp", Array(dropped["IMG_astronaut_lossy.webp"]!.prefix(2_000)), .corruptImage),
            ("cut.avif", Array(dropped["IMG_astronaut_rot6.avif"]!.prefix(600)), .corruptImage),
            ("bomb.webp", Self.webpBomb, .tooManyPixels),
        ]
        for item in broken { dropped[item.name] = item.bytes }
        for (name, bytes) in dropped {
            write(bytes, to: staging + "/" + name)
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }

        #expect(await eventually(timeout: .seconds(300)) { root.documentCount() >= dropped.count }, "\(daemon.log)")
        let documents = try root.documents()
        #expect(documents.count == dropped.count)
        let byName = Dictionary(uniqueKeysWithValues: documents.map { ($0.source?.name ?? "", $0) })
        for photo in photos {
            let document = try #require(byName["IMG_" + photo.name], "IMG_\(photo.name)")
            #expect(document.status == .completed, "\(photo.name): \(String(describing: document.error))")
            // Upright (irot applied once): the astronaut's face where it is in the upright PNG.
            #expect(document.image == ImageInfo(format: photo.format, width: 512, height: 512), "\(photo.name)")
            #expect(
                document.faces.first?.location == FaceLocation(top: 76, right: 265, bottom: 166, left: 175),
                "\(photo.name)")
        }
        for item in broken {
            let document = byName[item.name]
            #expect(document?.status == .failed, "\(item.name)")
            #expect(document?.error?.code == item.code, "\(item.name): \(String(describing: document?.error))")
        }
        // Nothing is lost: every file is in the store, byte for byte, under its UUID.
        let stored = root.storedEntries()
        for document in documents {
            let path = try #require(stored[document.id ?? ""], "\(document.source?.name ?? "") not in the store")
            let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
            #expect(bytes == dropped[document.source?.name ?? ""], "\(document.source?.name ?? "")")
        }
    }
}
