import FaceCore
import FaceLedger
import Foundation

/// What a report shows, read from the ledger in one streaming pass over the window (constant memory
/// but for the gallery, which keeps at most `galleryLimit` entries).
public struct ReportData: Sendable {
    /// The totals `facewatch stats` prints (all time, from the ledger's O(1) counters).
    public struct Totals: Sendable, Equatable {
        public var total: Int
        public var created: Int
        public var completed: Int
        public var failed: Int
        public var faces: Int
        /// The running daemon's rate (0 when none runs).
        public var imagesPerMinute: Double

        public init(total: Int, created: Int, completed: Int, failed: Int, faces: Int, imagesPerMinute: Double) {
            self.total = total
            self.created = created
            self.completed = completed
            self.failed = failed
            self.faces = faces
            self.imagesPerMinute = imagesPerMinute
        }
    }

    /// Final results in one interval of the throughput plot.
    public struct Bucket: Sendable, Equatable {
        public var start: Date
        public var completed = 0
        public var failed = 0
    }

    /// One image of the gallery.
    public struct GalleryEntry: Sendable, Equatable {
        public var id: UUID
        public var name: String
        public var status: ResultStatus
        public var image: ImageInfo?
        public var faces: [FaceLocation]
        public var error: Failure?
        public var createdAt: Date
        /// The stored original, relative to the root or absolute (the ledger's `storePath`).
        public var storePath: String
    }

    public var totals: Totals
    /// The window `[from, to)` the plot, the failures and the gallery cover (by creation time).
    public var from: Date
    public var to: Date
    /// Images created in the window.
    public var imagesInWindow = 0
    /// Faces of the completed images created in the window.
    public var facesInWindow = 0
    /// Consecutive intervals covering the window, by completion time.
    public var buckets: [Bucket]
    /// The length of one bucket, in seconds.
    public var bucketSeconds: TimeInterval
    /// Failures in the window per code.
    public var failuresByCode: [FailureCode: Int] = [:]
    /// The newest images created in the window, newest first, at most `galleryLimit`.
    public var gallery: [GalleryEntry] = []

    /// The bucket length for a window: a "round" length giving at most 96 bars.
    public static func bucketSeconds(forWindow seconds: TimeInterval) -> TimeInterval {
        let steps: [TimeInterval] = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
        return steps.first { seconds / $0 <= 96 } ?? (seconds / 96).rounded(.up)
    }

    /// Reads the totals and streams the records created in `[from, to)`.
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public static func gather(
        ledger: any Ledger, from: Date, to: Date, galleryLimit: Int, imagesPerMinute: Double
    ) throws -> ReportData {
        let stats = try ledger.stats()
        let totals = Totals(
            total: stats.total, created: stats.counts[.created] ?? 0, completed: stats.counts[.completed] ?? 0,
            failed: stats.counts[.failed] ?? 0, faces: stats.faces, imagesPerMinute: imagesPerMinute)
        let step = bucketSeconds(forWindow: max(60, to.timeIntervalSince(from)))
        // Buckets aligned on multiples of the step, so two reports a minute apart share their bars.
        let first = (from.timeIntervalSince1970 / step).rounded(.down) * step
        let count = Int(((to.timeIntervalSince1970 - first) / step).rounded(.up))
        var data = ReportData(
            totals: totals, from: from, to: to,
            buckets: (0..<max(1, count)).map { Bucket(start: Date(timeIntervalSince1970: first + Double($0) * step)) },
            bucketSeconds: step)
        var ring: [GalleryEntry] = []
        ring.reserveCapacity(galleryLimit)
        var next = 0
        try ledger.forEachRecord(createdFrom: from, to: to) { record in
            data.imagesInWindow += 1
            if record.status == .completed { data.facesInWindow += record.faces.count }
            if record.status == .failed, let code = record.error?.code { data.failuresByCode[code, default: 0] += 1 }
            if record.status != .created, let done = record.completedAt {
                let index = Int((done.timeIntervalSince1970 - first) / step)
                if data.buckets.indices.contains(index) {
                    if record.status == .completed {
                        data.buckets[index].completed += 1
                    } else {
                        data.buckets[index].failed += 1
                    }
                }
            }
            guard galleryLimit > 0 else { return }
            let entry = GalleryEntry(
                id: record.id, name: record.source.name, status: record.status, image: record.image,
                faces: record.faces.map(\.location), error: record.error, createdAt: record.createdAt,
                storePath: record.storePath)
            // A ring of the newest `galleryLimit` (records come in creation order).
            if ring.count < galleryLimit {
                ring.append(entry)
            } else {
                ring[next] = entry
                next = (next + 1) % galleryLimit
            }
        }
        data.gallery = Array((ring[next...] + ring[..<next]).reversed())
        return data
    }
}
