import FaceCore

/// The grouping's expensive part kept between runs: each face's neighbours within `distance`.
///
/// A snapshot lists every face of the grouping in key order: its key, a 64-bit hash of its encoding,
/// and its neighbours (as places in that list). It is followed by the SHA-256 of everything before
/// it, so a file cut short or changed anywhere is refused as a whole. Restoring it takes the faces
/// as they are now (the ledger is the truth): a face whose key and encoding hash are in the snapshot
/// takes its neighbours from it (the neighbours that are no longer there dropped: a neighbour list
/// restricted to fewer faces is exactly the neighbour list among them), and every other face is
/// added with `add` (one range query). Core faces, people and the faces that follow them are then
/// derived as `rebuilt` derives them, so the result is the grouping of the faces given, whatever
/// the snapshot's age.
///
/// Layout, little-endian: "FWPEOPL1"; `distance` as its IEEE-754 bits; `minFaces`; the ledger
/// position (face log length, forget generation) the caller stamped; the face count; per face the
/// key (high, low), the encoding hash and the neighbour count (8 bytes each) then the neighbours
/// (4 bytes each); the 32-byte SHA-256.
extension PeopleGrouping {
    /// Why a snapshot cannot be used.
    public enum SnapshotRefusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The bytes are not a whole, unchanged snapshot (what failed).
        case corrupt(String)
        /// It was made with another `distance` or `minFaces`.
        case otherParameters(distance: Double, minFaces: Int)

