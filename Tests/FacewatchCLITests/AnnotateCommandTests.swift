import FaceCore
import FaceEncoding
import FaceReport
import FaceTestSupport
import Foundation
import Testing

/// `facewatch annotate` with the real binary: on a file (encoded on the spot) and on a stored image
/// whose result names a known person.
@Suite(.timeLimit(.minutes(5)), .enabled(if: canSee, "\(whyNotSee)"))
struct AnnotateCommandTests {
    let box = Annotator().boxColor

    /// The box's four edges have the box colour; the middle of the face does not.
    func expectBoxes(_ faces: [FaceLocation], on picture: RGBImage, sourceLocation: SourceLocation = #_sourceLocation) {
        for face in faces {
            let (midX, midY) = ((face.left + face.right) / 2, (face.top + face.bottom) / 2)
            let edges = [
                (face.left, midY), (face.right - 1, midY), (midX, face.top), (midX, face.bottom - 1),
                (face.left, face.top), (face.right - 1, face.bottom - 1),
            ]
            for (x, y) in edges {
                #expect(
                    picture.color(x: x, y: y) == box, "edge (\(x), \(y)) of \(face)", sourceLocation: sourceLocation)
            }
            // The inner half of the face: no box colour anywhere.
            let (w, h) = (face.right - face.left, face.bottom - face.top)
            var boxColoured = 0
            for y in (face.top + h / 4)..<(face.bottom - h / 4) {
                for x in (face.left + w / 4)..<(face.right - w / 4) where picture.color(x: x, y: y) == box {
                    boxColoured += 1
                }
            }
            #expect(
                boxColoured == 0, "\(boxColoured) box-coloured pixels inside \(face)", sourceLocation: sourceLocation)
        }
    }

    /// EXIF orientation 6 (irot in HEIF and AVIF): stored on its side; the result must be upright like
    /// the encoder's view. The phone formats go through the same decoder (docs/formats.md).
    @Test(arguments: [
        "astronaut_exif6.jpg", "astronaut_rot6.heic", "astronaut_10bit_rot6.heic", "astronaut_rot6.avif",
        "astronaut_lossy.webp", "astronaut_animated.webp",
    ])
    func aFileIsEncodedAndDrawnUprightWithEveryBox(name: String) async throws {
        let scratch = ScratchDirectory("annotate-file")
        defer { scratch.remove() }
        let source = seeingTestImages! + "/" + name
        let output = scratch.appending("out.png")
        let run = try await runFacewatch(["annotate", source, "-o", output])
        #expect(run.status == 0, "\(run.stderr)")

        let expected = try decodePicture(source)
        let annotated = try decodePicture(output)
        #expect(annotated.info.format == .png)
        #expect(annotated.info.width == expected.info.width && annotated.info.height == expected.info.height)
        let faces = try await encodedDocument(source).faces.map(\.location)
        #expect(faces.count >= 1)
        let picture = RGBImage(annotated)
        expectBoxes(faces, on: picture)
        // Away from the boxes the pixels are the upright image's, unchanged (PNG is lossless).
        let upright = RGBImage(expected)
        let line = Annotator.lineWidth(width: upright.width, height: upright.height)
        var differing = 0
        for y in stride(from: 0, to: upright.height, by: 3) {
            for x in stride(from: 0, to: upright.width, by: 3) {
                let nearABox = faces.contains {
                    x >= $0.left - line && x < $0.right + line && y >= $0.top - line && y < $0.bottom + line
                }
                if !nearABox && picture.color(x: x, y: y) != upright.color(x: x, y: y) { differing += 1 }
            }
        }
        #expect(differing == 0, "\(differing) pixels away from the boxes differ from the upright image")
    }

    @Test func aStoredImageGetsTheKnownPersonsNameUnderItsBox() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let record = try await root.addCompleted("two_faces.png", matches: [0: [("alice", 0.41), ("bob", 0.58)]])
        #expect(record.faces.count == 2)
        let output = root.directory.appending("annotated.png")
        let run = try await runFacewatch([
            "annotate", record.id.uuidString.lowercased(), "--root", root.directory.path, "-o", output,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("alice 0.41"), "\(run.stdout)")

        let original = try decodePicture(seeingTestImages! + "/two_faces.png")
        let annotated = try decodePicture(output)
        #expect(annotated.info.width == original.info.width && annotated.info.height == original.info.height)
        let picture = RGBImage(annotated)
        expectBoxes(record.faces.map(\.location), on: picture)

        // Where the label goes, computed by the same layout on the original.
        var layout = RGBImage(original)
        let faces = [
            AnnotatedFace(location: record.faces[0].location, matches: [PersonMatch(name: "alice", distance: 0.41)]),
            AnnotatedFace(location: record.faces[1].location),
        ]
        let marks = Annotator().draw(faces, on: &layout)
        let label = try #require(marks[0].label)
        #expect(marks[1].label == nil)
        // Each glyph pixel of "alice 0.41" is text-coloured, every other pixel of the label box-coloured.
        let text = Array("alice 0.41".unicodeScalars)
        let scale = marks[0].textScale
        var wrong = 0
        var inked = 0
        for (index, character) in text.enumerated() {
            for row in 0..<LabelFont.glyphHeight {
                for column in 0..<LabelFont.glyphWidth {
                    let x = marks[0].textX + (index * LabelFont.glyphWidth + column) * scale
                    let y = marks[0].textY + row * scale
                    let set = LabelFont.isSet(character, column: column, row: row)
                    if set { inked += 1 }
                    if picture.color(x: x, y: y) != (set ? Annotator().textColor : box) { wrong += 1 }
                }
            }
        }
        #expect(inked > 100, "the label's text has ink")
        #expect(wrong == 0, "\(wrong) label pixels are not the text's")
        #expect(picture.color(x: label.x1 - 1, y: label.y1 - 1) == box)
        // The face without a match has no label: under its box the image is unchanged.
        let second = record.faces[1].location
        if second.bottom + 4 < original.info.height {
            let y = second.bottom + 2
            let x = (second.left + second.right) / 2
            #expect(picture.color(x: x, y: y) == RGBImage(original).color(x: x, y: y))
        }
    }

    @Test func anUnknownUUIDExitsWith1() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let run = try await runFacewatch(["annotate", UUID().uuidString, "--root", root.directory.path])
        #expect(run.status == 1, "\(run.stdout) \(run.stderr)")
        #expect(run.stderr.contains("no image"), "\(run.stderr)")
    }
}
