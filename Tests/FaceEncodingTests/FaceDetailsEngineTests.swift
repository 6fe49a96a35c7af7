import FaceCore
import FaceImage
import FaceTestSupport
import Foundation
import Testing

@testable import FaceEncoding

/// Each encoded face carries the detector's confidence and the landmarks its chip was aligned on.
@Suite(.timeLimit(.minutes(10))) struct FaceDetailsEngineTests {
    /// The score of each face is the confidence of the detection it came from (the detector alone,
    /// run on the same image), and its box that detection's box clipped to the image.
    @Test(arguments: ["astronaut.png", "two_faces.png"])
    func scoresAreTheDetectorsConfidences(image: String) throws {
        let engine = try FaceEngine(models: try EngineTestSupport.defaultModels.get())
        let decoded = try ImageDecoder.decode(try EngineTestSupport.testImage(image), limits: ImageLimits())
        let faces = try engine.encode(image: decoded).get().faces
        let detections = try engine.detect(image: decoded)
        #expect(faces.count == 2 && detections.count == faces.count)
        for (face, detection) in zip(faces, detections) {
            #expect(face.score == detection.confidence)
            let box = detection.location
            #expect(
                face.location
                    == FaceLocation(
                        top: max(box.top, 0), right: min(box.right, decoded.info.width),
                        bottom: min(box.bottom, decoded.info.height), left: max(box.left, 0)))
        }
        // HOG's confidence is the window's score minus its threshold: above 0 for every face found.
        #expect(faces.allSatisfy { ($0.score ?? 0) > 0 })
    }

    /// 5 points with the default model, 68 with the large one, all on the face; the eyes of the one
    /// model are where the other puts them.
    @Test func landmarksAreThoseOfTheModelAndLieOnTheFace() throws {
        let bytes = try EngineTestSupport.testImage("astronaut.png")
        let small = try FaceEngine(models: try EngineTestSupport.defaultModels.get())
            .encode(bytes: bytes, limits: ImageLimits()).get().faces[0]
        let large = try FaceEngine(models: try EngineTestSupport.largeLandmarkModels.get())
            .encode(bytes: bytes, limits: ImageLimits()).get().faces[0]
        #expect(small.location == large.location)
        #expect(small.landmarks?.points.count == 5)
        #expect(large.landmarks?.points.count == 68)
        let box = small.location
        let margin = (box.bottom - box.top) / 4
        for point in (small.landmarks?.points ?? []) + (large.landmarks?.points ?? []) {
            #expect((box.left - margin...box.right + margin).contains(point.x), "\(point) outside \(box)")
            #expect((box.top - margin...box.bottom + margin).contains(point.y), "\(point) outside \(box)")
        }
        func centre(_ face: Face, _ name: String) throws -> (Double, Double) {
            let points = try #require(face.landmarks?.features?.first { $0.name == name }?.points)
            return (
                Double(points.map(\.x).reduce(0, +)) / Double(points.count),
                Double(points.map(\.y).reduce(0, +)) / Double(points.count)
            )
        }
        for eye in ["left_eye", "right_eye"] {
            let (a, b) = (try centre(small, eye), try centre(large, eye))
            #expect(abs(a.0 - b.0) <= 6 && abs(a.1 - b.1) <= 6, "\(eye): \(a) and \(b)")
        }
        let (leftX, _) = try centre(large, "left_eye")
        let (rightX, _) = try centre(large, "right_eye")
        #expect(leftX < rightX, "face_recognition's left_eye is the one on the image's left")
    }
}
