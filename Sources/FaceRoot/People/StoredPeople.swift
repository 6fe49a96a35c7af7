import FaceCore
import FaceLedger
import FaceMatch
import Foundation

/// Which faces take part in people and how they are grouped: the `cluster_*` settings.
public struct PeopleFilter: Sendable, Equatable {
    /// `cluster_distance` and `cluster_min_faces`.
    public var parameters: PeopleGrouping.Parameters
    /// `cluster_min_size`: the shorter side of a face's box, in pixels, a face needs to take part.
    public var minSize: Int
    /// `cluster_min_score`: the detection score a face needs to take part (a face stored without a
    /// score takes part).
    public var minScore: Double

    public init(parameters: PeopleGrouping.Parameters = .init(), minSize: Int = 0, minScore: Double = 0.3) {
        self.parameters = parameters
        self.minSize = minSize
        self.minScore = minScore
    }

    /// The filter of `configuration`'s `cluster_*` settings.
    public init(_ configuration: DaemonConfiguration) {
        self.init(
            parameters: .init(distance: configuration.clusterDistance, minFaces: configuration.clusterMinFaces),
            minSize: configuration.clusterMinSize, minScore: configuration.clusterMinScore)
    }

    /// Whether `face` is big and sure enough to take part.
    public func admits(_ face: Face) -> Bool {
        let side = min(face.location.bottom - face.location.top, face.location.right - face.location.left)
        return side >= minSize && (face.score ?? .infinity) >= minScore
            && face.encoding.count == FaceRangeIndex.dimensions
    }
}

/// The people of a ledger's stored faces: the grouping (`PeopleGrouping`) of every face of every
/// completed record that the filter admits, each distinct face key once, and which records hold
/// each key (a photo stored twice byte for byte holds the same keys twice).
///
/// A value: the daemon keeps one behind a lock (`PeopleTracker`), `facewatch people` builds one.
public struct StoredPeople: Sendable {
    public let filter: PeopleFilter
    public internal(set) var grouping: PeopleGrouping
    /// Per tracked record (completed, with faces): each face's key, nil for a face that takes no part.
    public private(set) var recordKeys: [UUID: [FaceKey?]] = [:]
    /// Per key: the records that hold it.
    var owners: [FaceKey: [UUID]] = [:]
    /// How many times a record was brought in with other faces or taken out: a count that moves
    /// when the grouping may have changed (for saving its snapshot).
    public private(set) var changes = 0

    public init(filter: PeopleFilter) {
        self.filter = filter
        grouping = PeopleGrouping(parameters: filter.parameters)
    }

    /// Each face's key (nil: it takes no part), or nil for a record that holds no face in people
    /// (not completed, no faces, no digest).
    public static func keys(of record: LedgerRecord, filter: PeopleFilter) -> [FaceKey?]? {
        guard record.status == .completed, !record.faces.isEmpty, let digest = Hex.decode(record.source.sha256),
            digest.count == 32
        else { return nil }
        return record.faces.enumerated().map { index, face in
            filter.admits(face) ? FaceKey.of(contentDigest: digest, face: index) : nil
        }
    }

    /// The people of every record `ledger` holds, computed in one pass.
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    /// The records of `ledger` that hold faces in people, with no grouping yet, and each distinct
    /// face (the first record's encoding of a key).
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    static func scan(
        _ ledger: any Ledger, filter: PeopleFilter
    ) throws -> (StoredPeople, [(key: FaceKey, encoding: [Float])]) {
        var people = StoredPeople(filter: filter)
        var faces: [(key: FaceKey, encoding: [Float])] = []
        try ledger.forEachRecord { record in
            guard let keys = keys(of: record, filter: filter) else { return }
            people.recordKeys[record.id] = keys
            for (key, face) in zip(keys, record.faces) {
                guard let key else { continue }
                if people.owners[key] == nil { faces.append((key, face.encoding)) }
                people.owners[key, default: []].append(record.id)
            }
        }
        return (people, faces)
    }

    public static func rebuilt(from ledger: any Ledger, filter: PeopleFilter) throws -> StoredPeople {
        let scanned = try scan(ledger, filter: filter)
        var people = scanned.0
        let faces = scanned.1
        do {
            people.grouping = try PeopleGrouping.rebuilt(from: faces, parameters: filter.parameters)
        } catch {
            // Keys are distinct and encodings checked by the filter: not reached.
            preconditionFailure("the grouping refused distinct, checked faces: \(error)")
        }
        return people
    }

    /// Brings `record` in: adds its faces, or, when they changed (a faces-only forget, a record no
    /// longer completed), replaces the ones it had. Returns the records whose faces changed person
    /// (the record itself included when its own did).
    public mutating func update(_ record: LedgerRecord) -> Set<UUID> {
        let keys = Self.keys(of: record, filter: filter)
        guard keys != recordKeys[record.id] else { return [] }
        changes += 1
        var changed: [FaceKey] = []
        var affected: Set<UUID> = []
        if recordKeys[record.id] != nil {
            changed += dropKeys(of: record.id)
            affected.insert(record.id)
        }
        if let keys {
            recordKeys[record.id] = keys
            affected.insert(record.id)
            for (key, face) in zip(keys, record.faces) {
                guard let key else { continue }
                let first = owners[key] == nil
                owners[key, default: []].append(record.id)
                if first, let moved = try? grouping.add(key, encoding: face.encoding) {
                    changed += moved.map(\.face)
                }
            }
        }
        for key in changed { affected.formUnion(owners[key] ?? []) }
        return affected
    }

    /// Takes a record's faces out (it was forgotten). Returns the records whose faces changed person.
    public mutating func remove(_ id: UUID) -> Set<UUID> {
        guard recordKeys[id] != nil else { return [] }
        changes += 1
        var affected: Set<UUID> = []
        for key in dropKeys(of: id) { affected.formUnion(owners[key] ?? []) }
        return affected
    }

    /// Forgets the keys of `id`; removes from the grouping each key no other record holds. Returns
    /// the keys whose person changed.
    private mutating func dropKeys(of id: UUID) -> [FaceKey] {
        guard let keys = recordKeys.removeValue(forKey: id) else { return [] }
        var changed: [FaceKey] = []
        for key in keys.compactMap({ $0 }) {
            owners[key]?.removeAll { $0 == id }
            guard owners[key]?.isEmpty == true else { continue }
            owners[key] = nil
            if let moved = try? grouping.remove(key) { changed += moved.map(\.face) }
        }
        return changed
    }

    /// Each face's person slot in a tracked record; nil for a record not tracked.
    public func slots(of id: UUID) -> [PersonSlot]? {
        recordKeys[id].map { keys in
            keys.map { key in
                guard let key, let person = grouping.person(of: key) else { return .alone }
                return .person(person.description)
            }
        }
    }

    /// The records that hold a face key.
    public func records(holding key: FaceKey) -> [UUID] { owners[key] ?? [] }
}
