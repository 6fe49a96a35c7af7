import CFaceScan
import FaceCore

/// Exact range search over a changing set of faces: every face within a distance of a query, with
/// its distance computed in double precision as `FaceDistance.euclidean` does.
///
/// The faces are partitioned around pivots (leader clustering): a face joins the partition of the
/// nearest pivot within `leaderRadius`, else it becomes the pivot of a new partition. Each partition
/// records the largest exact distance of a member from its pivot (its radius). A query measures its
/// distance to every pivot with the AVX2 kernel of `CFaceScan`, and by the triangle inequality
/// (d(q, x) ≥ d(q, pivot) − radius) skips every partition that cannot hold a face within the range;
/// the rest are scanned with the same kernel and the survivors measured in double. Both float32
/// filters keep a margin larger than their rounding error, so no face within the range is lost and
/// the answer is the same as measuring every face in double: exact, not approximate.
///
/// The partition depends on the order faces arrived in; the answers do not.
public struct FaceRangeIndex: Sendable {
    /// Where a face sits: its partition and its place in the partition's rows.
    private struct Location {
        var partition: Int32
        var slot: Int32
    }

    private struct Partition {
        var components: [Float] = []
        var faces: [Int32] = []
        var radius: Double = 0
    }

    public static let dimensions = Int(FWS_DIMENSIONS)
    public let leaderRadius: Double

    private var pivots: [Float] = []
    private var partitions: [Partition] = []
    private var locations: [Location] = []
    public private(set) var count = 0

    public var partitionCount: Int { partitions.count }

    public init(leaderRadius: Double) {
        self.leaderRadius = leaderRadius
    }

    /// Whether `face` is in the index.
    public func contains(_ face: Int32) -> Bool {
        Int(face) < locations.count && locations[Int(face)].partition >= 0
    }

    /// The encoding of `face` (which must be in the index).
    public func encoding(of face: Int32) -> ArraySlice<Float> {
        let location = locations[Int(face)]
        let start = Int(location.slot) * Self.dimensions
        return partitions[Int(location.partition)].components[start..<(start + Self.dimensions)]
    }

    /// The exact distance between two faces of the index.
    public func distance(_ a: Int32, _ b: Int32) -> Double {
        Self.euclidean(encoding(of: a), encoding(of: b))
    }

    /// Adds `face` (a caller's number, not yet in the index) with `encoding` of `dimensions` components.
    public mutating func insert(_ face: Int32, encoding: [Float]) {
        precondition(encoding.count == Self.dimensions && !contains(face))
        var chosen = -1
        var chosenDistance = Double.infinity
        if !partitions.isEmpty {
            var best = Float.infinity
            scanPivots(encoding) { pivot, squared in
                if squared < best {
                    best = squared
                    chosen = pivot
                }
            }
            chosenDistance = Self.euclidean(pivot(chosen), encoding[...])
            if chosenDistance > leaderRadius { chosen = -1 }
        }
        if chosen < 0 {
            chosen = partitions.count
            chosenDistance = 0
            pivots.append(contentsOf: encoding)
            partitions.append(Partition())
        }
        while locations.count <= Int(face) { locations.append(Location(partition: -1, slot: -1)) }
        locations[Int(face)] = Location(partition: Int32(chosen), slot: Int32(partitions[chosen].faces.count))
        partitions[chosen].components.append(contentsOf: encoding)
        partitions[chosen].faces.append(face)
        partitions[chosen].radius = max(partitions[chosen].radius, chosenDistance)
        count += 1
    }

    /// Removes `face` from the index. The partition keeps its pivot and radius (still a bound).
    public mutating func remove(_ face: Int32) {
        precondition(contains(face))
        let location = locations[Int(face)]
        let p = Int(location.partition)
        let slot = Int(location.slot)
        let last = partitions[p].faces.count - 1
        if slot != last {
            let moved = partitions[p].faces[last]
            partitions[p].faces[slot] = moved
            for i in 0..<Self.dimensions {
                partitions[p].components[slot * Self.dimensions + i] =
                    partitions[p].components[last * Self.dimensions + i]
            }
            locations[Int(moved)].slot = Int32(slot)
        }
        partitions[p].faces.removeLast()
        partitions[p].components.removeLast(Self.dimensions)
        locations[Int(face)] = Location(partition: -1, slot: -1)
        count -= 1
    }

