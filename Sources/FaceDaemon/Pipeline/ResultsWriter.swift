import FaceCore
import FaceLedger
import FaceRoot
import Foundation

/// Writes `results/<uuid>.json`: the per-image document (docs/result-format.md), a view of the ledger record.
///
/// Each file is replaced atomically (temporary file, `fsync`, rename, directory `fsync`): a reader sees
/// a whole document or none. The ledger stays the truth; a document lost in a crash is rewritten at the
/// next start (`Reconciler`).
public struct ResultsWriter: Sendable {
    /// The results directory.
    public let directory: String
    /// Pretty (indented) or compact documents.
    public let format: DaemonConfiguration.ResultFormat

    /// Names the known people in documents of completed records with faces (`faces[].matches`);
    /// nil: documents without matches.
    public let labeller: ResultLabeller?

    /// The ledger asked after each write whether the image was forgotten meanwhile (nil: not asked).
    public let tombstones: (any Ledger)?

    /// Puts each face of a completed record in its person (`faces[].person`); nil: documents without people.
    public let people: PeopleTracker?

    public init(
        directory: String, format: DaemonConfiguration.ResultFormat = .pretty, labeller: ResultLabeller? = nil,
        tombstones: (any Ledger)? = nil, people: PeopleTracker? = nil
    ) {
        self.directory = directory
        self.format = format
        self.labeller = labeller
        self.tombstones = tombstones
        self.people = people
    }

    /// The document file of an image.
    public static func path(for id: UUID, in directory: String) -> String {
        ResultFiles.path(for: id, in: directory)
    }

    /// The document file of an image in this writer's directory.
    public func path(for id: UUID) -> String { Self.path(for: id, in: directory) }

    /// The text written for a record (with a final newline).
    public func text(for record: LedgerRecord) -> String {
        text(for: record.resultDocument())
    }

    /// The text written for a document (with a final newline).
    public func text(for document: ResultDocument) -> String {
        let json = document.json
        return (format == .pretty ? json.pretty() : json.serialized()) + "\n"
    }

    /// Writes the record's document, replacing an older one; with a labeller, a completed record's
    /// faces name the known people they resemble; with people, each face's person, after the
    /// record's faces joined the grouping (under the labeller's lock of the result).
    public func write(_ record: LedgerRecord) throws(FileSystemError) {
        defer { settle(record) }
        if let labeller, ResultLabeller.applies(to: record) {
            let path = path(for: record.id)
            try labeller.write(record) { document throws(FileSystemError) in
                try DurableFile.writeAtomically(text(for: withPeople(document, record)), to: path)
            }
            return
        }
        try DurableFile.writeAtomically(
            text(for: withPeople(record.resultDocument(), record)), to: path(for: record.id))
    }

    /// `document` with each face's person, the record brought into the grouping first. Every
    /// writer of a completed record's document calls it under the labeller's lock of that result.
    func withPeople(_ document: ResultDocument, _ record: LedgerRecord) -> ResultDocument {
        guard let people, let slots = people.observe(record), slots.count == document.faces.count else {
            return document
        }
        var document = document
        for index in document.faces.indices { document.faces[index].person = slots[index] }
        return document
    }

    /// A forget commits its tombstone, then removes the document; this writer writes, then looks for
    /// a tombstone. Whichever order the two take, a document written from a record read before the
    /// forget does not outlive it: either this check sees the tombstone, or the write came before
    /// the commit and the forget's removal comes after both.
    private func removeIfForgotten(_ id: UUID) {
        guard let tombstones, (try? tombstones.tombstone(id)) != nil else { return }
        unlink(path(for: id))
    }

    /// Whether the record's document names known people (`faces[].matches`), which change without
    /// the record changing: its file's age says nothing about whether they are current.
    public func carriesLabels(_ record: LedgerRecord) -> Bool {
        (labeller != nil || people != nil) && ResultLabeller.applies(to: record)
    }

    /// After a write: the image forgotten meanwhile loses its document (`removeIfForgotten`); a
    /// result that lost faces meanwhile (a faces-only forget) gets its document written again from
    /// the record as it stands, by the same reasoning: either this read sees the forget's commit, or
    /// the forget's own rewrite comes after this write.
    private func settle(_ record: LedgerRecord) {
        removeIfForgotten(record.id)
        guard let tombstones, record.status == .completed, !record.faces.isEmpty,
            let current = try? tombstones.record(record.id), current.faces.count != record.faces.count
        else { return }
        try? write(current)
    }

    /// Whether the file on disk is the document of `record` as it stands: present, parseable, with the
    /// same id, status, completion time and faces, and, where it names known people, the people the
    /// ledger's labels of the record name. A missing, partial or outdated file is not current.
    public func isCurrent(_ record: LedgerRecord) -> Bool {
        guard let data = FileManager.default.contents(atPath: path(for: record.id)),
            let document = try? JSONDecoder().decode(ResultDocument.self, from: data)
        else { return false }
        let sameCompletion: Bool =
            switch (document.completedAt, record.completedAt) {
            case (nil, nil): true
            case (let a?, let b?): abs(a.timeIntervalSince(b)) < 0.001
            default: false
            }
        return document.id == record.id.uuidString.lowercased() && document.status == record.status
            && sameCompletion && document.faces.count == record.faces.count && hasCurrentMatches(document, record)
            && hasCurrentPeople(document, record)
    }

    /// Whether each face of `document` is in the person the grouping gives it (none, where the
    /// record holds no face in people).
    private func hasCurrentPeople(_ document: ResultDocument, _ record: LedgerRecord) -> Bool {
        guard let people else { return true }
        let expected: [PersonSlot?] = people.slots(of: record.id) ?? []
        let written = document.faces.map(\.person)
        return expected.isEmpty ? written.allSatisfy { $0 == nil } : expected == written
    }

    /// Whether each face of `document` names the people (and distances) of the record's stored labels.
    /// A ledger that cannot be read leaves the document as it is.
    private func hasCurrentMatches(_ document: ResultDocument, _ record: LedgerRecord) -> Bool {
        guard let labeller, carriesLabels(record) else { return true }
        let labels: StoredLabels?
        do {
            labels = try labeller.ledger.labels(record.id)
        } catch {
            return true
        }
        let expected = ResultLabeller.document(record, labels).faces.map { $0.matches ?? [] }
        let found = document.faces.map { $0.matches ?? [] }
        guard expected.count == found.count else { return false }
        for (wanted, written) in zip(expected, found) {
            guard wanted.count == written.count else { return false }
            for (a, b) in zip(wanted, written) where !Self.sameMatch(a, b) { return false }
        }
        return true
    }

    /// The same person at the same distance (the distance went through JSON text: equal to its last digits).
    private static func sameMatch(_ a: PersonMatch, _ b: PersonMatch) -> Bool {
        let tolerance: Double = 1e-12 * max(1, abs(a.distance))
        return a.name == b.name && abs(a.distance - b.distance) <= tolerance
    }

    /// Reads a document written by the daemon, or nil if there is none (or it cannot be parsed).
    public static func read(id: UUID, in directory: String) -> ResultDocument? {
        ResultFiles.read(id: id, in: directory)
    }
}
