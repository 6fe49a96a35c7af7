import FaceCore
import FaceLedger
import Foundation

/// Which images a forget names: ids, inbox names matching a glob, images created before a time, or
/// images with a face labelled as a known person. The criteria add up (an image named by any of
/// them is selected); the selection reads the ledger and changes nothing.
public struct ForgetSelection: Sendable, Equatable {
    public var ids: [UUID] = []
    /// Shell globs (`fnmatch(3)` without flags: `*` and `?` also match `/`) over inbox names.
    public var nameGlobs: [String] = []
    /// Images created strictly before this time.
    public var before: Date?
    /// Known people's names: images with a face whose matches include one of them.
    public var people: [String] = []

    public init(ids: [UUID] = [], nameGlobs: [String] = [], before: Date? = nil, people: [String] = []) {
        self.ids = ids
        self.nameGlobs = nameGlobs
        self.before = before
        self.people = people
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
            try ledger.forEachRecord { record in
                if nameGlobs.contains(where: { fnmatch($0, record.source.name, 0) == 0 }) {
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
