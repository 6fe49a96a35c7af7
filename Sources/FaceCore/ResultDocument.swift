import Foundation

/// The life of one image: `created` until encoded, then `completed` (zero faces included) or `failed`.
public enum ResultStatus: String, Codable, Sendable, CaseIterable {
    case created
    case completed
    case failed
}

/// Where an image came from.
public struct SourceInfo: Codable, Sendable, Equatable {
    /// The name relative to the inbox (or the path given to `encode`).
    public var name: String
    public var bytes: Int64
    /// Lowercase hex SHA-256 of the content, or empty (``unknownSHA256``) while the bytes have not
    /// been read: a record is created from the file's size alone, and its digest is that of the
    /// bytes its encoder read (JSON `null` until then, and for files never read).
    public var sha256: String

    /// The digest of a file whose bytes were never read (too large, not a regular file, unreadable).
    /// Nothing matches it: deduplication looks up known digests only.
    public static let unknownSHA256 = ""

    public init(name: String, bytes: Int64, sha256: String) {
        self.name = name
        self.bytes = bytes
        self.sha256 = sha256
    }

    private enum CodingKeys: String, CodingKey { case name, bytes, sha256 }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        bytes = try c.decode(Int64.self, forKey: .bytes)
        sha256 = try c.decodeIfPresent(String.self, forKey: .sha256) ?? Self.unknownSHA256
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(sha256.isEmpty ? nil : sha256, forKey: .sha256)
    }
}

/// The per-image JSON object (docs/result-format.md): `results/<uuid>.json`, `facewatch result`, and one line of
/// `facewatch encode` (which sets `file` instead of `id`). Keys are written in the documented order and
/// `error` is always present (`null` on success).
public struct ResultDocument: Codable, Sendable, Equatable {
    public var id: String?
    public var file: String?
    public var status: ResultStatus
    public var source: SourceInfo?
    public var image: ImageInfo?
    public var faces: [Face]
    public var createdAt: Date?
    public var completedAt: Date?
    public var error: Failure?

    public init(
        id: String? = nil, file: String? = nil, status: ResultStatus, source: SourceInfo? = nil,
        image: ImageInfo? = nil, faces: [Face] = [], createdAt: Date? = nil, completedAt: Date? = nil,
        error: Failure? = nil
    ) {
        self.id = id
        self.file = file
        self.status = status
        self.source = source
        self.image = image
        self.faces = faces
        self.createdAt = createdAt
        self.completedAt = completedAt
        self.error = error
    }

    /// The first face's encoding, or empty: the HTTP design's `face_encoding` field.
    public var faceEncoding: [Float] { faces.first?.encoding ?? [] }

    enum CodingKeys: String, CodingKey {
        case id, file, status, source, image, faces
        case faceEncoding = "face_encoding"
        case createdAt = "created_at"
        case completedAt = "completed_at"
        case error
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(String.self, forKey: .id)
        file = try c.decodeIfPresent(String.self, forKey: .file)
        status = try c.decode(ResultStatus.self, forKey: .status)
        source = try c.decodeIfPresent(SourceInfo.self, forKey: .source)
        image = try c.decodeIfPresent(ImageInfo.self, forKey: .image)
        faces = try c.decodeIfPresent([Face].self, forKey: .faces) ?? []
        createdAt = try c.decodeIfPresent(String.self, forKey: .createdAt).flatMap(Timestamp.parse)
        completedAt = try c.decodeIfPresent(String.self, forKey: .completedAt).flatMap(Timestamp.parse)
        error = try c.decodeIfPresent(Failure.self, forKey: .error)
    }

    public func encode(to encoder: any Encoder) throws {
        // Codable output is for tools that want it; files and the CLI use `json` (ordered keys).
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(file, forKey: .file)
        try c.encode(status, forKey: .status)
        try c.encode(source, forKey: .source)
        try c.encode(image, forKey: .image)
        try c.encode(faces, forKey: .faces)
        try c.encode(faceEncoding, forKey: .faceEncoding)
        try c.encode(createdAt.map(Timestamp.format), forKey: .createdAt)
        try c.encode(completedAt.map(Timestamp.format), forKey: .completedAt)
        try c.encode(error, forKey: .error)
    }

    /// The document as an ordered JSON value: the keys in the order docs/result-format.md documents.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let id { members.append(("id", .string(id))) }
        if let file { members.append(("file", .string(file))) }
        members.append(("status", .string(status.rawValue)))
        members.append(
            (
                "source",
                source.map {
                    .object([
                        ("name", .string($0.name)), ("bytes", .int($0.bytes)),
                        ("sha256", $0.sha256.isEmpty ? .null : .string($0.sha256)),
                    ])
                } ?? .null
            ))
        members.append(
            (
                "image",
                image.map {
                    .object([
                        ("format", .string($0.format.rawValue)), ("width", .int(Int64($0.width))),
                        ("height", .int(Int64($0.height))),
                    ])
                } ?? .null
            ))
        members.append(
            (
                "faces",
                .array(faces.map(\.json))
            ))
        members.append(("face_encoding", .array(faceEncoding.map { .float($0) })))
        members.append(("created_at", createdAt.map { .string(Timestamp.format($0)) } ?? .null))
        members.append(("completed_at", completedAt.map { .string(Timestamp.format($0)) } ?? .null))
        members.append(
            (
                "error",
                error.map {
                    .object([("code", .string($0.code.rawValue)), ("message", .string($0.message))])
                } ?? .null
            ))
        return .object(members)
    }

    /// One line of compact JSON, without a trailing newline.
    public func jsonLine() -> String { json.serialized() }
}
