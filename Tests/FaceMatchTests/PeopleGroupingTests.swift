import FaceCore
import FaceMatch
import FaceTestSupport
import Testing

/// The grouping against a plain reading of its definition (every distance, BFS over core faces,
/// nearest core face for the rest), whatever the order faces are added and removed in.
@Suite(.timeLimit(.minutes(5)))
struct PeopleGroupingTests {
    static let parameters = PeopleGrouping.Parameters(distance: 0.5, minFaces: 3)

    /// Faces around `people` centres (components ±0.09, so centres lie ~0.8 apart), 1 to 14 faces
    /// each (noise ±0.035 to ±0.065 a person: faces 0.32 to 0.6 from each other, about the distance,
    /// so that there are core, border and lone faces), plus faces halfway
    /// between two centres that make people merge when they arrive.
    static func faces(people: Int, seed: UInt64) -> [(key: FaceKey, encoding: [Float])] {
        var rng = SeededGenerator(seed: seed)
        let dimensions = FaceRangeIndex.dimensions
        let centres = (0..<people).map { _ in (0..<dimensions).map { _ in rng.uniform(-0.09, 0.09) } }
        var result: [(key: FaceKey, encoding: [Float])] = []
        for centre in centres {
            let spread = rng.uniform(0.035, 0.065)
            for _ in 0..<(1 + Int(rng.next() % 14)) {
                result.append(
                    (FaceKey(high: rng.next(), low: rng.next()), centre.map { $0 + rng.uniform(-spread, spread) }))
            }
        }
        for i in 0..<(people / 3) {
            let a = centres[i]
            let b = centres[(i * 7 + 1) % people]
            result.append((FaceKey(high: rng.next(), low: rng.next()), (0..<dimensions).map { (a[$0] + b[$0]) / 2 }))
        }
        return result
    }

    /// The definition, computed the slow way.
    static func definition(_ faces: [(key: FaceKey, encoding: [Float])], _ p: PeopleGrouping.Parameters)
        -> [FaceKey: PersonID?]
    {
        let n = faces.count
        var within = [[Int]](repeating: [], count: n)
        for i in 0..<n {
            for j in 0..<n where i != j && FaceDistance.euclidean(faces[i].encoding, faces[j].encoding) <= p.distance {
                within[i].append(j)
            }
        }
        let core = (0..<n).map { within[$0].count + 1 >= p.minFaces }
        var group = [Int](repeating: -1, count: n)
        var ids: [FaceKey] = []
        for start in 0..<n where core[start] && group[start] < 0 {
            var stack = [start]
            group[start] = ids.count
            var smallest = faces[start].key
            while let i = stack.popLast() {
                smallest = min(smallest, faces[i].key)
                for j in within[i] where core[j] && group[j] < 0 {
                    group[j] = ids.count
                    stack.append(j)
                }
            }
            ids.append(smallest)
        }
        var result: [FaceKey: PersonID?] = [:]
        for i in 0..<n {
            if core[i] {
                result[faces[i].key] = PersonID(key: ids[group[i]])
                continue
            }
            let nearest = within[i].filter { core[$0] }.min {
                let a = FaceDistance.euclidean(faces[i].encoding, faces[$0].encoding)
                let b = FaceDistance.euclidean(faces[i].encoding, faces[$1].encoding)
                return (a, faces[$0].key) < (b, faces[$1].key)
            }
            let person: PersonID? = nearest.map { PersonID(key: ids[group[$0]]) }
            result[faces[i].key] = .some(person)
        }
        return result
    }

    /// Keeps a copy of every face's person from the changes `add` and `remove` report.
    struct Mirror {
        var persons: [FaceKey: PersonID?] = [:]
        mutating func apply(_ changes: [PersonChange]) {
            for change in changes { persons[change.face] = .some(change.person) }
        }
    }

