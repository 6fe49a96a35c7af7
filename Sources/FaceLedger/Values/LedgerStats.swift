import FaceCore

/// Totals over the whole ledger, read in O(1) from the counters every transition keeps up to date.
public struct LedgerStats: Sendable, Equatable {
    /// Records per status; every status is present (zero included).
    public var counts: [ResultStatus: Int]
    /// All records.
    public var total: Int
    /// Faces of completed records.
    public var faces: Int
    /// Component-wise sum (float64) of every 128-number face encoding of completed records.
    public var encodingSum: [Double]
    /// How many encodings `encodingSum` adds up.
    public var encodedFaces: Int

    public init(counts: [ResultStatus: Int], total: Int, faces: Int, encodingSum: [Double], encodedFaces: Int) {
        self.counts = counts
        self.total = total
        self.faces = faces
        self.encodingSum = encodingSum
        self.encodedFaces = encodedFaces
    }

    /// The mean of every face encoding of completed images, or nil before the first face.
    public var average: [Double]? {
        encodedFaces > 0 ? encodingSum.map { $0 / Double(encodedFaces) } : nil
    }

    package init(_ c: Counters) {
        self.init(
            counts: [.created: c.created, .completed: c.completed, .failed: c.failed], total: c.total,
            faces: c.faces, encodingSum: c.sum, encodedFaces: c.encodedFaces)
    }
}

/// The true mean of face encodings over a set of completed images (not a mean of pairwise means).
public struct LedgerAverage: Sendable, Equatable {
    /// Component-wise mean of the 128-number encodings, or nil when no face was found.
    public var mean: [Double]?
    /// Faces averaged.
    public var faces: Int
    /// Completed images considered (those without faces included).
    public var images: Int

    public init(mean: [Double]?, faces: Int, images: Int) {
        self.mean = mean
        self.faces = faces
        self.images = images
    }
}
