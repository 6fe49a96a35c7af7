import FaceCore

/// face_recognition's `face_distance`: the Euclidean distance between two encodings.
public enum FaceDistance {
    /// The distance between two encodings of `Face.encodingLength` components, summed in double
    /// precision (face_recognition computes it with numpy on float64 copies of the same numbers).
    public static func euclidean(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "encodings of different lengths")
        var sum = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            sum += d * d
        }
        return sum.squareRoot()
    }
}
