import FaceCore

/// One known person's picture, reduced to what matching needs: the person and the first face's
/// encoding.
public struct KnownFace: Sendable, Equatable {
    public var person: String
    public var encoding: [Float]

    public init(person: String, encoding: [Float]) {
        self.person = person
        self.encoding = encoding
    }
}

/// The known people at one moment and the tolerance: names the people a face resembles, as
/// face_recognition's command line does (`face_distance(known, face) <= tolerance`), with one change
/// of presentation: a person with several pictures is listed once, at the distance of their closest
/// picture, and the list is ordered closest first (ties by name).
public struct KnownPeople: Sendable, Equatable {
    /// face_recognition's default tolerance.
    public static let defaultTolerance = 0.6

    public let faces: [KnownFace]
    public let tolerance: Double

    public init(faces: [KnownFace], tolerance: Double = KnownPeople.defaultTolerance) {
        self.faces = faces
        self.tolerance = tolerance
    }

    /// The people `encoding` resembles within the tolerance, closest first; empty for an unknown face.
    public func matches(for encoding: [Float]) -> [PersonMatch] {
        var closest: [String: Double] = [:]
        for face in faces where face.encoding.count == encoding.count {
            let distance = FaceDistance.euclidean(face.encoding, encoding)
            guard distance <= tolerance else { continue }
            if let known = closest[face.person], known <= distance { continue }
            closest[face.person] = distance
        }
        return closest.map { PersonMatch(name: $0.key, distance: $0.value) }
            .sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }
    }

    /// `matches(for:)` of each face, in order.
    public func matches(for faces: [Face]) -> [[PersonMatch]] {
        faces.map { matches(for: $0.encoding) }
    }
}
