import FaceCore
import Foundation

/// What the ledger keeps of a forgotten image: no face, no encoding, no content digest; only enough
/// to answer `facewatch result UUID` with `forgotten` and to say when and why (the audit).
///
/// `storePath` (the original's path under the root) and `filesPending` let the files be removed after
/// the transaction that forgot the record: a forget is the ledger transition first, then the file
/// removals, which are idempotent and done again at the next start while `filesPending` is set.
public struct Tombstone: Sendable, Equatable {
    public var id: UUID
    /// The name the file was dropped with (relative to the inbox).
    public var name: String
    /// When the image came in.
    public var createdAt: Date
    /// When it was forgotten.
    public var forgottenAt: Date
    /// Why, for the audit: e.g. `forget by uid 0: --name 'party/*'` or `keep_results=30d`.
    public var reason: String
    /// The stored original's path relative to the root, while its files may remain.
    public var storePath: String
    /// True until `Ledger.forgottenFilesRemoved` says the files are gone.
    public var filesPending: Bool

    public init(
        id: UUID, name: String, createdAt: Date, forgottenAt: Date, reason: String, storePath: String,
        filesPending: Bool
    ) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.forgottenAt = forgottenAt
        self.reason = reason
        self.storePath = storePath
        self.filesPending = filesPending
    }

    /// `{"id", "status": "forgotten", "source": {"name"}, "created_at", "forgotten_at", "reason"}`: what
    /// `facewatch result` prints for a forgotten image.
    public var json: JSONValue {
        .object([
            ("id", .string(id.uuidString.lowercased())),
            ("status", .string("forgotten")),
            ("source", .object([("name", .string(name))])),
            ("created_at", .string(Timestamp.format(createdAt))),
            ("forgotten_at", .string(Timestamp.format(forgottenAt))),
            ("reason", .string(reason)),
        ])
    }
}

/// The byte format of a tombstone (`meta` key `forgotten/` + UUID in LMDB, the `forgotten` table's
/// `body` in PostgreSQL): u8 format = 1; f64 createdAt, f64 forgottenAt (seconds since 2001, exact);
/// str name, str reason, str storePath. `filesPending` is kept apart (a key or a column) so that
/// the start-up sweep finds the pending ones without reading every tombstone.
package enum TombstoneCodec {
    static let format: UInt8 = 1

    package static func encode(_ t: Tombstone) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + t.name.utf8.count + t.reason.utf8.count + t.storePath.utf8.count)
        w.u8(format)
        w.f64(t.createdAt.timeIntervalSinceReferenceDate)
        w.f64(t.forgottenAt.timeIntervalSinceReferenceDate)
        w.string(t.name)
        w.string(t.reason)
        w.string(t.storePath)
        return w.bytes
    }

    package static func decode(id: UUID, _ bytes: UnsafeRawBufferPointer, filesPending: Bool) throws(LedgerError)
        -> Tombstone
    {
        var r = ByteReader(bytes, what: "tombstone")
        guard try r.u8() == format else { throw LedgerError.corrupt("tombstone of an unknown format") }
        let createdAt = Date(timeIntervalSinceReferenceDate: try r.f64())
        let forgottenAt = Date(timeIntervalSinceReferenceDate: try r.f64())
        let name = try r.string()
        let reason = try r.string()
        let storePath = try r.string()
        try r.expectEnd()
        return Tombstone(
            id: id, name: name, createdAt: createdAt, forgottenAt: forgottenAt, reason: reason, storePath: storePath,
            filesPending: filesPending)
    }

    /// The tombstone of `record`, forgotten at `at` for `reason`, its files still to remove.
    package static func tombstone(of record: LedgerRecord, at: Date, reason: String) -> Tombstone {
        Tombstone(
            id: record.id, name: record.source.name, createdAt: record.createdAt, forgottenAt: at, reason: reason,
            storePath: record.storePath, filesPending: true)
    }
}

extension Counters {
    /// Takes away a record that is forgotten, as if it had never been added: its status count, and
    /// for a completed one its faces and their encodings (subtracted from the running sum).
    package mutating func removeRecord(_ record: LedgerRecord) {
        add(record.status, -1)
        guard record.status == .completed else { return }
        removeFaces(record.faces)
    }

    /// Takes away faces of a completed record (a faces-only forget, or its whole record): their count,
    /// and their encodings from the running sum.
    package mutating func removeFaces(_ removed: [Face]) {
        faces -= removed.count
        for face in removed where face.encoding.count == Face.encodingLength {
            encodedFaces -= 1
            for i in 0..<Face.encodingLength { sum[i] -= Double(face.encoding[i]) }
        }
        // The sum of no faces is exactly zero, whatever rounding the subtractions left.
        if encodedFaces == 0 { sum = [Double](repeating: 0, count: Face.encodingLength) }
    }
}

extension FinalTallies {
    /// Takes away a final record that is forgotten (the inverse of `add`).
    package mutating func remove(_ record: LedgerRecord) {
        if record.status == .failed {
            let code = record.error?.code ?? .ioError
            let left = (failedByCode[code] ?? 0) - 1
            failedByCode[code] = left > 0 ? left : nil
        }
        guard record.status != .created, let seconds = record.duration, seconds > 0, seconds.isFinite else { return }
        engineRuns -= 1
        engineSeconds = engineRuns == 0 ? 0 : engineSeconds - seconds
        let index = EngineTimeBuckets.bounds.firstIndex { seconds <= $0 } ?? EngineTimeBuckets.bounds.count
        buckets[index].count -= 1
        buckets[index].seconds = buckets[index].count == 0 ? 0 : buckets[index].seconds - seconds
    }
}
