import FaceCore
import Foundation

extension PeopleGrouping {
    /// The grouping of `faces` computed in one pass, with nothing carried over: every pair of faces
    /// within the distance (`FaceRangeIndex.pairs`, on `threads` threads), then the core faces, their
    /// connected groups, and each other face's nearest core face. `add` and `remove` must always
    /// leave what this gives on the same set of faces.
    ///
    /// - Throws: `Failure.alreadyPresent` when a key repeats, `Failure.wrongLength` for an encoding
    ///   that is not of `FaceRangeIndex.dimensions` components.
    public static func rebuilt(
        from faces: [(key: FaceKey, encoding: [Float])], parameters: Parameters,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws(Failure) -> PeopleGrouping {
        var grouping = PeopleGrouping(parameters: parameters)
        var slotsInOrder: [Int32] = []
        slotsInOrder.reserveCapacity(faces.count)
        for (key, encoding) in faces {
            guard grouping.slots[key] == nil else { throw .alreadyPresent(key) }
            guard encoding.count == FaceRangeIndex.dimensions else { throw .wrongLength(encoding.count) }
            let face = grouping.allocateSlot(key)
            grouping.index.insert(face, encoding: encoding)
            slotsInOrder.append(face)
        }
        var counts = FaceRangeIndex.ScanCounts()
        for (a, b) in grouping.index.pairs(within: parameters.distance, threads: threads, counts: &counts) {
            grouping.neighbours[Int(a)].append(b)
            grouping.neighbours[Int(b)].append(a)
        }
        for face in slotsInOrder { grouping.neighbours[Int(face)].sort() }
        let cores = slotsInOrder.filter { grouping.isCore($0) }
        for group in grouping.connectedGroups(of: cores) { _ = grouping.newPerson(group) }
        for face in slotsInOrder where grouping.personOf[Int(face)] < 0 {
            grouping.follows[Int(face)] = grouping.nearestCore(of: face)
        }
        return grouping
    }

    /// Every face with its encoding, sorted by key: what `rebuilt(from:parameters:)` takes.
    public func faceList() -> [(key: FaceKey, encoding: [Float])] {
        slots.map { ($0.key, Array(index.encoding(of: $0.value))) }.sorted { $0.key < $1.key }
    }
}
