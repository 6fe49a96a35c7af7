import FaceCore
import Foundation

/// The binary value stored for a record in the `records` database.
///
/// Format 1 (all integers and floats little-endian; `str` is a u32 byte count then UTF-8):
///
/// | field | encoding |
/// |---|---|
/// | format | u8 = 1 |
/// | status | u8: 0 created, 1 completed, 2 failed |
/// | id | 16 bytes (UUID) |
/// | createdAt | f64 seconds since 2001-01-01 (`Date.timeIntervalSinceReferenceDate`, exact) |
/// | attempts | u32 |
/// | present | u8 bit set: 1 completedAt, 2 duration, 4 image, 8 error |
/// | completedAt | f64, if present |
/// | duration | f64 seconds, if present |
/// | image | u8 format (0 jpeg, 1 png), u32 width, u32 height, if present |
/// | error | str code (the JSON code, e.g. `corrupt_image`), str message, if present |
/// | source bytes | i64 |
/// | source sha256 | 32 raw bytes |
/// | source name | str |
/// | store path | str |
/// | faces | u32 count, then per face: i32 top, right, bottom, left; (format 2) u8 bit set: 1 score, 2 landmarks; f64 score, if present; u8 count, then count × (i32 x, i32 y), if present; u16 n; n × f32 encoding |
///
/// Format 2 differs from format 1 only in each face's score and landmarks; a record is written in
/// format 1 when none of its faces carries either, so that such records stay readable by builds that
/// know only format 1.
///
/// Decoding checks every length, enum value and UTF-8 string and rejects trailing bytes: a damaged
/// value becomes `LedgerError.corrupt`, never a crash. A new layout gets a new format byte; readers keep
/// decoding the old ones (and a schema migration may rewrite them).
package enum RecordCodec {
    static let format: UInt8 = 1
    /// Format 1 plus each face's score and landmarks.
    static let formatWithFaceDetails: UInt8 = 2
    private static let faceHasScore: UInt8 = 1
    private static let faceHasLandmarks: UInt8 = 2
    /// How an unknown SHA-256 (`SourceInfo.unknownSHA256`) is stored.
    static let unknownDigest = [UInt8](repeating: 0, count: 32)

    private static let hasCompletedAt: UInt8 = 1
    private static let hasDuration: UInt8 = 2
    private static let hasImage: UInt8 = 4
    private static let hasError: UInt8 = 8

    /// Checks that a record can be stored (sizes fit their fields, the SHA-256 is 64 lowercase hex
    /// digits, encodings are finite) and encodes it.
    package static func encode(_ r: LedgerRecord) throws(LedgerError) -> [UInt8] {
        // An unknown digest (bytes never read) is stored as 32 zero bytes: no content hashes to
        // that, and it reads back as unknown.
        guard let sha = r.source.sha256.isEmpty ? RecordCodec.unknownDigest : SHA256Hex.bytes(r.source.sha256) else {
            throw LedgerError(.invalidArgument, "sha256 must be 64 lowercase hex digits, got \"\(r.source.sha256)\"")
        }
        guard r.attempts >= 0, r.attempts <= Int(UInt32.max) else {
            throw LedgerError(.invalidArgument, "attempts \(r.attempts) out of range")
        }
        var w = ByteWriter(capacity: 128 + r.faces.count * (18 + 4 * Face.encodingLength))
        let detailed = r.faces.contains { $0.score != nil || $0.landmarks != nil }
        w.u8(detailed ? formatWithFaceDetails : format)
        w.u8(statusByte(r.status))
        w.raw(r.id.bytes)
        w.f64(r.createdAt.timeIntervalSinceReferenceDate)
        w.u32(UInt32(r.attempts))
        var present: UInt8 = 0
        if r.completedAt != nil { present |= hasCompletedAt }
        if r.duration != nil { present |= hasDuration }
        if r.image != nil { present |= hasImage }
        if r.error != nil { present |= hasError }
        w.u8(present)
        if let completedAt = r.completedAt { w.f64(completedAt.timeIntervalSinceReferenceDate) }
        if let duration = r.duration { w.f64(duration) }
        if let image = r.image {
            guard let width = UInt32(exactly: image.width), let height = UInt32(exactly: image.height) else {
                throw LedgerError(.invalidArgument, "image size \(image.width)x\(image.height) out of range")
            }
            w.u8(Self.formatByte(image.format))
            w.u32(width)
            w.u32(height)
        }
        if let error = r.error {
            w.string(error.code.rawValue)
            w.string(error.message)
        }
        w.i64(r.source.bytes)
        w.raw(sha)
        w.string(r.source.name)
        w.string(r.storePath)
        w.u32(UInt32(r.faces.count))
        for face in r.faces {
            let l = face.location
            guard let top = Int32(exactly: l.top), let right = Int32(exactly: l.right),
                let bottom = Int32(exactly: l.bottom), let left = Int32(exactly: l.left)
            else { throw LedgerError(.invalidArgument, "face box \(l) out of range") }
            guard face.encoding.count <= Int(UInt16.max) else {
                throw LedgerError(.invalidArgument, "face encoding has \(face.encoding.count) components")
            }
            guard face.encoding.allSatisfy(\.isFinite) else {
                throw LedgerError(.invalidArgument, "face encoding holds a non-finite number")
            }
            w.i32(top)
            w.i32(right)
            w.i32(bottom)
            w.i32(left)
            if detailed { try writeDetails(face, to: &w) }
            w.u16(UInt16(face.encoding.count))
            for v in face.encoding { w.f32(v) }
        }
        return w.bytes
    }

    /// Decodes a stored value; throws `.corrupt` for anything that is not a well-formed record.
    package static func decode(_ bytes: UnsafeRawBufferPointer) throws(LedgerError) -> LedgerRecord {
        var r = ByteReader(bytes, what: "record")
        let fmt = try r.u8()
        guard fmt == format || fmt == formatWithFaceDetails else {
            throw LedgerError.corrupt("unknown record format \(fmt)")
        }
        let status = try status(try r.u8())
        guard let id = UUID(bytes: try r.raw(16)) else { throw LedgerError.corrupt("record id") }
        let createdAt = Date(timeIntervalSinceReferenceDate: try r.f64())
        let attempts = Int(try r.u32())
        let present = try r.u8()
        guard present & ~(hasCompletedAt | hasDuration | hasImage | hasError) == 0 else {
            throw LedgerError.corrupt("record has unknown field flags \(present)")
        }
        let completedAt = present & hasCompletedAt != 0 ? Date(timeIntervalSinceReferenceDate: try r.f64()) : nil
        let duration = present & hasDuration != 0 ? try r.f64() : nil
        var image: ImageInfo?
        if present & hasImage != 0 {
            let formatByte = try r.u8()
            guard let format = Self.imageFormat(formatByte) else {
                throw LedgerError.corrupt("unknown image format \(formatByte)")
            }
            image = ImageInfo(format: format, width: Int(try r.u32()), height: Int(try r.u32()))
        }
        var failure: Failure?
        if present & hasError != 0 {
            let codeText = try r.string()
            guard let code = FailureCode(rawValue: codeText) else {
                throw LedgerError.corrupt("unknown failure code \"\(codeText)\"")
            }
            failure = Failure(code, try r.string())
        }
        let size = try r.i64()
        let shaBytes = try r.raw(32)
        let sha = shaBytes.elementsEqual(RecordCodec.unknownDigest) ? SourceInfo.unknownSHA256 : SHA256Hex.hex(shaBytes)
        let name = try r.string()
        let storePath = try r.string()
        let faceCount = Int(try r.u32())
        // Each face needs at least 18 bytes: reject absurd counts before allocating for them.
        guard faceCount <= r.remaining / 18 else { throw LedgerError.corrupt("record is truncated") }
        var faces: [Face] = []
        faces.reserveCapacity(faceCount)
        for _ in 0..<faceCount {
            let top = Int(try r.i32())
            let right = Int(try r.i32())
            let bottom = Int(try r.i32())
            let left = Int(try r.i32())
            let (score, landmarks) = fmt == formatWithFaceDetails ? try readDetails(&r) : (nil, nil)
            let n = Int(try r.u16())
            let encoding = try r.floats(n)
            faces.append(
                Face(
                    location: FaceLocation(top: top, right: right, bottom: bottom, left: left), encoding: encoding,
                    score: score, landmarks: landmarks))
        }
        try r.expectEnd()
        return LedgerRecord(
            id: id, status: status, source: SourceInfo(name: name, bytes: size, sha256: sha),
            storePath: storePath, createdAt: createdAt, image: image, faces: faces, completedAt: completedAt,
            duration: duration, error: failure, attempts: attempts)
    }

    /// A face's score and landmarks, format 2.
    private static func writeDetails(_ face: Face, to w: inout ByteWriter) throws(LedgerError) {
        var flags: UInt8 = 0
        if face.score != nil { flags |= faceHasScore }
        if face.landmarks != nil { flags |= faceHasLandmarks }
        w.u8(flags)
        if let score = face.score {
            guard score.isFinite else { throw LedgerError(.invalidArgument, "face score is not finite") }
            w.f64(score)
        }
        if let points = face.landmarks?.points {
            guard points.count <= Int(UInt8.max) else {
                throw LedgerError(.invalidArgument, "face has \(points.count) landmarks")
            }
            w.u8(UInt8(points.count))
            for point in points {
                guard let x = Int32(exactly: point.x), let y = Int32(exactly: point.y) else {
                    throw LedgerError(.invalidArgument, "landmark \(point) out of range")
                }
                w.i32(x)
                w.i32(y)
            }
        }
    }

    private static func readDetails(_ r: inout ByteReader) throws(LedgerError) -> (Double?, FaceLandmarks?) {
        let flags = try r.u8()
        guard flags & ~(faceHasScore | faceHasLandmarks) == 0 else {
            throw LedgerError.corrupt("face has unknown field flags \(flags)")
        }
        let score = flags & faceHasScore != 0 ? try r.f64() : nil
        var landmarks: FaceLandmarks?
        if flags & faceHasLandmarks != 0 {
            let count = Int(try r.u8())
            var points: [FaceLandmarks.Point] = []
            points.reserveCapacity(count)
            for _ in 0..<count { points.append(FaceLandmarks.Point(x: Int(try r.i32()), y: Int(try r.i32()))) }
            landmarks = FaceLandmarks(points: points)
        }
        return (score, landmarks)
    }

    static func statusByte(_ s: ResultStatus) -> UInt8 {
        switch s {
        case .created: 0
        case .completed: 1
        case .failed: 2
        }
    }

    /// The stored byte of an image format: never renumber one (records on disk and in PostgreSQL
    /// keep it). A ledger written with WebP, HEIF or AVIF records cannot be read by a version
    /// older than these formats.
    static func formatByte(_ format: ImageFormat) -> UInt8 {
        switch format {
        case .jpeg: 0
        case .png: 1
        case .webp: 2
        case .heif: 3
        case .avif: 4
        }
    }

    private static func imageFormat(_ b: UInt8) -> ImageFormat? {
        ImageFormat.allCases.first { formatByte($0) == b }
    }

    private static func status(_ b: UInt8) throws(LedgerError) -> ResultStatus {
        switch b {
        case 0: .created
        case 1: .completed
        case 2: .failed
        default: throw LedgerError.corrupt("unknown record status \(b)")
        }
    }
}
