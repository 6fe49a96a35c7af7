import CFaceScan
import FaceCore

/// One row of a `FaceTable` close to a query, with its exact (double precision) distance.
public struct Neighbour: Sendable, Equatable {
    public var row: Int
    public var distance: Double

    public init(row: Int, distance: Double) {
        self.row = row
        self.distance = distance
    }
}

extension FaceTable {
    /// Rows scanned per kernel call: 4,096 rows are 2 MiB of table and 16 KiB of distances.
    static let scanBlock = 4096

    /// The `limit` rows closest to `query`, closest first (ties by row), with their distances
    /// computed as `FaceDistance.euclidean` does: the same ranking as computing every distance in
    /// double precision.
    ///
    /// The scan computes float32 squared distances with SIMD and keeps a few more candidates than
    /// asked (`limit * 2 + 16`); the candidates are then measured in double. If the float32 filter
    /// could have dropped a row that ranks in the result (its rounding error, at most a relative
    /// 1e-4 here, overlaps the last kept distance), a second pass measures every row within that
    /// margin, so the answer is exact in any case.
    public func nearest(to query: [Float], limit: Int, within maximum: Double = .infinity) -> [Neighbour] {
        guard limit > 0, count > 0, query.count == Self.dimensions else { return [] }
        let keep = min(count, limit * 2 + 16)
        var heap = CandidateHeap(capacity: keep)
        scan(query) { row, squared in heap.offer(squared, row: row) }
        var exact = heap.rows.map { Neighbour(row: $0, distance: FaceDistance.euclidean(encoding(at: $0), query)) }
        exact.sort { ($0.distance, $0.row) < ($1.distance, $1.row) }
        // Rows the filter dropped have a float32 squared distance >= the heap's largest kept one.
        if heap.isFull, count > keep, exact.count >= limit {
            let last = exact[limit - 1].distance
            let droppedAtLeast = Double(heap.largest)
            if droppedAtLeast * (1 - 1e-4) - 1e-6 <= last * last {
                exact = exactScan(query, atMostSquared: last * last * (1 + 1e-4) + 1e-6)
            }
        }
        return Array(exact.prefix { $0.distance <= maximum }.prefix(limit))
    }

    /// Every row whose float32 squared distance is at most `bound`, measured in double and sorted.
    private func exactScan(_ query: [Float], atMostSquared bound: Double) -> [Neighbour] {
        var found: [Neighbour] = []
        scan(query) { row, squared in
            if Double(squared) <= bound {
                found.append(Neighbour(row: row, distance: FaceDistance.euclidean(encoding(at: row), query)))
            }
        }
        found.sort { ($0.distance, $0.row) < ($1.distance, $1.row) }
        return found
    }

    /// Calls `visit(row, float32 squared distance to query)` for every row, in row order, computed by
    /// the SIMD kernel a block of `scanBlock` rows at a time.
    private func scan(_ query: [Float], _ visit: (Int, Float) -> Void) {
        var distances = [Float](repeating: 0, count: Self.scanBlock)
        withComponents { table in
            query.withUnsafeBufferPointer { q in
                distances.withUnsafeMutableBufferPointer { out in
                    var start = 0
                    while start < count {
                        let rows = min(Self.scanBlock, count - start)
                        fws_squared_distances(
                            table.baseAddress! + start * Self.dimensions, rows, q.baseAddress!, out.baseAddress!)
                        for i in 0..<rows { visit(start + i, out[i]) }
                        start += rows
                    }
                }
            }
        }
    }
}

/// The `capacity` smallest (value, row) pairs offered so far: a binary max-heap, so the test that
/// rejects almost every row is one comparison with the largest kept value.
struct CandidateHeap {
    private var values: [Float] = []
    private var rowsKept: [Int] = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        values.reserveCapacity(capacity)
        rowsKept.reserveCapacity(capacity)
    }

    var isFull: Bool { values.count == capacity }
    /// The largest value kept (only meaningful when not empty).
    var largest: Float { values[0] }
    var rows: [Int] { rowsKept }

    @inline(__always)
    mutating func offer(_ value: Float, row: Int) {
        if values.count < capacity {
            values.append(value)
            rowsKept.append(row)
            siftUp(values.count - 1)
        } else if value < values[0] {
            values[0] = value
            rowsKept[0] = row
            siftDown(0)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard values[child] > values[parent] else { return }
            values.swapAt(child, parent)
            rowsKept.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < values.count else { return }
            var largest = left
            if left + 1 < values.count, values[left + 1] > values[left] { largest = left + 1 }
            guard values[largest] > values[parent] else { return }
            values.swapAt(largest, parent)
            rowsKept.swapAt(largest, parent)
            parent = largest
        }
    }
}