        public var description: String {
            switch self {
            case .corrupt(let what): "corrupt (\(what))"
            case .otherParameters(let distance, let minFaces):
                "made with cluster_distance \(distance) and cluster_min_faces \(minFaces)"
            }
        }
    }

    /// Where in the ledger a snapshot was taken, as its writer stamped it (for the logs).
    public struct SnapshotPosition: Sendable, Equatable {
        public var faceLog: UInt64
        public var forgotten: UInt64

        public init(faceLog: UInt64, forgotten: UInt64) {
            self.faceLog = faceLog
            self.forgotten = forgotten
        }
    }

    /// A grouping restored from a snapshot, and how much of it the snapshot gave.
    public struct Restored: Sendable {
        public var grouping: PeopleGrouping
        public var position: SnapshotPosition
        /// Faces whose neighbours came from the snapshot.
        public var reused: Int
        /// Faces added with a range query (not in the snapshot, or with another encoding).
        public var added: Int
        /// Faces of the snapshot not among the faces given (forgotten since, or encoded again).
        public var dropped: Int
    }

    static let snapshotMagic = Array("FWPEOPL1".utf8)

    /// The 64-bit FNV-1a hash of an encoding's float bits: a face whose encoding changed under the
    /// same key (the photo encoded again with other settings) is not taken from a snapshot.
    public static func encodingHash(_ encoding: some Collection<Float>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in encoding {
            hash = (hash ^ UInt64(value.bitPattern)) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The snapshot of this grouping, stamped with `position`.
    public func snapshot(position: SnapshotPosition) -> [UInt8] {
        let order = slots.sorted { $0.key < $1.key }
        var place = [UInt32](repeating: UInt32.max, count: keys.count)
        for (index, entry) in order.enumerated() { place[Int(entry.value)] = UInt32(index) }
        var bytes = Self.snapshotMagic
        bytes.reserveCapacity(64 + order.count * 40 + neighbours.reduce(0) { $0 + $1.count } * 4)
        for value in [
            parameters.distance.bitPattern, UInt64(parameters.minFaces), position.faceLog, position.forgotten,
            UInt64(order.count),
        ] {
            Self.append(value, to: &bytes)
        }
        for (key, face) in order {
            Self.append(key.high, to: &bytes)
            Self.append(key.low, to: &bytes)
            Self.append(Self.encodingHash(index.encoding(of: face)), to: &bytes)
            Self.append(UInt64(neighbours[Int(face)].count), to: &bytes)
            for other in neighbours[Int(face)] {
                withUnsafeBytes(of: place[Int(other)].littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        bytes += SHA256.digest(bytes)
        return bytes
    }

    /// The grouping of `faces` (distinct keys, encodings of `FaceRangeIndex.dimensions` components),
    /// with the neighbours of the faces `snapshot` holds taken from it.
    ///
    /// - Throws: `SnapshotRefusal` when the snapshot is not whole or was made with other parameters;
    ///   nothing of it is used then.
    public static func restored(
        snapshot: [UInt8], faces: [(key: FaceKey, encoding: [Float])], parameters: Parameters
    ) throws(SnapshotRefusal) -> Restored {
        let parsed = try ParsedSnapshot(snapshot)
        guard parsed.distanceBits == parameters.distance.bitPattern, parsed.minFaces == parameters.minFaces else {
            throw .otherParameters(distance: Double(bitPattern: parsed.distanceBits), minFaces: parsed.minFaces)
        }
        var grouping = PeopleGrouping(parameters: parameters)
        var slotOf = [Int32](repeating: -1, count: parsed.keys.count)
        var reused: [(slot: Int32, place: Int)] = []
        var added: [(key: FaceKey, encoding: [Float])] = []
        for (key, encoding) in faces {
            precondition(grouping.slots[key] == nil && encoding.count == FaceRangeIndex.dimensions)
            if let place = parsed.place[key], parsed.hashes[place] == encodingHash(encoding) {
                let face = grouping.allocateSlot(key)
                grouping.index.insert(face, encoding: encoding)
                slotOf[place] = face
                reused.append((face, place))
            } else {
                added.append((key, encoding))
            }
        }
        for (face, place) in reused {
            let range = parsed.starts[place]..<parsed.starts[place + 1]
            grouping.neighbours[Int(face)] = parsed.neighbours[range].compactMap { other in
                slotOf[Int(other)] >= 0 ? slotOf[Int(other)] : nil
            }
        }
        let cores = reused.map(\.slot).filter { grouping.isCore($0) }
        for group in grouping.connectedGroups(of: cores) { _ = grouping.newPerson(group) }
        for (face, _) in reused where grouping.personOf[Int(face)] < 0 {
            grouping.follows[Int(face)] = grouping.nearestCore(of: face)
        }
        for (key, encoding) in added {
            do {
                try grouping.add(key, encoding: encoding)
            } catch {
                preconditionFailure("the grouping refused a distinct, checked face: \(error)")
            }
        }
        return Restored(
            grouping: grouping, position: parsed.position, reused: reused.count, added: added.count,
            dropped: parsed.keys.count - reused.count)
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// A snapshot's contents, checked: whole (its SHA-256), keys in strictly increasing order, every
/// neighbour a place in the list other than the face's own.
private struct ParsedSnapshot {
    var distanceBits: UInt64 = 0
    var minFaces = 0
    var position = PeopleGrouping.SnapshotPosition(faceLog: 0, forgotten: 0)
    var keys: [FaceKey] = []
    var hashes: [UInt64] = []
    var place: [FaceKey: Int] = [:]
    /// Face i's neighbours are `neighbours[starts[i]..<starts[i + 1]]`.
    var starts: [Int] = [0]
    var neighbours: [UInt32] = []

    init(_ bytes: [UInt8]) throws(PeopleGrouping.SnapshotRefusal) {
        let magic = PeopleGrouping.snapshotMagic
        guard bytes.count >= magic.count + 40 + 32, Array(bytes.prefix(magic.count)) == magic else {
            throw .corrupt("not a people snapshot, or cut short")
        }
        let body = bytes.count - 32
        guard SHA256.digest(Array(bytes[..<body])) == Array(bytes[body...]) else {
            throw .corrupt("its checksum does not match")
        }
        let outcome = bytes.withUnsafeBytes { raw -> Result<Void, PeopleGrouping.SnapshotRefusal> in
            do throws(PeopleGrouping.SnapshotRefusal) {
                try parse(raw, from: magic.count, to: body)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try outcome.get()
    }

    private mutating func parse(
        _ raw: UnsafeRawBufferPointer, from start: Int, to body: Int
    ) throws(PeopleGrouping.SnapshotRefusal) {
        var at = start
        func word() throws(PeopleGrouping.SnapshotRefusal) -> UInt64 {
            guard at + 8 <= body else { throw .corrupt("cut short") }
            defer { at += 8 }
            return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
        }
        distanceBits = try word()
        minFaces = Int(truncatingIfNeeded: try word())
        position = .init(faceLog: try word(), forgotten: try word())
        let count = try word()
        guard count <= UInt64(body / 32) else { throw .corrupt("too many faces for its size") }
        keys.reserveCapacity(Int(count))
        hashes.reserveCapacity(Int(count))
        place.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let key = FaceKey(high: try word(), low: try word())
            guard keys.last.map({ $0 < key }) ?? true else { throw .corrupt("keys out of order") }
            keys.append(key)
            place[key] = index
            hashes.append(try word())
            let listed = try word()
            guard listed < count, at + Int(listed) * 4 <= body else { throw .corrupt("cut short") }
            for _ in 0..<Int(listed) {
                let other = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))
                at += 4
                guard UInt64(other) < count, Int(other) != index else { throw .corrupt("a neighbour out of range") }
                neighbours.append(other)
            }
            starts.append(neighbours.count)
        }
        guard at == body else { throw .corrupt("bytes after the last face") }
    }
}
