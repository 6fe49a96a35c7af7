import FaceCore
import Foundation

/// Everything the ledger knows about one image, keyed by its UUID.
///
/// A record is born `created` (``Ledger/insertCreated(_:)``), may see its `attempts` counted up
/// (``Ledger/beginAttempt(_:)``), and ends `completed` (``Ledger/complete(_:image:faces:completedAt:duration:)``)
/// or `failed` (``Ledger/fail(_:_:image:completedAt:duration:)``). Dates round-trip exactly.
public struct LedgerRecord: Sendable, Equatable {
    /// The image's UUID; also the store file's base name.
    public var id: UUID
    public var status: ResultStatus
    /// Where the file came from: its name relative to the inbox, its size and the lowercase hex SHA-256
    /// (64 digits) of its content.
    public var source: SourceInfo
    /// The stored original, relative to the facewatch root (e.g. `store/ab/<uuid>.jpg`).
    public var storePath: String
    /// What was decoded, when something was (completed records, and failures found after the header).
    public var image: ImageInfo?
    /// The faces found, in the engine's order; empty unless `completed`.
    public var faces: [Face]
    public var createdAt: Date
    /// When the record reached its final status.
    public var completedAt: Date?
    /// Seconds spent encoding (or failing), when final.
    public var duration: Double?
    /// Why the image failed; only for `failed`.
    public var error: Failure?
    /// How many times encoding was started. The daemon commits an increment *before* it encodes, so a
    /// file that kills the process keeps its count across restarts (poison-pill detection).
    public var attempts: Int

    public init(
        id: UUID, status: ResultStatus = .created, source: SourceInfo, storePath: String, createdAt: Date,
        image: ImageInfo? = nil, faces: [Face] = [], completedAt: Date? = nil, duration: Double? = nil,
        error: Failure? = nil, attempts: Int = 0
    ) {
        self.id = id
        self.status = status
        self.source = source
        self.storePath = storePath
        self.image = image
        self.faces = faces
        self.createdAt = createdAt
        self.completedAt = completedAt
        self.duration = duration
        self.error = error
        self.attempts = attempts
    }

    /// The per-image JSON document (`results/<uuid>.json`, docs/result-format.md), with the id in lowercase.
    public func resultDocument() -> ResultDocument {
        ResultDocument(
            id: id.uuidString.lowercased(), status: status, source: source, image: image, faces: faces,
            createdAt: createdAt, completedAt: completedAt, error: error)
    }
}
