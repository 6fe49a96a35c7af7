import FaceCore
import FaceMatch
import Testing

/// The range index's code filter against measuring every face in double, on faces built to catch a
/// filter that is not exact: partners placed right at the distance (one float step inside and one
/// outside), faces whose codes round apart although the faces nearly coincide, duplicates, zero
/// vectors, components beyond the codes' range and huge ones.
@Suite(.timeLimit(.minutes(5)))
struct FaceRangeIndexTests {
    static let dimensions = FaceRangeIndex.dimensions
    static let step: Float = 1.0 / 128

    /// `base` moved towards a random direction (its first component weighted) so that its double
    /// distance from `base` is at most `maximum` while one float step more of the first component
    /// puts it beyond: (inside, outside).
    static func placed(
        at maximum: Double, from base: [Float], _ rng: inout SeededGenerator
    ) -> (inside: [Float], outside: [Float]) {
        var direction = (0..<dimensions).map { _ in rng.uniform(-1, 1) }
        direction[0] = 4
        let length = direction.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        var point = zip(base, direction).map { $0 + Float(maximum / length) * $1 }
        func outward(_ x: Float) -> Float { x.nextUp }
        func inward(_ x: Float) -> Float { x.nextDown }
        while FaceDistance.euclidean(base, point) > maximum { point[0] = inward(point[0]) }
        var outside = point
        while FaceDistance.euclidean(base, outside) <= maximum { outside[0] = outward(outside[0]) }
        var inside = outside
        inside[0] = inward(outside[0])
        return (inside, outside)
    }

    static func adversarialFaces(maximum: Double, seed: UInt64) -> [[Float]] {
        var rng = SeededGenerator(seed: seed)
        let zero = [Float](repeating: 0, count: dimensions)
        var faces: [[Float]] = [zero, zero]
        // Exactly at the distance from the zero vector (one component), and one float step beyond.
        var exact = zero
        exact[5] = Float(maximum)
        var beyond = exact
        beyond[5] = exact[5].nextUp
        faces += [exact, beyond]
        // Every component just under half a code step above a code value, and a face 0.02 steps
        // above it: their codes differ by one in every component (0.088 apart) while the faces are
        // 0.0018 apart, and both codes carry nearly the largest error a regular code may have.
        let low = (0..<dimensions).map { Float($0 % 9 - 4) * step + 0.49 * step }
        let high = low.map { $0 + 0.02 * step }
        faces += [low, high, high]
        // Beyond the codes' range (a component of 0.75, and 0.5 just past the clamp), huge, infinite.
        var large = low
        large[3] = 0.75
        var clamped = zero
        for k in 0..<dimensions { clamped[k] = k % 2 == 0 ? 0.5 : -0.5 }
        var huge = zero
        huge[0] = 1e30
        var infinite = zero
        infinite[1] = .infinity
        faces += [large, large, clamped, huge, infinite]
        // Faces around random centres (components ±0.09) with partners right at the distance.
        for _ in 0..<40 {
            let base = (0..<dimensions).map { _ in rng.uniform(-0.09, 0.09) }
            let (inside, outside) = placed(at: maximum, from: base, &rng)
            faces += [base, inside, outside]
        }
        // The same at the half-step faces and at the clamped face (an outlier).
        for base in [low, clamped, large] {
            let (inside, outside) = placed(at: maximum, from: base, &rng)
            faces += [inside, outside]
        }
        return faces
    }

    static func bruteForce(_ faces: [[Float]], _ query: [Float], _ maximum: Double) -> [(Int32, Double)] {
        faces.indices.compactMap { i in
            let d = FaceDistance.euclidean(faces[i], query)
            return d <= maximum ? (Int32(i), d) : nil
        }
    }

