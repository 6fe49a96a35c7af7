import FaceCore

/// A face whose person changed: after `add` or `remove`, the faces whose documents need the new
/// `person` (the added face is always listed; a removed face never is).
public struct PersonChange: Sendable, Equatable {
    public var face: FaceKey
    public var person: PersonID?

    public init(face: FaceKey, person: PersonID?) {
        self.face = face
        self.person = person
    }
}

/// The persons of faces before an update, recorded the first time the update touches each face, to
/// list afterwards the faces whose person changed.
struct PersonLog {
    private(set) var before: [Int32: PersonID?] = [:]

    mutating func note(_ face: Int32, _ grouping: PeopleGrouping) {
        if before[face] == nil { before[face] = .some(grouping.person(ofSlot: face)) }
    }

    mutating func forget(_ face: Int32) { before[face] = nil }

    func changes(in grouping: PeopleGrouping) -> [PersonChange] {
        before.compactMap { face, old in
            let now = grouping.person(ofSlot: face)
            return now == old ? nil : PersonChange(face: grouping.keys[Int(face)], person: now)
        }
    }
}

extension PeopleGrouping {
    /// Adds a face: one range query, the neighbours' counts, the core faces it makes, the people
    /// those merge, and the faces that now follow a nearer core face.
    ///
    /// - Returns: the faces whose person changed, the new face included, sorted by key.
    /// - Throws: `Failure.alreadyPresent` for a key already in the grouping, `Failure.wrongLength`
    ///   for an encoding that is not of `FaceRangeIndex.dimensions` components.
    @discardableResult
    public mutating func add(_ key: FaceKey, encoding: [Float]) throws(Failure) -> [PersonChange] {
        guard slots[key] == nil else { throw .alreadyPresent(key) }
        guard encoding.count == FaceRangeIndex.dimensions else { throw .wrongLength(encoding.count) }
        let found = index.within(parameters.distance, of: encoding)
        let face = allocateSlot(key)
        index.insert(face, encoding: encoding)
        var log = PersonLog()
        log.note(face, self)
        neighbours[Int(face)] = found.map(\.face)
        var newCores: [Int32] = []
        for (other, _) in found {
            neighbours[Int(other)].append(face)
            if neighbours[Int(other)].count + 1 == parameters.minFaces { newCores.append(other) }
        }
        if isCore(face) { newCores.append(face) }
        for core in newCores {
            log.note(core, self)
            _ = newPerson([core])
        }
        for core in newCores {
            for other in neighbours[Int(core)] where personOf[Int(other)] >= 0 {
                join(personOf[Int(core)], personOf[Int(other)], &log)
            }
        }
        for core in newCores {
            for other in neighbours[Int(core)] where personOf[Int(other)] < 0 {
                if isNearer(core, than: follows[Int(other)], for: other) {
                    log.note(other, self)
                    follows[Int(other)] = core
                }
            }
        }
        if personOf[Int(face)] < 0 { follows[Int(face)] = nearestCore(of: face) }
        var changes = log.changes(in: self)
        if !changes.contains(where: { $0.face == key }) {
            changes.append(PersonChange(face: key, person: person(ofSlot: face)))
        }
        return changes.sorted { $0.face < $1.face }
    }

    /// Removes a face: its neighbours' counts drop, core faces that fall below `minFaces` stop being
    /// core, the people that held them are regrouped from their remaining core faces, and the faces
    /// that followed a lost core face follow the nearest remaining one.
    ///
    /// - Returns: the faces whose person changed, sorted by key (the removed face is not listed).
    /// - Throws: `Failure.notPresent` for a key not in the grouping.
    @discardableResult
    public mutating func remove(_ key: FaceKey) throws(Failure) -> [PersonChange] {
        guard let face = slots[key] else { throw .notPresent(key) }
        let former = neighbours[Int(face)]
        var lost = former.filter { personOf[Int($0)] >= 0 && neighbours[Int($0)].count + 1 == parameters.minFaces }
        if personOf[Int(face)] >= 0 { lost.append(face) }
        let affected = Set(lost.map { personOf[Int($0)] })
        var log = PersonLog()
        for person in affected {
            for member in faces(ofPerson: person) { log.note(member, self) }
        }
        for other in former {
            if let at = neighbours[Int(other)].firstIndex(of: face) { neighbours[Int(other)].remove(at: at) }
        }
        for core in lost { personOf[Int(core)] = -1 }
        for person in affected.sorted() {
            let remaining = people[Int(person)]!.members.filter { personOf[Int($0)] >= 0 }
            deletePerson(person)
            for group in connectedGroups(of: remaining) { _ = newPerson(group) }
        }
        for core in lost where core != face {
            log.note(core, self)
            follows[Int(core)] = nearestCore(of: core)
        }
        for core in lost {
            for other in (core == face ? former : neighbours[Int(core)])
            where personOf[Int(other)] < 0 && follows[Int(other)] == core {
                log.note(other, self)
                follows[Int(other)] = nearestCore(of: other)
            }
        }
        log.forget(face)
        let changes = log.changes(in: self)
        index.remove(face)
        slots[key] = nil
        neighbours[Int(face)] = []
        personOf[Int(face)] = -1
        follows[Int(face)] = -1
        freeSlots.append(face)
        return changes.sorted { $0.face < $1.face }
    }

    /// Merges two people: the one with more core faces takes the other's, and the merged person
    /// keeps the smaller of the two ids.
    mutating func join(_ a: Int32, _ b: Int32, _ log: inout PersonLog) {
        guard a != b, let first = people[Int(a)], let second = people[Int(b)] else { return }
        let id = min(first.id, second.id)
        if first.id != id { for member in faces(ofPerson: a) { log.note(member, self) } }
        if second.id != id { for member in faces(ofPerson: b) { log.note(member, self) } }
        let (kept, merged) = first.members.count >= second.members.count ? (a, b) : (b, a)
        let moving = people[Int(merged)]!.members
        for member in moving { personOf[Int(member)] = kept }
        people[Int(kept)]!.members.append(contentsOf: moving)
        people[Int(kept)]!.id = id
        deletePerson(merged)
    }

    /// The connected groups of `cores` (core faces), each sorted, two being connected when neighbours.
    func connectedGroups(of cores: [Int32]) -> [[Int32]] {
        let inSet = Set(cores)
        var seen = Set<Int32>()
        var groups: [[Int32]] = []
        for start in cores where !seen.contains(start) {
            seen.insert(start)
            var group = [start]
            var next = 0
            while next < group.count {
                let current = group[next]
                next += 1
                for other in neighbours[Int(current)] where inSet.contains(other) && !seen.contains(other) {
                    seen.insert(other)
                    group.append(other)
                }
            }
            groups.append(group)
        }
        return groups
    }
}
