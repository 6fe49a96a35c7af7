import Foundation
import Testing

@testable import FaceCore

/// A face's score, landmarks and person in documents: written in order, named as face_recognition
/// names landmarks, and read back to the same values.
@Suite(.timeLimit(.minutes(1))) struct FaceDetailsTests {
    static func points(_ count: Int) -> [FaceLandmarks.Point] {
        (0..<count).map { FaceLandmarks.Point(x: 100 + 3 * $0, y: 200 - 2 * $0) }
    }

    @Test func sixtyEightPointsAreNamedAsFaceRecognitionNamesThem() throws {
        let landmarks = FaceLandmarks(points: Self.points(68))
        let features = try #require(landmarks.features)
        #expect(
            features.map(\.name) == [
                "chin", "left_eyebrow", "right_eyebrow", "nose_bridge", "nose_tip", "left_eye", "right_eye",
                "top_lip", "bottom_lip",
            ])
        #expect(features.map(\.points.count) == [17, 5, 5, 4, 5, 6, 6, 12, 12])
        let named = Dictionary(uniqueKeysWithValues: features.map { ($0.name, $0.points) })
        let p = Self.points(68)
        // face_recognition: top_lip = points[48:55] + [64, 63, 62, 61, 60];
        // bottom_lip = points[54:60] + [48, 60, 67, 66, 65, 64].
        #expect(named["top_lip"] == Array(p[48..<55]) + [p[64], p[63], p[62], p[61], p[60]])
        #expect(named["bottom_lip"] == Array(p[54..<60]) + [p[48], p[60], p[67], p[66], p[65], p[64]])
        #expect(named["chin"] == Array(p[0..<17]))
        #expect(FaceLandmarks(features: named) == landmarks)
    }

    @Test func fivePointsAreNamedAsFaceRecognitionNamesThem() throws {
        let p = Self.points(5)
        let features = try #require(FaceLandmarks(points: p).features)
        let named = Dictionary(uniqueKeysWithValues: features.map { ($0.name, $0.points) })
        #expect(named == ["nose_tip": [p[4]], "left_eye": [p[2], p[3]], "right_eye": [p[0], p[1]]])
        #expect(FaceLandmarks(features: named)?.points == p)
        #expect(FaceLandmarks(points: Self.points(7)).features == nil)
    }

    @Test func featuresThatDisagreeOrAreIncompleteAreRefused() {
        var named = Dictionary(
            uniqueKeysWithValues: FaceLandmarks(points: Self.points(68)).features!.map { ($0.name, $0.points) })
        named["bottom_lip"]![6] = FaceLandmarks.Point(x: 0, y: 0)  // point 48, also in top_lip
        #expect(FaceLandmarks(features: named) == nil)
        named["bottom_lip"] = nil
        #expect(FaceLandmarks(features: named) == nil)
    }

    @Test func aFaceWritesItsDetailsInOrderAndReadsThemBack() throws {
        let face = Face(
            location: FaceLocation(top: 1, right: 4, bottom: 3, left: 2), encoding: [0.5, -0.25],
            matches: [PersonMatch(name: "alice", distance: 0.25)], score: 1.625,
            landmarks: FaceLandmarks(points: Self.points(5)), person: .person("3fa9c2e1b0d4a7c8"))
        let line = face.json.serialized()
        let order = ["\"location\"", "\"score\"", "\"landmarks\"", "\"encoding\"", "\"matches\"", "\"person\""]
        let positions = order.compactMap { line.range(of: $0)?.lowerBound }
        #expect(positions.count == order.count && positions == positions.sorted(), "\(line)")
        #expect(line.contains(#""nose_tip":[[112,192]]"#), "\(line)")
        let back = try JSONDecoder().decode(Face.self, from: Data(line.utf8))
        #expect(back == face)

        var alone = face
        alone.person = .alone
        let aloneLine = alone.json.serialized()
        #expect(aloneLine.contains(#""person":null"#))
        #expect(try JSONDecoder().decode(Face.self, from: Data(aloneLine.utf8)).person == .alone)

        let plain = Face(location: face.location, encoding: face.encoding)
        let plainLine = plain.json.serialized()
        for key in ["score", "landmarks", "matches", "person"] { #expect(!plainLine.contains("\"\(key)\"")) }
        #expect(try JSONDecoder().decode(Face.self, from: Data(plainLine.utf8)) == plain)
    }
}