    @Test(arguments: [0.5, 0.55])
    func queriesFindExactlyTheFacesWithinTheDistance(maximum: Double) {
        let faces = Self.adversarialFaces(maximum: maximum, seed: 7)
        var index = FaceRangeIndex()
        for (i, face) in faces.enumerated() { index.insert(Int32(i), encoding: face) }
        var counts = FaceRangeIndex.ScanCounts()
        var atTheDistance = 0
        for query in faces {
            for range in [0, 0.002, maximum, 0.9] {
                var scanned = FaceRangeIndex.ScanCounts()
                let found = index.within(range, of: query, counts: &scanned).sorted { $0.face < $1.face }
                if range == maximum {
                    counts.rowsScanned += scanned.rowsScanned
                    counts.measured += scanned.measured
                }
                let expected = Self.bruteForce(faces, query, range)
                #expect(found.map(\.face) == expected.map(\.0))
                #expect(found.map(\.distance) == expected.map(\.1))
                if range == maximum { atTheDistance += expected.filter { $0.1 > maximum - 1e-6 }.count }
            }
        }
        // The data does hold faces right at the distance, and the codes do rule faces out.
        #expect(atTheDistance >= 40)
        #expect(counts.measured < counts.rowsScanned / 2)
        // The half-step faces (codes one step apart everywhere) are found at 0.002.
        let low = faces[4]
        #expect(index.within(0.002, of: low).count == 3)
    }

    @Test func theJoinGivesThePairsOfEveryQuery() {
        // More than two tiles of the join, with the adversarial faces in them, after removals.
        var faces = PeopleGroupingTests.faces(people: 300, seed: 4).map(\.encoding)
        faces += Self.adversarialFaces(maximum: 0.5, seed: 8)
        faces += PeopleGroupingTests.faces(people: 80, seed: 5).map(\.encoding)
        #expect(faces.count > 2500)
        var index = FaceRangeIndex()
        for (i, face) in faces.enumerated() { index.insert(Int32(i), encoding: face) }
        for i in faces.indices where i % 11 == 0 { index.remove(Int32(i)) }
        // Every pair measured in double, as `FaceDistance.euclidean` does (the same sums, in order).
        let d = Self.dimensions
        let present = faces.indices.filter { $0 % 11 != 0 }
        let flat = faces.flatMap { $0.map(Double.init) }
        var expected: Set<[Int32]> = []
        flat.withUnsafeBufferPointer { p in
            for (n, i) in present.enumerated() {
                for j in present[(n + 1)...] {
                    var sum = 0.0
                    for k in 0..<d {
                        let x = p[i * d + k] - p[j * d + k]
                        sum += x * x
                    }
                    if sum.squareRoot() <= 0.5 { expected.insert([Int32(i), Int32(j)]) }
                }
            }
        }
        #expect(expected.count > 1000)
        for (threads, kernel) in [(1, .fastest), (3, .fastest), (2, .avx2)] as [(Int, FaceRangeIndex.JoinKernel)] {
            var counts = FaceRangeIndex.ScanCounts()
            let pairs = index.pairs(within: 0.5, threads: threads, counts: &counts, kernel: kernel)
            let found = pairs.map { [min($0.a, $0.b), max($0.a, $0.b)] }
            #expect(found.count == Set(found).count)
            #expect(Set(found) == expected)
        }
    }

    @Test func removedFacesAreNotFoundAndTheRestStillAre() {
        let faces = Self.adversarialFaces(maximum: 0.5, seed: 9)
        var index = FaceRangeIndex()
        for (i, face) in faces.enumerated() { index.insert(Int32(i), encoding: face) }
        for i in faces.indices where i % 3 == 0 { index.remove(Int32(i)) }
        #expect(index.count == faces.indices.filter { $0 % 3 != 0 }.count)
        for query in faces.prefix(60) {
            let found = index.within(0.5, of: query).map(\.face).sorted()
            let expected = Self.bruteForce(faces, query, 0.5).map(\.0).filter { $0 % 3 != 0 }
            #expect(found == expected)
        }
    }
}
