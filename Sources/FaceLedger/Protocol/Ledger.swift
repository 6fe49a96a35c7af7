import FaceCore
import Foundation

/// The durable ledger of facewatch: a record per image, the indices and counters derived from them,
/// crash attribution, intake intents, known people and the daemon's published figures.
///
/// This is the seam between the daemon and where the ledger lives. Two backends implement it with
/// the same semantics: `LMDBLedger` (one host, the default: an LMDB environment in `ROOT/db/`) and
/// the PostgreSQL ledger (several hosts sharing one queue). Every state transition is exactly one
/// committed transaction: when a transition method returns, the change is durable together with
/// every index and counter it affects; when it throws, nothing changed. The lifecycle:
///
/// ```
/// insertCreated ──▶ created ──beginAttempt (attempts+1)──▶ created ──complete──▶ completed
///                                                                   └──fail─────▶ failed
/// ```
///
/// Concurrency: a ledger may be used from any number of threads and tasks. Every method is
/// synchronous and short (a caller on an async task uses it as it uses a file read); none holds a
/// transaction while running caller code, except `forEachRecord`/`forEachID`, which call their body
/// between batches of a read.
public protocol Ledger: AnyObject, Sendable {
    /// True if this ledger refuses writes.
    var isReadOnly: Bool { get }
    /// Where the ledger lives, for messages: a directory, or a URL without its password.
    var location: String { get }
    /// True when several daemons (hosts) share this ledger and its queue: records another daemon
    /// ingests appear in the queue without this one being told, and store files may belong to
    /// another daemon's batch in flight.
    var isShared: Bool { get }

    // MARK: Transitions (each one transaction)

    /// Adds new `created` records, all or none.
    /// - Throws: `.alreadyExists` if any id is already in the ledger (or twice in the batch);
    ///   `.invalidArgument` if a record is not a fresh `created` record.
    func insertCreated(_ records: [LedgerRecord]) throws(LedgerError)

    /// Counts one more encoding attempt of a `created` record and leaves its marker (the run that
    /// made it, and whether the file runs alone); returns the new attempt count. On a shared ledger
    /// this is also the claim: a record another live run is encoding is refused.
    /// - Throws: `.notFound` for an unknown id; `.invalidTransition` if the record is not `created`
    ///   or another live run holds it.
    @discardableResult
    func beginAttempt(_ id: UUID, incarnation: UInt64, solo: Bool) throws(LedgerError) -> Int

    /// The claim of a `created` record whose file's bytes hash to `sha256`, unless (with `dedup`)
    /// a completed record with those bytes lends its image and faces: then nothing is claimed.
    /// `completedRecord(sha256:)` then `beginAttempt` (`claimInSteps`), which a ledger may do in
    /// one round trip.
    /// - Throws: see `beginAttempt(_:incarnation:solo:)`.
    func claimUnlessDuplicate(_ id: UUID, sha256: String, dedup: Bool, incarnation: UInt64, solo: Bool)
        throws(LedgerError) -> ClaimOutcome

    /// Makes a `created` record `completed` with its image and faces; counters, the encoding sum and
    /// the SHA-256 index change in the same transaction. Returns the stored record.
    /// - Throws: `.notFound`; `.invalidTransition` if the record is not `created`.
    func complete(
        _ id: UUID, image: ImageInfo, faces: [Face], completedAt: Date, duration: Double, source: SourceInfo?
    ) throws(LedgerError) -> LedgerRecord

    /// Makes a `created` record `failed` with `failure`. Returns the stored record.
    /// - Throws: `.notFound`; `.invalidTransition` if the record is not `created`.
    func fail(
        _ id: UUID, _ failure: Failure, image: ImageInfo?, completedAt: Date, duration: Double, source: SourceInfo?
    ) throws(LedgerError) -> LedgerRecord

    /// Adds records as they are (`ledger import`, a rebuild from result documents), all or none:
    /// `created` ones join the queue with their attempt count; final ones count in the counters, the
    /// encoding sum and the tallies, as if made final here.
    /// - Throws: `.alreadyExists`; `.invalidArgument` for a final record without a completion date
    ///   or a `created` one with one.
    func importRecords(_ records: [LedgerRecord]) throws(LedgerError)

    /// Forgets record `id` in one transaction, as if the image had never come: the record, its
    /// faces and encodings, its labels, its place in the dedup index and the queue, its crash
    /// attribution go; the counters, the encoding sum, the final tallies and the counts per person
    /// lose exactly what it had added; a `Tombstone` (no biometric data) takes its place with its files
    /// marked pending. Forgetting a forgotten id returns its tombstone unchanged.
    /// - Throws: `.notFound` when the ledger has neither a record nor a tombstone `id`.
    @discardableResult
    func forget(_ id: UUID, reason: String, at: Date) throws(LedgerError) -> Tombstone

