import FaceCore
import Foundation

extension PersonMatch {
    /// `alice 0.41`: the label drawn under a face.
    public var label: String { "\(name) \(String(format: "%.2f", distance))" }
}

/// A face to draw: its box and the people it matches (closest first; empty when none is known).
public struct AnnotatedFace: Sendable, Equatable {
    public var location: FaceLocation
    public var matches: [PersonMatch]

    public init(location: FaceLocation, matches: [PersonMatch] = []) {
        self.location = location
        self.matches = matches
    }

    /// The closest match's label, or nil.
    public var label: String? { matches.first?.label }

    /// The faces of a result document's JSON with their `matches` when present; a document without
    /// them (no known people, or an older facewatch) gives faces without names.
    ///
    /// - Throws: `DecodingError` when the JSON is not a result document.
    public static func faces(fromResultJSON data: Data) throws -> [AnnotatedFace] {
        try JSONDecoder().decode(ResultFaces.self, from: data).faces.map {
            AnnotatedFace(location: $0.location, matches: $0.matches ?? [])
        }
    }

    /// What annotating reads of a result document.
    private struct ResultFaces: Decodable {
        struct FaceEntry: Decodable {
            var location: FaceLocation
            var matches: [PersonMatch]?
        }
        var faces: [FaceEntry]
    }
}
