import FaceCore

/// Faces grouped into people by density (DBSCAN with a fixed rule for border faces), kept up to
/// date face by face, and the same whatever the order faces were added and removed in:
///
/// - a face is a *core* face when at least `minFaces` faces (itself included) lie within `distance`
///   of it (distance ≤ `distance`, measured in double precision as `FaceDistance.euclidean`);
/// - a person is a connected group of core faces, two core faces being connected when they lie
///   within `distance` of each other;
/// - any other face joins the person of its nearest core face within `distance`, equal distances
///   going to the core face with the smaller `FaceKey`; with no core face in range it is alone
///   (person nil);
/// - a person's id is the smallest key among its core faces (`PersonID`).
///
/// Every one of these is a function of the set of faces, so `add` and `remove` in any order give
/// what `rebuild` gives on the faces that remain; the tests check it. The grouping keeps each face's
/// neighbours within `distance`, so adding a face costs one range query of `FaceRangeIndex` and the
/// updates it causes, and removing one costs no query.
public struct PeopleGrouping: Sendable {
    /// What the grouping is asked to do with a face it cannot take.
    public enum Failure: Error, Sendable, Equatable {
        case alreadyPresent(FaceKey)
        case notPresent(FaceKey)
        case wrongLength(Int)
    }

    public struct Parameters: Sendable, Equatable {
        /// The measured default of `cluster_distance`: on the golden set's named people the smallest
        /// distance that groups every person's faces together with no two people mixed
        /// (docs/people.md, "How good it is").
        public static let defaultDistance = 0.55
        /// The default of `cluster_min_faces`: a person needs three faces within the distance of one.
        public static let defaultMinFaces = 3

        /// `cluster_distance`: faces within this distance are neighbours (DBSCAN's eps).
        public var distance: Double
        /// `cluster_min_faces`: neighbours (itself included) that make a core face (DBSCAN's min_samples).
        public var minFaces: Int
        public init(distance: Double = defaultDistance, minFaces: Int = defaultMinFaces) {
            self.distance = distance
            self.minFaces = max(1, minFaces)
        }
    }

    struct Person {
        var members: [Int32]
        var id: FaceKey
    }

    public let parameters: Parameters
    var index: FaceRangeIndex
    var keys: [FaceKey] = []
    var slots: [FaceKey: Int32] = [:]
    var freeSlots: [Int32] = []
    /// Per face: the faces within `distance` of it, itself excluded.
    var neighbours: [[Int32]] = []
    /// Per core face: its person (an index into `people`); -1 for other faces.
    var personOf: [Int32] = []
    /// Per non-core face: the core face it follows; -1 when none is in range.
    var follows: [Int32] = []
    var people: [Person?] = []
    var freePeople: [Int32] = []

    public init(parameters: Parameters) {
        self.parameters = parameters
        index = FaceRangeIndex()
    }

    /// How many faces take part.
    public var count: Int { slots.count }
    /// How many people there are.
    public var peopleCount: Int { people.count - freePeople.count }
    /// What one range query for `encoding` compares and measures in the index (for the benchmark's figures).
    public func scanCounts(for encoding: [Float]) -> FaceRangeIndex.ScanCounts {
        var counts = FaceRangeIndex.ScanCounts()
        _ = index.within(parameters.distance, of: encoding, counts: &counts)
        return counts
    }

    /// Whether the face with `key` takes part.
    public func contains(_ key: FaceKey) -> Bool { slots[key] != nil }

    /// The person of the face with `key`: nil when the face is alone or not in the grouping.
    public func person(of key: FaceKey) -> PersonID? {
        guard let face = slots[key] else { return nil }
        return person(ofSlot: face)
    }

    /// Whether the face with `key` is a core face.
    public func isCore(_ key: FaceKey) -> Bool {
        guard let face = slots[key] else { return false }
        return isCore(face)
    }

    /// Every face's person, by key.
    public func assignments() -> [FaceKey: PersonID?] {
        var result: [FaceKey: PersonID?] = [:]
        result.reserveCapacity(slots.count)
        for (key, face) in slots { result[key] = person(ofSlot: face) }
        return result
    }

    /// Every person and its faces (core and border), sorted by key; people ordered by id.
    public func members() -> [(person: PersonID, faces: [FaceKey])] {
        var byPerson: [FaceKey: [FaceKey]] = [:]
        for (key, face) in slots {
            if let person = person(ofSlot: face) { byPerson[person.key, default: []].append(key) }
        }
        return byPerson.map { (PersonID(key: $0.key), $0.value.sorted()) }.sorted { $0.person < $1.person }
    }

    // MARK: - Internals shared by adding, removing and rebuilding

    func isCore(_ face: Int32) -> Bool { neighbours[Int(face)].count + 1 >= parameters.minFaces }

    func person(ofSlot face: Int32) -> PersonID? {
        let core = personOf[Int(face)] >= 0 ? face : follows[Int(face)]
        guard core >= 0 else { return nil }
        return PersonID(key: people[Int(personOf[Int(core)])]!.id)
    }

    /// The core face `face` should follow: the nearest core neighbour, ties to the smaller key.
    func nearestCore(of face: Int32) -> Int32 {
        var best: Int32 = -1
        var bestDistance = Double.infinity
        for other in neighbours[Int(face)] where personOf[Int(other)] >= 0 {
            let distance = index.distance(face, other)
            if distance < bestDistance || (distance == bestDistance && keys[Int(other)] < keys[Int(best)]) {
                best = other
                bestDistance = distance
            }
        }
        return best
    }

    /// Whether core face `candidate` is a better leader for `face` than its current one.
    func isNearer(_ candidate: Int32, than current: Int32, for face: Int32) -> Bool {
        guard current >= 0 else { return true }
        let a = index.distance(face, candidate)
        let b = index.distance(face, current)
        return a < b || (a == b && keys[Int(candidate)] < keys[Int(current)])
    }

    /// Every face of person `p`: its core faces and the faces that follow them.
    func faces(ofPerson p: Int32) -> [Int32] {
        guard let person = people[Int(p)] else { return [] }
        var result = person.members
        for core in person.members {
            for other in neighbours[Int(core)] where follows[Int(other)] == core && personOf[Int(other)] < 0 {
                result.append(other)
            }
        }
        return result
    }

    mutating func newPerson(_ members: [Int32]) -> Int32 {
        let id = members.map { keys[Int($0)] }.min()!
        let p: Int32
        if let free = freePeople.popLast() {
            p = free
            people[Int(p)] = Person(members: members, id: id)
        } else {
            p = Int32(people.count)
            people.append(Person(members: members, id: id))
        }
        for face in members {
            personOf[Int(face)] = p
            follows[Int(face)] = -1
        }
        return p
    }

    mutating func deletePerson(_ p: Int32) {
        people[Int(p)] = nil
        freePeople.append(p)
    }

    mutating func allocateSlot(_ key: FaceKey) -> Int32 {
        let face: Int32
        if let free = freeSlots.popLast() {
            face = free
            keys[Int(face)] = key
            neighbours[Int(face)] = []
            personOf[Int(face)] = -1
            follows[Int(face)] = -1
        } else {
            face = Int32(keys.count)
            keys.append(key)
            neighbours.append([])
            personOf.append(-1)
            follows.append(-1)
        }
        slots[key] = face
        return face
    }
}