    @Test func aRebuildFollowsTheDefinition() throws {
        let faces = Self.faces(people: 25, seed: 1)
        let grouping = try PeopleGrouping.rebuilt(from: faces, parameters: Self.parameters)
        let expected = Self.definition(faces, Self.parameters)
        #expect(grouping.assignments() == expected)
        // The data exercises every case: several people, faces alone and border faces.
        let people = Set(expected.values.compactMap { $0 })
        #expect(people.count >= 5)
        #expect(expected.values.contains { $0 == nil })
        #expect(faces.contains { !grouping.isCore($0.key) && grouping.person(of: $0.key) != nil })
    }

    @Test(arguments: [11, 12, 13] as [UInt64])
    func addingInAnyOrderGivesTheRebuild(seed: UInt64) throws {
        let faces = Self.faces(people: 25, seed: 1)
        var rng = SeededGenerator(seed: seed)
        var grouping = PeopleGrouping(parameters: Self.parameters)
        var mirror = Mirror()
        for (step, face) in faces.shuffled(using: &rng).enumerated() {
            mirror.apply(try grouping.add(face.key, encoding: face.encoding))
            if step % 50 == 0 { #expect(mirror.persons == grouping.assignments()) }
        }
        let expected = Self.definition(faces, Self.parameters)
        #expect(grouping.assignments() == expected)
        #expect(mirror.persons == expected)
    }

    @Test(arguments: [21, 22] as [UInt64])
    func removingInAnyOrderGivesTheRebuildOfWhatRemains(seed: UInt64) throws {
        var faces = Self.faces(people: 25, seed: 2)
        var rng = SeededGenerator(seed: seed)
        var grouping = try PeopleGrouping.rebuilt(from: faces, parameters: Self.parameters)
        var mirror = Mirror()
        mirror.persons = grouping.assignments()
        faces.shuffle(using: &rng)
        var step = 0
        while faces.count > 20 {
            let gone = faces.removeLast()
            mirror.apply(try grouping.remove(gone.key))
            mirror.persons[gone.key] = nil
            step += 1
            if step % 25 == 0 {
                #expect(grouping.assignments() == Self.definition(faces, Self.parameters))
                #expect(mirror.persons == grouping.assignments())
            }
        }
        #expect(grouping.assignments() == Self.definition(faces, Self.parameters))
        #expect(mirror.persons == grouping.assignments())
    }

    @Test func addingAndRemovingMixedGivesTheRebuild() throws {
        let all = Self.faces(people: 25, seed: 3)
        var rng = SeededGenerator(seed: 31)
        var grouping = PeopleGrouping(parameters: .init(distance: 0.5, minFaces: 4))
        var present: [(key: FaceKey, encoding: [Float])] = []
        var waiting = all.shuffled(using: &rng)
        var mirror = Mirror()
        while !waiting.isEmpty {
            if !present.isEmpty, rng.next() % 3 == 0 {
                let gone = present.remove(at: Int(rng.next() % UInt64(present.count)))
                mirror.apply(try grouping.remove(gone.key))
                mirror.persons[gone.key] = nil
                if rng.next() % 2 == 0 { waiting.insert(gone, at: 0) }
            } else {
                let face = waiting.removeLast()
                present.append(face)
                mirror.apply(try grouping.add(face.key, encoding: face.encoding))
            }
        }
        let expected = Self.definition(present, grouping.parameters)
        #expect(grouping.assignments() == expected)
        #expect(mirror.persons == expected)
        let rebuilt = try PeopleGrouping.rebuilt(from: grouping.faceList(), parameters: grouping.parameters)
        #expect(rebuilt.assignments() == expected)
    }

    /// A face exactly as far from core faces of two people (0.375, exact in binary) follows the
    /// core face with the smaller key, whichever of the two it is.
    @Test(arguments: [false, true])
    func aBorderFaceBetweenTwoPeopleAtEqualDistanceFollowsTheSmallerKey(swapped: Bool) throws {
        func point(_ x: Float, _ y: Float) -> [Float] {
            var encoding = [Float](repeating: 0, count: FaceRangeIndex.dimensions)
            encoding[0] = x
            encoding[1] = y
            return encoding
        }
        let left = FaceKey(high: swapped ? 200 : 100, low: 0)
        let right = FaceKey(high: swapped ? 100 : 200, low: 0)
        var faces: [(key: FaceKey, encoding: [Float])] = [(FaceKey(high: 1, low: 0), point(0, 0))]
        faces.append((left, point(-0.375, 0)))
        faces.append((right, point(0.375, 0)))
        for (i, (x, y)) in [(0.625, 0), (0.625, 0.25), (0.625, -0.25)].enumerated() {
            faces.append((FaceKey(high: 300 + UInt64(i), low: 0), point(Float(-x), Float(y))))
            faces.append((FaceKey(high: 400 + UInt64(i), low: 0), point(Float(x), Float(y))))
        }
        let parameters = PeopleGrouping.Parameters(distance: 0.5, minFaces: 4)
        var grouping = PeopleGrouping(parameters: parameters)
        for face in faces.reversed() { try grouping.add(face.key, encoding: face.encoding) }
        #expect(!grouping.isCore(faces[0].key))
        #expect(grouping.isCore(left) && grouping.isCore(right))
        #expect(grouping.person(of: left) != grouping.person(of: right))
        let smaller = min(left, right)
        #expect(grouping.person(of: faces[0].key) == grouping.person(of: smaller))
        #expect(grouping.assignments() == Self.definition(faces, parameters))
    }

    @Test func twoPeopleMergeUnderTheSmallerIdAndSplitAgainWhenTheBridgeGoes() throws {
        var grouping = PeopleGrouping(parameters: .init(distance: 0.5, minFaces: 1))
        let a = Self.faces(people: 2, seed: 9)[0]
        let b = (key: FaceKey(high: a.key.high &+ 1, low: 0), encoding: a.encoding.map { $0 + 0.07 })
        try grouping.add(a.key, encoding: a.encoding)
        let c = (key: FaceKey(high: 0, low: 5), encoding: a.encoding.map { $0 + 0.035 })
        try grouping.add(b.key, encoding: b.encoding)
        // 0.07 × √128 ≈ 0.79: two people; the face halfway joins both, under the smallest key.
        #expect(grouping.peopleCount == 2)
        let changes = try grouping.add(c.key, encoding: c.encoding)
        #expect(grouping.peopleCount == 1)
        #expect(grouping.person(of: a.key) == PersonID(key: c.key))
        #expect(Set(changes.map(\.face)) == [a.key, b.key, c.key])
        let split = try grouping.remove(c.key)
        #expect(grouping.peopleCount == 2)
        #expect(Set(split.map(\.face)) == [a.key, b.key])
        #expect(grouping.person(of: a.key) == PersonID(key: a.key))
        #expect(throws: PeopleGrouping.Failure.notPresent(c.key)) { try grouping.remove(c.key) }
        #expect(throws: PeopleGrouping.Failure.alreadyPresent(a.key)) { try grouping.add(a.key, encoding: a.encoding) }
        #expect(throws: PeopleGrouping.Failure.wrongLength(3)) { try grouping.add(c.key, encoding: [0, 0, 0]) }
    }

    @Test func faceKeysComeFromThePhotoAndTheFaceAndReadBack() {
        let digest = SHA256.digest(Array("photo".utf8))
        let key = FaceKey.of(contentDigest: digest, face: 0)
        #expect(key == FaceKey.of(contentDigest: digest, face: 0))
        #expect(key != FaceKey.of(contentDigest: digest, face: 1))
        #expect(FaceKey(key.description) == key)
        #expect(key.description.count == 32)
        #expect(PersonID(key: key).description == String(key.description.prefix(16)))
    }
}