    /// The tombstone of a forgotten image, or nil.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func tombstone(_ id: UUID) throws(LedgerError) -> Tombstone?

    /// Up to `limit` tombstones whose files may still remain (`filesPending`), in id order.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func tombstonesWithFiles(limit: Int) throws(LedgerError) -> [Tombstone]

    /// Records that the files of these tombstones are gone.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func forgottenFilesRemoved(_ ids: [UUID]) throws(LedgerError)

    /// Forgets the faces of completed record `id` that its stored labels name as `person`, in one
    /// transaction, as if they had never been found: they leave the record (the other faces stay, in
    /// their order), its labels and the counts per person; the counters lose their number and their
    /// encodings (the running sum). The record is marked as having a document to rewrite
    /// (`documentsToRewrite`). Returns how many faces went (0: none is labelled so, or the record is
    /// not completed or not labelled yet; nothing changed).
    /// - Throws: `.notFound` when the ledger has no record `id`.
    @discardableResult
    func forgetFaces(_ id: UUID, of person: String) throws(LedgerError) -> Int

    /// Up to `limit` results whose document must be rewritten after `forgetFaces`, in id order.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func documentsToRewrite(limit: Int) throws(LedgerError) -> [UUID]

    /// Records that these results' documents were rewritten from their records.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func documentsRewritten(_ ids: [UUID]) throws(LedgerError)

    /// How many forgets (whole images or faces) the ledger has committed, and how many of them a
    /// compaction has since rewritten out of its files (`markCompacted`): the daemon compacts when
    /// the first is ahead (`compact_every`).
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func forgetGenerations() throws(LedgerError) -> (forgotten: UInt64, compacted: UInt64)

    /// Records that a compaction began after `generation` forgets (never moves back).
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func markCompacted(through generation: UInt64) throws(LedgerError)

    /// Up to `limit` tombstones after `after` (from the first when nil), in id order: what
    /// `ledger export|import` copies.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func tombstones(after: UUID?, limit: Int) throws(LedgerError) -> [Tombstone]

    /// Adds tombstones as they are (`ledger import`), all or none, in one transaction; one the ledger
    /// has already (the same id) is left as it is, so a copy cut short can be run again.
    /// - Throws: `.alreadyExists` when the ledger has a record with a tombstone's id.
    func importTombstones(_ tombstones: [Tombstone]) throws(LedgerError)

    // MARK: Queries

    /// Whether the ledger has a record `id`.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func contains(_ id: UUID) throws(LedgerError) -> Bool
    /// The record `id`, or nil.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func record(_ id: UUID) throws(LedgerError) -> LedgerRecord?
    /// The completed record with these bytes (dedup), or nil.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func completedRecord(sha256: String) throws(LedgerError) -> LedgerRecord?
    /// Up to `limit` `created` records, oldest first (after `after` when given).
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func queued(limit: Int, after: UUID?) throws(LedgerError) -> [UUID]
    /// `queued(limit:)` with each record as that same read found it (nil: not read with it), for a
    /// ledger that reads them in one round trip. A record may have changed by the time it is used:
    /// its claim (`beginAttempt`, `claimUnlessDuplicate`) checks it again.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func queuedRecords(limit: Int) throws(LedgerError) -> [QueuedRecord]
    /// The counters and the encoding sum.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func stats() throws(LedgerError) -> LedgerStats
    /// Calls `body` with each record created in `[from, to)` (either end open when nil), oldest first.
    /// - Throws: what `body` throws, or `LedgerError`.
    func forEachRecord(createdFrom from: Date?, to: Date?, _ body: (LedgerRecord) throws -> Void) throws
    /// Calls `body` with every record's id (in no particular order).
    /// - Throws: what `body` throws, or `LedgerError`.
    func forEachID(_ body: (UUID) throws -> Void) throws
    /// The mean encoding of the faces of images created in `[from, to)`; the counters' sum when both are nil.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func average(from: Date?, to: Date?) throws(LedgerError) -> LedgerAverage
    /// Failures by code and engine-time buckets of the final records.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func finalTallies() throws(LedgerError) -> FinalTallies

    // MARK: Copies

