import FaceCore
import FaceLedger
import FaceMatch
import Foundation

/// The people found automatically among the stored faces (docs/people.md), as `facewatch people`
/// lists them: grouped from the ledger in one pass with the root's `cluster_*` settings, which is
/// what the daemon's documents show.
public struct FoundPeople: Sendable {
    /// One face of a person: where it is.
    public struct FaceRef: Sendable, Equatable {
        public var record: UUID
        /// The face's number in its photo.
        public var face: Int
        /// The photo's inbox name and stored original (relative to the root).
        public var source: String
        public var storePath: String
        public var location: FaceLocation
        public var score: Double?
    }

    /// One person.
    public struct Person: Sendable, Equatable {
        /// 16 hex digits.
        public var id: String
        /// The known person most of its faces are labelled with first (`matches[0]`), or nil.
        public var name: String?
        /// Distinct faces (a photo stored twice counts once) and the photos that hold them.
        public var faces: Int
        public var photos: Int
        /// The results that hold its faces, in id order.
        public var photoIDs: [UUID]
        /// The face with the highest detection score (ties: the smaller record id).
        public var best: FaceRef
    }

    /// Everyone found, the most faces first (then by id).
    public var people: [Person]
    /// Faces taking part that are in no person.
    public var aloneFaces: Int

    /// The person whose id is `id`, or starts with it (at least 4 hex digits, one person only).
    public func person(_ id: String) -> Person? {
        let id = id.lowercased()
        guard id.count >= 4 else { return nil }
        let found = people.filter { $0.id.hasPrefix(id) }
        return found.count == 1 ? found[0] : nil
    }

    /// The people of `ledger`'s faces.
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public static func of(_ ledger: any Ledger, filter: PeopleFilter) throws -> FoundPeople {
        try of(StoredPeople.rebuilt(from: ledger, filter: filter), in: ledger)
    }

    /// The people of `stored`, described from `ledger`'s records and labels.
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public static func of(_ stored: StoredPeople, in ledger: any Ledger) throws -> FoundPeople {
        var people: [Person] = []
        var records: [UUID: (LedgerRecord, StoredLabels?)] = [:]
        func read(_ id: UUID) throws -> (LedgerRecord, StoredLabels?)? {
            if let known = records[id] { return known }
            guard let record = try ledger.record(id) else { return nil }
            let pair = (record, record.carriesMatches ? try ledger.labels(id) : nil)
            records[id] = pair
            return pair
        }
        for (person, keys) in stored.grouping.members() {
            var refs: [FaceRef] = []
            var names: [String: Int] = [:]
            var photos = Set<UUID>()
            for key in keys {
                var named = false
                for id in stored.records(holding: key) {
                    guard let (record, labels) = try read(id),
                        let index = stored.recordKeys[id]?.firstIndex(of: key), index < record.faces.count
                    else { continue }
                    photos.insert(id)
                    let face = record.faces[index]
                    refs.append(
                        FaceRef(
                            record: id, face: index, source: record.source.name, storePath: record.storePath,
                            location: face.location, score: face.score))
                    if !named, let labels, index < labels.faces.count, let first = labels.faces[index].first {
                        names[first.name, default: 0] += 1
                        named = true
                    }
                }
            }
            guard
                let best = refs.max(by: {
                    ($0.score ?? -.infinity, $1.record.uuidString) < ($1.score ?? -.infinity, $0.record.uuidString)
                })
            else { continue }
            let name = names.max { ($0.value, $1.key) < ($1.value, $0.key) }
            let majority = name.flatMap { $0.value * 2 > keys.count ? $0.key : nil }
            people.append(
                Person(
                    id: person.description, name: majority, faces: keys.count, photos: photos.count,
                    photoIDs: photos.sorted { $0.uuidString < $1.uuidString }, best: best))
        }
        people.sort { ($0.faces, $1.id) > ($1.faces, $0.id) }
        let inPeople = people.reduce(0) { $0 + $1.faces }
        return FoundPeople(people: people, aloneFaces: stored.grouping.count - inPeople)
    }

    /// The JSON array of `facewatch people --json`'s `found`.
    public var json: JSONValue {
        .array(
            people.map { person in
                .object([
                    ("id", .string(person.id)), ("name", person.name.map { .string($0) } ?? .null),
                    ("faces", .int(Int64(person.faces))), ("photos", .int(Int64(person.photos))),
                    (
                        "best_face",
                        .object([
                            ("result", .string(person.best.record.lowercased)),
                            ("face", .int(Int64(person.best.face))), ("source", .string(person.best.source)),
                            ("store_path", .string(person.best.storePath)),
                            ("score", person.best.score.map { .double($0) } ?? .null),
                        ])
                    ),
                ])
            })
    }

    /// The lines `facewatch people` prints after the known people.
    public var textLines: [String] {
        var lines = ["found \(people.count) people (\(aloneFaces) faces in none):"]
        for person in people {
            lines.append(
                "  \(person.id) \(person.name ?? "(unnamed)"): \(person.faces) faces in \(person.photos) photos, best face in \(person.best.source)"
            )
        }
        return lines
    }
}
