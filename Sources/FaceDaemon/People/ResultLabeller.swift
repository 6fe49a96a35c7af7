import FaceCore
import FaceLedger
import FaceMatch
import FaceRoot
import Foundation
import Synchronization

/// Names the people in results: computes the `matches` of each face of a record from the known
/// pictures and tolerance in the ledger, and serialises the writes of one result's document, so that
/// the document written last is always labelled with the newest known people.
///
/// Why the lock: the pipeline (a new result), the start-up repair and the relabel (known people
/// changed) may write the same `results/<uuid>.json`. Each writer reads the generation of known
/// people inside the lock of that id; generations only grow, and a relabel to generation g starts
/// after g is committed, so whichever writer takes the lock last writes the newest labels.
public final class ResultLabeller: Sendable {
    let ledger: any Ledger
    private let defaultTolerance: Double
    /// The known people of the newest generation read, so matching does not read the pictures again.
    private let cache = Mutex<(generation: UInt64, people: KnownPeople)?>(nil)
    /// Locks by id (64 stripes): documents of different results rarely wait for each other.
    private let stripes: [NSLock] = (0..<64).map { _ in NSLock() }

    public init(ledger: any Ledger, defaultTolerance: Double) {
        self.ledger = ledger
        self.defaultTolerance = defaultTolerance
    }

    /// The state of known people and the people of its generation.
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func current() throws(LedgerError) -> (state: PeopleState, people: KnownPeople) {
        let state = try ledger.peopleState(defaultTolerance: defaultTolerance)
        if let cached = cache.withLock({ $0 }), cached.generation == state.generation {
            return (state, cached.people)
        }
        let faces = try ledger.knownPictures().compactMap { picture in
            picture.encoding.map { KnownFace(person: picture.person, encoding: $0) }
        }
        let people = KnownPeople(faces: faces, tolerance: state.tolerance)
        cache.withLock { cached in
            if (cached?.generation ?? 0) <= state.generation || cached == nil { cached = (state.generation, people) }
        }
        return (state, people)
    }

    /// Runs `body` holding the lock of result `id`.
    func withLock<T>(_ id: UUID, _ body: () throws -> T) rethrows -> T {
        let lock = stripes[Int(id.uuid.15 & 63)]
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Whether the record's document carries `matches` (a completed record with faces).
    public static func applies(to record: LedgerRecord) -> Bool { record.carriesMatches }

    /// The document of `record` with each face's matches from `labels`.
    public static func document(_ record: LedgerRecord, _ labels: StoredLabels?) -> ResultDocument {
        record.labelledDocument(labels)
    }

    /// The labels of `record`'s faces from the newest known people this process has read, without
    /// reading the ledger; nil before the first read.
    private func cachedLabels(_ record: LedgerRecord) -> StoredLabels? {
        cache.withLock { $0 }.map {
            StoredLabels(generation: $0.generation, faces: $0.people.matches(for: record.faces))
        }
    }

    /// The labels of `record`'s faces from the ledger's known people now; nil when it cannot be read.
    private func currentLabels(_ record: LedgerRecord) -> StoredLabels? {
        guard let (state, people) = try? current() else { return nil }
        return StoredLabels(generation: state.generation, faces: people.matches(for: record.faces))
    }

    /// Writes the document of `record` with the current labels, then stores them; the writer for
    /// records that carry matches. Storing is best effort: the labels are derived, and a later
    /// relabel or write stores them again.
    ///
    /// The document is written first with the newest generation this process has read (no ledger
    /// read before it), then, still under the lock, the ledger's generation is read; a newer one
    /// writes the document again. The last write under the lock is thus labelled with a generation
    /// at least as new as any committed before its read, and a relabel to a later generation starts
    /// after that read and takes the lock after this writer.
    func write(_ record: LedgerRecord, with write: (ResultDocument) throws(FileSystemError) -> Void)
        throws(FileSystemError)
    {
        let outcome: Result<Void, FileSystemError> = withLock(record.id) {
            do throws(FileSystemError) {
                var labels = cachedLabels(record) ?? currentLabels(record)
                try write(Self.document(record, labels))
                // Matched again only when the generation moved on.
                if let (state, people) = try? current(), state.generation != labels?.generation {
                    let newer = StoredLabels(generation: state.generation, faces: people.matches(for: record.faces))
                    labels = newer
                    try write(Self.document(record, newer))
                }
                if let labels { try? ledger.storeLabels([(record.id, labels)]) }
            } catch {
                return .failure(error)
            }
            return .success(())
        }
        try outcome.get()
    }
}