    /// The ledger this one is an unfinished copy of (`facewatch ledger export|import` marks its
    /// target before the first record and clears the mark once the copy is checked), or nil. A
    /// daemon does not start on a marked ledger.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func unfinishedCopy() throws(LedgerError) -> String?
    /// Marks this ledger as an unfinished copy of `source` (shown without a password), or clears
    /// the mark (nil).
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func markUnfinishedCopy(of source: String?) throws(LedgerError)

    // MARK: Runs and crash attribution

    /// Starts a new run of a daemon: settles the attempts a dead run left (charges or suspects) and
    /// records this one as running.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func beginRun(previousDiedOfFault: Bool) throws(LedgerError) -> RunStart
    /// Ends run `incarnation` gracefully (`documentsComplete`: every result document was written).
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func endRun(_ incarnation: UInt64, documentsComplete: Bool) throws(LedgerError)
    /// Tells the ledger run `incarnation` is alive. A shared ledger's other daemons take over the
    /// attempts of a run that has not said so for its lease; a one-host ledger has nothing to do.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func renewLease(_ incarnation: UInt64) throws(LedgerError)
    /// Takes back the attempt marker of a record that waits (a transient error): it is no attempt.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func withdrawAttempt(_ id: UUID) throws(LedgerError)
    /// Deaths charged to a record so far.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func deaths(_ id: UUID) throws(LedgerError) -> Deaths
    /// Records that must run alone, oldest first; at most `limit`.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func suspects(limit: Int) throws(LedgerError) -> [UUID]
    /// Whether this process may write the root's `stats.json` and `metrics.prom` now: on a shared
    /// ledger one daemon at a time holds that role (it returns false on the others, and true again
    /// once the holder is gone); on a one-host ledger always true.
    /// - Throws: `LedgerError` when the ledger cannot be reached.
    func holdsPublisherRole() throws(LedgerError) -> Bool
    /// Releases what dead processes left behind in the backend (LMDB's stale reader slots); returns
    /// how many.
    /// - Throws: `LedgerError` when the backend refuses.
    func clearStaleReaders() throws(LedgerError) -> Int

    // MARK: Intake

    /// Commits a batch's intents before its files are renamed into the store, except each whose id
    /// is in `ids` and already names a record (an id a file's name asked for and a record has):
    /// those are not recorded, and are returned. One commit, the lookup in it.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func recordIntents(_ intents: [IntakeIntent], refusingRecorded ids: Set<UUID>) throws(LedgerError) -> Set<UUID>
    /// The intents not yet turned into records.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func intents() throws(LedgerError) -> [UUID: IntakeIntent]
    /// Drops intents that were settled another way.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func dropIntents(_ ids: [UUID]) throws(LedgerError)
    /// Publishes the inbox files the daemon cannot take (replacing the previous list).
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func publishRefusals(_ refusals: [InboxRefusal]) throws(LedgerError)
    /// The inbox files last published as not taken.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func refusals() throws(LedgerError) -> [InboxRefusal]

    // MARK: Daemon figures

    /// Publishes the running daemon's live figures (for `status` and `stats`).
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func publish(_ figures: DaemonFigures) throws(LedgerError)
    /// The figures last published, or nil.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func daemonFigures() throws(LedgerError) -> DaemonFigures?

    // MARK: Known people

    /// Every known picture, by path.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func knownPictures() throws(LedgerError) -> [KnownPicture]
    /// The people state (generation, tolerance, relabel cursor).
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func peopleState(defaultTolerance: Double) throws(LedgerError) -> PeopleState
    /// The stored labels of result `id`, or nil.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func labels(_ id: UUID) throws(LedgerError) -> StoredLabels?
    /// Faces and results per person.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func personCounts() throws(LedgerError) -> [String: PersonCount]
    /// Up to `limit` records after `cursor` in id order, and whether the end was reached.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func records(after cursor: UUID?, limit: Int) throws(LedgerError) -> (records: [LedgerRecord], finished: Bool)
    /// Changes the known pictures and tolerance; a change starts a new generation. Returns the new state.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func updateKnownPictures(upserting: [KnownPicture], removing: [String], tolerance: Double) throws(LedgerError)
        -> PeopleState
    /// Stores labels, with the relabel cursor when `progress` is given, in one transaction.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    func storeLabels(_ entries: [(UUID, StoredLabels)], progress: RelabelProgress?) throws(LedgerError)
    /// Entries in the face log (results with faces, each once, in the order first labelled).
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func faceLogCount() throws(LedgerError) -> UInt64
    /// Up to `limit` face-log entries from `position`.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    func faceLog(from position: UInt64, limit: Int) throws(LedgerError) -> [UUID]
}

/// A record of the queue (`queuedRecords`): its id, and the record when the queue's read had it.
public struct QueuedRecord: Sendable {
    public var id: UUID
    public var record: LedgerRecord?

