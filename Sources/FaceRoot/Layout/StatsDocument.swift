import FaceCore
import FaceLedger
import Foundation

/// The content of `stats.json` and of `facewatch stats`: counts per status, faces, the mean encoding
/// and the throughput, built from the ledger's O(1) counters.
///
/// ```json
/// {"total": 12, "created": 1, "completed": 10, "failed": 1, "faces": 14,
///  "average_encoding": [128 numbers, or empty before the first face],
///  "images_per_minute": 42.5, "updated_at": "2026-11-24T18:00:00.123Z"}
/// ```
public struct StatsDocument: Sendable, Equatable {
    /// All records.
    public var total: Int
    /// Records waiting to be encoded (the backlog).
    public var created: Int
    /// Records encoded (zero faces included).
    public var completed: Int
    /// Records that failed.
    public var failed: Int
    /// Faces found in completed records.
    public var faces: Int
    /// The mean of every face encoding of completed records; empty before the first face.
    public var averageEncoding: [Double]
    /// Final results per minute over the last minute (0 when the daemon is not running).
    public var imagesPerMinute: Double
    /// When these values were read.
    public var updatedAt: Date
    /// Faces labelled with each known person (a face resembling two people counts for both).
    public var facesByPerson: [String: Int] = [:]
    /// Whether this daemon writes the root's `stats.json` and `metrics.prom` (not part of the
    /// JSON): on a shared ledger only the holder of the publisher role does
    /// (`Ledger.holdsPublisherRole`).
    public var writtenToRoot = true

    public init(
        total: Int, created: Int, completed: Int, failed: Int, faces: Int, averageEncoding: [Double],
        imagesPerMinute: Double, updatedAt: Date
    ) {
        self.total = total
        self.created = created
        self.completed = completed
        self.failed = failed
        self.faces = faces
        self.averageEncoding = averageEncoding
        self.imagesPerMinute = imagesPerMinute
        self.updatedAt = updatedAt
    }

    /// The document for the ledger's counters.
    public init(stats: LedgerStats, imagesPerMinute: Double, updatedAt: Date = Date()) {
        self.init(
            total: stats.total, created: stats.counts[.created] ?? 0, completed: stats.counts[.completed] ?? 0,
            failed: stats.counts[.failed] ?? 0, faces: stats.faces, averageEncoding: stats.average ?? [],
            imagesPerMinute: imagesPerMinute, updatedAt: updatedAt)
    }

    /// The document as ordered JSON, keys in the documented order.
    public var json: JSONValue {
        .object([
            ("total", .int(Int64(total))),
            ("created", .int(Int64(created))),
            ("completed", .int(Int64(completed))),
            ("failed", .int(Int64(failed))),
            ("faces", .int(Int64(faces))),
            (
                "faces_by_person",
                .object(facesByPerson.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })
            ),
            ("average_encoding", .array(averageEncoding.map { .double($0) })),
            ("images_per_minute", .double((imagesPerMinute * 10).rounded() / 10)),
            ("updated_at", .string(Timestamp.format(updatedAt))),
        ])
    }

    /// Reads a `stats.json` file; nil if it is missing or not a stats document.
    public static func read(path: String) -> StatsDocument? {
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        func int(_ key: String) -> Int? { (object[key] as? NSNumber)?.intValue }
        guard let total = int("total"), let created = int("created"), let completed = int("completed"),
            let failed = int("failed"), let faces = int("faces")
        else { return nil }
        let average = (object["average_encoding"] as? [NSNumber])?.map(\.doubleValue) ?? []
        let rate = (object["images_per_minute"] as? NSNumber)?.doubleValue ?? 0
        let updated = (object["updated_at"] as? String).flatMap(Timestamp.parse) ?? Date(timeIntervalSince1970: 0)
        var document = StatsDocument(
            total: total, created: created, completed: completed, failed: failed, faces: faces,
            averageEncoding: average, imagesPerMinute: rate, updatedAt: updated)
        for case let (name, count as NSNumber) in (object["faces_by_person"] as? [String: Any]) ?? [:] {
            document.facesByPerson[name] = count.intValue
        }
        return document
    }
}
