/// The landmarks the shape predictor placed on a face (the points its chip was aligned on), in the
/// model's order: 5 points (`landmarks = small`) or 68 (`large`).
///
/// Shown as face_recognition's `face_landmarks` shows them: named features, each a list of `[x, y]`
/// points in image pixels (`FaceLandmarks.features`).
public struct FaceLandmarks: Sendable, Equatable, Hashable {
    /// One point in image pixels.
    public struct Point: Sendable, Equatable, Hashable {
        public var x: Int
        public var y: Int

        public init(x: Int, y: Int) {
            self.x = x
            self.y = y
        }
    }

    /// The points in the model's order.
    public var points: [Point]

    public init(points: [Point]) {
        self.points = points
    }

    /// face_recognition's `face_landmarks(…, model="large")`: each feature's indices into the 68 points.
    public static let features68: [(name: String, indices: [Int])] = [
        ("chin", Array(0..<17)),
        ("left_eyebrow", Array(17..<22)),
        ("right_eyebrow", Array(22..<27)),
        ("nose_bridge", Array(27..<31)),
        ("nose_tip", Array(31..<36)),
        ("left_eye", Array(36..<42)),
        ("right_eye", Array(42..<48)),
        ("top_lip", Array(48..<55) + [64, 63, 62, 61, 60]),
        ("bottom_lip", Array(54..<60) + [48, 60, 67, 66, 65, 64]),
    ]

    /// face_recognition's `face_landmarks(…, model="small")`: each feature's indices into the 5 points.
    public static let features5: [(name: String, indices: [Int])] = [
        ("nose_tip", [4]),
        ("left_eye", [2, 3]),
        ("right_eye", [0, 1]),
    ]

    /// The features of a model with `count` points, or nil for a count no model has.
    public static func featureIndices(count: Int) -> [(name: String, indices: [Int])]? {
        switch count {
        case 5: features5
        case 68: features68
        default: nil
        }
    }

    /// The named features, as face_recognition's `face_landmarks` returns them; nil when the number
    /// of points is neither 5 nor 68.
    public var features: [(name: String, points: [Point])]? {
        guard let names = Self.featureIndices(count: points.count) else { return nil }
        return names.map { feature in (feature.name, feature.indices.map { points[$0] }) }
    }

    /// The points back from named features (the inverse of `features`); nil when the names are not
    /// those of the 5- or 68-point model or the points disagree.
    public init?(features: [String: [Point]]) {
        for count in [5, 68] {
            guard let names = Self.featureIndices(count: count), Set(names.map(\.name)) == Set(features.keys)
            else { continue }
            var points = [Point?](repeating: nil, count: count)
            for feature in names {
                guard let given = features[feature.name], given.count == feature.indices.count else { return nil }
                for (index, point) in zip(feature.indices, given) {
                    if let earlier = points[index], earlier != point { return nil }
                    points[index] = point
                }
            }
            guard points.allSatisfy({ $0 != nil }) else { return nil }
            self.points = points.map { $0! }
            return
        }
        return nil
    }

    /// The JSON object of `features` (`{"chin": [[x, y], …], …}`), empty for an unknown model.
    public var json: JSONValue {
        .object(
            (features ?? []).map { feature in
                (feature.name, .array(feature.points.map { .array([.int(Int64($0.x)), .int(Int64($0.y))]) }))
            })
    }
}

extension FaceLandmarks: Codable {
    public init(from decoder: any Decoder) throws {
        let named = try decoder.singleValueContainer().decode([String: [[Int]]].self)
        var features: [String: [Point]] = [:]
        for (name, points) in named {
            features[name] = try points.map { pair in
                guard pair.count == 2 else {
                    throw DecodingError.dataCorrupted(
                        .init(codingPath: decoder.codingPath, debugDescription: "a landmark is [x, y]"))
                }
                return Point(x: pair[0], y: pair[1])
            }
        }
        guard let landmarks = FaceLandmarks(features: features) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "landmarks are not the features of the 5- or 68-point model"))
        }
        self = landmarks
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        var named: [String: [[Int]]] = [:]
        for feature in features ?? [] { named[feature.name] = feature.points.map { [$0.x, $0.y] } }
        try c.encode(named)
    }
}