    public init(id: UUID, record: LedgerRecord?) {
        self.id = id
        self.record = record
    }
}

/// What `claimUnlessDuplicate` did.
public enum ClaimOutcome: Sendable, Equatable {
    /// Claimed: the record's attempt count after the claim.
    case claimed(attempt: Int)
    /// Not claimed: a completed record with the same bytes lends its image and faces.
    case duplicate(image: ImageInfo, faces: [Face])
}

extension Ledger {
    /// Commits a batch's intents before its files are renamed into the store (none refused).
    /// - Throws: `LedgerError` when the ledger cannot be written.
    public func recordIntents(_ intents: [IntakeIntent]) throws(LedgerError) {
        _ = try recordIntents(intents, refusingRecorded: [])
    }

    public func queuedRecords(limit: Int) throws(LedgerError) -> [QueuedRecord] {
        try queued(limit: limit, after: nil).map { QueuedRecord(id: $0, record: nil) }
    }

    public func claimUnlessDuplicate(_ id: UUID, sha256: String, dedup: Bool, incarnation: UInt64, solo: Bool)
        throws(LedgerError) -> ClaimOutcome
    {
        try claimInSteps(id, sha256: sha256, dedup: dedup, incarnation: incarnation, solo: solo)
    }

    /// `claimUnlessDuplicate` as two steps: the dedup lookup, then the claim.
    /// - Throws: see `beginAttempt(_:incarnation:solo:)`.
    public func claimInSteps(_ id: UUID, sha256: String, dedup: Bool, incarnation: UInt64, solo: Bool)
        throws(LedgerError) -> ClaimOutcome
    {
        if dedup, let twin = try completedRecord(sha256: sha256), twin.id != id, let image = twin.image {
            return .duplicate(image: image, faces: twin.faces)
        }
        return .claimed(attempt: try beginAttempt(id, incarnation: incarnation, solo: solo))
    }

    /// Adds one new `created` record; see `insertCreated(_:)` for a batch.
    /// - Throws: `.alreadyExists` if the id exists.
    public func insertCreated(_ record: LedgerRecord) throws(LedgerError) {
        try insertCreated([record])
    }

    /// `beginAttempt` outside crash attribution (run 0, not alone).
    /// - Throws: see `beginAttempt(_:incarnation:solo:)`.
    @discardableResult
    public func beginAttempt(_ id: UUID) throws(LedgerError) -> Int {
        try beginAttempt(id, incarnation: 0, solo: false)
    }

    /// `complete` without a changed source.
    /// - Throws: see `complete(_:image:faces:completedAt:duration:source:)`.
    @discardableResult
    public func complete(_ id: UUID, image: ImageInfo, faces: [Face], completedAt: Date, duration: Double)
        throws(LedgerError) -> LedgerRecord
    {
        try complete(id, image: image, faces: faces, completedAt: completedAt, duration: duration, source: nil)
    }

    /// `fail` without an image or a changed source.
    /// - Throws: see `fail(_:_:image:completedAt:duration:source:)`.
    @discardableResult
    public func fail(_ id: UUID, _ failure: Failure, image: ImageInfo? = nil, completedAt: Date, duration: Double)
        throws(LedgerError) -> LedgerRecord
    {
        try fail(id, failure, image: image, completedAt: completedAt, duration: duration, source: nil)
    }

    /// The oldest `created` records.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func queued(limit: Int) throws(LedgerError) -> [UUID] {
        try queued(limit: limit, after: nil)
    }

    /// Every record, oldest first.
    /// - Throws: what `body` throws, or `LedgerError`.
    public func forEachRecord(_ body: (LedgerRecord) throws -> Void) throws {
        try forEachRecord(createdFrom: nil, to: nil, body)
    }

    /// The mean encoding of every face.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func average() throws(LedgerError) -> LedgerAverage {
        try average(from: nil, to: nil)
    }

    /// Ends run `incarnation` without claiming the documents are complete.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    public func endRun(_ incarnation: UInt64) throws(LedgerError) {
        try endRun(incarnation, documentsComplete: false)
    }

    /// The people state, with 0.6 as the tolerance of a ledger that has none.
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public func peopleState() throws(LedgerError) -> PeopleState {
        try peopleState(defaultTolerance: 0.6)
    }

    /// Stores labels without relabel progress.
    /// - Throws: `LedgerError` when the ledger cannot be written.
    public func storeLabels(_ entries: [(UUID, StoredLabels)]) throws(LedgerError) {
        try storeLabels(entries, progress: nil)
    }
}