    /// How much of the index a query looked at: for the benchmark's figures.
    public struct ScanCounts: Sendable, Equatable {
        public var queries = 0
        public var partitionsSkipped = 0
        public var partitionsScanned = 0
        public var rowsScanned = 0

        public init() {}
    }

    /// Every face within `maximum` of `query` (distance ≤ maximum, in double), in no set order.
    public func within(_ maximum: Double, of query: [Float]) -> [(face: Int32, distance: Double)] {
        var counts = ScanCounts()
        return within(maximum, of: query, counts: &counts)
    }

    /// `within(_:of:)`, adding to `counts` what the query scanned and skipped.
    public func within(
        _ maximum: Double, of query: [Float], counts: inout ScanCounts
    ) -> [(face: Int32, distance: Double)] {
        precondition(query.count == Self.dimensions)
        counts.queries += 1
        var found: [(face: Int32, distance: Double)] = []
        let squaredBound = Float(Self.widened(maximum * maximum))
        var distances = [Float](repeating: 0, count: 64)
        query.withUnsafeBufferPointer { q in
            scanPivots(query) { p, squared in
                let partition = partitions[p]
                guard !partition.faces.isEmpty else { return }
                // A lower bound of d(query, pivot) despite the kernel's rounding (relative 1e-4 is
                // far above float32's error over 128 terms), minus the radius, against the range.
                let pivotAtLeast = (max(0, Double(squared) * (1 - 1e-4) - 1e-6)).squareRoot()
                if pivotAtLeast - partition.radius > maximum + 1e-9 {
                    counts.partitionsSkipped += 1
                    return
                }
                let rows = partition.faces.count
                counts.partitionsScanned += 1
                counts.rowsScanned += rows
                if distances.count < rows { distances = [Float](repeating: 0, count: rows) }
                partition.components.withUnsafeBufferPointer { table in
                    distances.withUnsafeMutableBufferPointer { out in
                        fws_squared_distances(table.baseAddress!, rows, q.baseAddress!, out.baseAddress!)
                    }
                }
                for i in 0..<rows where distances[i] <= squaredBound {
                    let start = i * Self.dimensions
                    let exact = Self.euclidean(partition.components[start..<(start + Self.dimensions)], query[...])
                    if exact <= maximum { found.append((partition.faces[i], exact)) }
                }
            }
        }
        return found
    }

    /// A float32 squared distance bound that every row within `squared` (exact) passes.
    static func widened(_ squared: Double) -> Double {
        squared * (1 + 1e-4) + 1e-6
    }

    private func pivot(_ p: Int) -> ArraySlice<Float> {
        pivots[(p * Self.dimensions)..<((p + 1) * Self.dimensions)]
    }

    /// Calls `visit(partition, float32 squared distance from query to its pivot)` for every pivot.
    private func scanPivots(_ query: [Float], _ visit: (Int, Float) -> Void) {
        let block = 4096
        var distances = [Float](repeating: 0, count: min(block, partitions.count))
        pivots.withUnsafeBufferPointer { table in
            query.withUnsafeBufferPointer { q in
                var start = 0
                while start < partitions.count {
                    let rows = min(block, partitions.count - start)
                    distances.withUnsafeMutableBufferPointer { out in
                        fws_squared_distances(
                            table.baseAddress! + start * Self.dimensions, rows, q.baseAddress!, out.baseAddress!)
                    }
                    for i in 0..<rows { visit(start + i, distances[i]) }
                    start += rows
                }
            }
        }
    }

    /// `FaceDistance.euclidean` on slices, without copying.
    @inline(__always)
    static func euclidean(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        var sum = 0.0
        var i = a.startIndex
        var j = b.startIndex
        while i < a.endIndex {
            let d = Double(a[i]) - Double(b[j])
            sum += d * d
            i += 1
            j += 1
        }
        return sum.squareRoot()
    }
}
