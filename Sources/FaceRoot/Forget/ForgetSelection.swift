import FaceCore
import FaceLedger
import Foundation

/// Which images a forget names: ids, inbox names matching a glob, images created before a time, or
/// images with a face labelled as a known person or in a person found among the faces. The criteria add up (an image named by any of
/// them is selected); the selection reads the ledger and changes nothing.
public struct ForgetSelection: Sendable, Equatable {
    public var ids: [UUID] = []
    /// Shell globs (`fnmatch(3)` without flags: `*` and `?` also match `/`) over inbox names.
    public var nameGlobs: [String] = []
    /// Images created strictly before this time.
    public var before: Date?
    /// Known people's names: images with a face whose matches include one of them; and found
    /// people's ids (16 hex digits, as `facewatch people` lists them): images with a face in one.
    public var people: [String] = []
    /// How faces are grouped into people (the root's `cluster_*` settings), for people's ids; nil:
    /// `people` are names only.
    public var peopleFilter: PeopleFilter?

    public init(
        ids: [UUID] = [], nameGlobs: [String] = [], before: Date? = nil, people: [String] = [],
        peopleFilter: PeopleFilter? = nil
    ) {
        self.ids = ids
        self.nameGlobs = nameGlobs
        self.before = before
        self.people = people
        self.peopleFilter = peopleFilter
    }

    /// Whether `text` has the form of a found person's id: 16 lowercase hex digits.
    public static func isPersonID(_ text: String) -> Bool {
        text.utf8.count == 16 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    public var isEmpty: Bool { ids.isEmpty && nameGlobs.isEmpty && before == nil && people.isEmpty }

    /// The ids selected, in the order given and then oldest first, each once. Ids given explicitly
    /// are kept even when the ledger does not know them (the forget reports them unknown).
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func resolve(in ledger: any Ledger) throws -> [UUID] {
        var selected = ids
        var seen = Set(ids)
        func add(_ id: UUID) { if seen.insert(id).inserted { selected.append(id) } }
        if let before {
            try ledger.forEachRecord(createdFrom: nil, to: before) { add($0.id) }
        }
        if !nameGlobs.isEmpty || !people.isEmpty {
            let wanted = Set(people)
            let inFoundPeople = try recordsOfFoundPeople(in: ledger)
            try ledger.forEachRecord { record in
                if nameGlobs.contains(where: { fnmatch($0, record.source.name, 0) == 0 })
                    || inFoundPeople.contains(record.id)
                {
                    add(record.id)
                    return
                }
                guard !wanted.isEmpty, record.status == .completed, !record.faces.isEmpty,
                    let labels = try ledger.labels(record.id)
                else { return }
                if labels.faces.contains(where: { face in face.contains { wanted.contains($0.name) } }) {
                    add(record.id)
                }
            }
        }
        return selected
    }

    /// The records holding a face of a found person `people` names by id (the ledger's faces
    /// grouped with `peopleFilter`).
    private func recordsOfFoundPeople(in ledger: any Ledger) throws -> Set<UUID> {
        let ids = Set(people.filter(Self.isPersonID))
        guard !ids.isEmpty, let peopleFilter else { return [] }
        let stored = try StoredPeople.rebuilt(from: ledger, filter: peopleFilter)
        var records = Set<UUID>()
        for (person, keys) in stored.grouping.members() where ids.contains(person.description) {
            for key in keys { records.formUnion(stored.records(holding: key)) }
        }
        return records
    }

    /// The audit's words for this selection, e.g. `--name 'party/*' --before 2026-01-01T00:00:00Z`.
    public var summary: String {
        var parts: [String] = []
        if !ids.isEmpty { parts.append(ids.count == 1 ? "id" : "\(ids.count) ids") }
        for glob in nameGlobs { parts.append("--name \(glob)") }
        if let before { parts.append("--before \(Timestamp.format(before))") }
        for person in people { parts.append("--person \(person)") }
        return parts.joined(separator: " ")
    }
}
