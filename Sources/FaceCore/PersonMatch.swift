/// A known person a face resembles: the person's name and face_recognition's `face_distance` (the
/// Euclidean distance between the two encodings) to that person's closest picture.
public struct PersonMatch: Codable, Sendable, Equatable, Hashable {
    /// The person: a picture's base name (`known/alice.jpg`) or its folder (`known/alice/1.jpg`).
    public var name: String
    /// Euclidean distance between the encodings, computed in double precision.
    public var distance: Double

    public init(name: String, distance: Double) {
        self.name = name
        self.distance = distance
    }

    /// `{"name": …, "distance": …}`, as in a result document's `faces[].matches`.
    public var json: JSONValue { .object([("name", .string(name)), ("distance", .double(distance))]) }
}
