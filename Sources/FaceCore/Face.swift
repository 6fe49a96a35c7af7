/// A face's bounding box in image pixels, as face_recognition reports it: `(top, right, bottom, left)`,
/// clipped to the image (right and bottom may equal the width and height).
public struct FaceLocation: Codable, Sendable, Equatable, Hashable {
    public var top: Int
    public var right: Int
    public var bottom: Int
    public var left: Int

    public init(top: Int, right: Int, bottom: Int, left: Int) {
        self.top = top
        self.right = right
        self.bottom = bottom
        self.left = left
    }
}

/// One face found in an image: where it is, how sure the detector was, its landmarks and its
/// 128-number encoding.
public struct Face: Codable, Sendable, Equatable {
    /// Number of components of an encoding (dlib's ResNet descriptor).
    public static let encodingLength = 128

    public var location: FaceLocation
    /// The detector's confidence in this face (dlib's detection confidence: HOG's window score minus
    /// its threshold, or the MMOD CNN's score); nil where it was not kept (faces stored before it was).
    public var score: Double?
    /// The landmarks the shape predictor placed (5 or 68 points); nil unless `result_landmarks` kept them.
    public var landmarks: FaceLandmarks?
    /// The 128 float32 components computed by dlib's face recognition ResNet.
    public var encoding: [Float]
    /// The known people this face resembles, closest first (`PersonMatch`); nil where known people do
    /// not apply (`facewatch encode`, the ledger's records), empty for a face nobody known resembles.
    public var matches: [PersonMatch]?
    /// The person the grouping of stored faces puts this face in (its id, 16 hex digits, or nil for a
    /// face that is alone); nil and absent where people do not apply (`facewatch encode`, the ledger's records).
    public var person: PersonSlot?

    public init(
        location: FaceLocation, encoding: [Float], matches: [PersonMatch]? = nil, score: Double? = nil,
        landmarks: FaceLandmarks? = nil, person: PersonSlot? = nil
    ) {
        self.location = location
        self.encoding = encoding
        self.matches = matches
        self.score = score
        self.landmarks = landmarks
        self.person = person
    }

    private enum CodingKeys: String, CodingKey { case location, score, landmarks, encoding, matches, person }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        location = try c.decode(FaceLocation.self, forKey: .location)
        score = try c.decodeIfPresent(Double.self, forKey: .score)
        landmarks = try c.decodeIfPresent(FaceLandmarks.self, forKey: .landmarks)
        encoding = try c.decode([Float].self, forKey: .encoding)
        matches = try c.decodeIfPresent([PersonMatch].self, forKey: .matches)
        // `"person": null` is a slot (alone); no key is no slot.
        if c.contains(.person) {
            person = try c.decodeNil(forKey: .person) ? .alone : .person(try c.decode(String.self, forKey: .person))
        } else {
            person = nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(location, forKey: .location)
        try c.encodeIfPresent(score, forKey: .score)
        try c.encodeIfPresent(landmarks, forKey: .landmarks)
        try c.encode(encoding, forKey: .encoding)
        try c.encodeIfPresent(matches, forKey: .matches)
        if let person { try c.encode(person, forKey: .person) }
    }

    /// The face as an ordered JSON object: `location`, `score`, `landmarks`, `encoding`, `matches`,
    /// `person`, each optional one only when present.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            (
                "location",
                .object([
                    ("top", .int(Int64(location.top))), ("right", .int(Int64(location.right))),
                    ("bottom", .int(Int64(location.bottom))), ("left", .int(Int64(location.left))),
                ])
            )
        ]
        if let score { members.append(("score", .double(score))) }
        if let landmarks { members.append(("landmarks", landmarks.json)) }
        members.append(("encoding", .array(encoding.map { .float($0) })))
        if let matches { members.append(("matches", .array(matches.map(\.json)))) }
        if let person { members.append(("person", person.id.map { .string($0) } ?? .null)) }
        return .object(members)
    }
}

/// A face's place among people in a result document: `"person": "3fa9c2e1b0d4a7c8"` or
/// `"person": null` (alone). A document without the key has no slot at all (`Face.person` nil).
public enum PersonSlot: Sendable, Equatable, Hashable, Codable {
    /// The face is in no person.
    case alone
    /// The face is in the person with this id (16 lowercase hex digits).
    case person(String)

    /// The id, or nil when alone.
    public var id: String? {
        if case .person(let id) = self { return id }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        self = c.decodeNil() ? .alone : .person(try c.decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .alone: try c.encodeNil()
        case .person(let id): try c.encode(id)
        }
    }
}
