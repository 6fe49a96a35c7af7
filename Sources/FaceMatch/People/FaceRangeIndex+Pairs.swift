import CFaceScan
import Dispatch

extension FaceRangeIndex {
    /// Which kernel compares a tile of codes with a block of queries in `pairs`.
    public enum JoinKernel: Sendable {
        /// The tile kernel (AVX-512 VNNI, codes laid out 16 rows at a time) when the processor has
        /// it, else the AVX2 one.
        case fastest
        /// The AVX2 kernel of `within`, on any x86-64 processor (for the tests of both).
        case avx2
    }

    /// Every pair of faces of the index within `maximum` of each other (distance ≤ maximum, in
    /// double, as `within` measures it), each pair once, in no set order: the same pairs as one
    /// `within` query per face, computed as a join of the code table with itself.
    ///
    /// The table is cut into tiles of rows that stay in the processor's cache; each tile is compared
    /// with every block of eight earlier-or-equal rows (`fws_code_pairs_within`), so each pair of
    /// rows is compared once. The pairs the codes cannot rule out (bound: both faces' code errors,
    /// `FaceRangeIndex`'s derivation) are measured in double. Tiles are shared among `threads`
    /// threads; the answer does not depend on how many, nor on `kernel`.
    public func pairs(
        within maximum: Double, threads: Int, counts: inout ScanCounts, kernel: JoinKernel = .fastest
    ) -> [(a: Int32, b: Int32)] {
        guard maximum >= 0 else { return [] }
        let n = rowFaces.count
        let d = Self.dimensions
        let threshold = Self.threshold(maximum, errors: 2 * largestError)
        let tiled = kernel == .fastest && fws_code_tiles_supported() != 0
        let unsigned = tiled ? [] : codes.map { UInt8(truncatingIfNeeded: Int(FWS_CODE_OFFSET) + Int($0)) }
        let tile = 1024
        let tiles = (n + tile - 1) / tile
        let workers = max(1, min(threads, tiles))
        var found = [[(a: Int32, b: Int32)]](repeating: [], count: workers)
        var measured = [Int](repeating: 0, count: workers)
        codes.withUnsafeBufferPointer { codes in
            norms.withUnsafeBufferPointer { norms in
                sums.withUnsafeBufferPointer { sums in
                    components.withUnsafeBufferPointer { components in
                        unsigned.withUnsafeBufferPointer { unsigned in
                            found.withUnsafeMutableBufferPointer { found in
                                measured.withUnsafeMutableBufferPointer { measured in
                                    let shared = JoinTables(
                                        codes: codes, norms: norms, sums: sums, components: components,
                                        unsigned: unsigned, found: found, measured: measured)
                                    DispatchQueue.concurrentPerform(iterations: workers) { worker in
                                        join(
                                            shared, worker: worker, workers: workers, tile: tile, n: n,
                                            threshold: threshold, tiled: tiled
                                        ) { i, j in
                                            let exact = Self.euclidean(
                                                shared.components.baseAddress! + i * d,
                                                shared.components.baseAddress! + j * d)
                                            return exact <= maximum
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var result = found.flatMap { $0 }
        counts.measured += measured.reduce(0, +)
        counts.rowsScanned += n * (n - 1) / 2
        // Outliers: measured in double against every other face.
        for (m, face) in outlierFaces.enumerated() {
            let mine = encoding(of: face)
            for (row, other) in rowFaces.enumerated()
            where Self.euclidean(mine, components[(row * d)..<((row + 1) * d)]) <= maximum {
                result.append((face, other))
            }
            for other in outlierFaces[(m + 1)...] where Self.euclidean(mine, encoding(of: other)) <= maximum {
                result.append((face, other))
            }
            counts.measured += rowFaces.count + outlierFaces.count - m - 1
        }
        counts.found += result.count
        return result
    }

    /// One worker's share of the join: tiles `worker`, `worker + workers`, …; `accept(i, j)` says
    /// whether rows i < j are within range (measured in double).
    private func join(
        _ tables: JoinTables, worker: Int, workers: Int, tile: Int, n: Int, threshold limit: Int32, tiled: Bool,
        accept: (Int, Int) -> Bool
    ) {
        let d = Self.dimensions
        var layout = [UInt8](repeating: 0, count: tiled ? (tile + 15) / 16 * 16 * d : 0)
        var outQuery = [UInt32](repeating: 0, count: 8 * tile)
        var outRow = [UInt32](repeating: 0, count: 8 * tile)
        var pairs: [(a: Int32, b: Int32)] = []
        var measured = 0
        var start = worker * tile
        while start < n {
            let end = min(n, start + tile)
            if tiled { fws_code_tile_layout(tables.codes.baseAddress! + start * d, end - start, &layout) }
            var block = 0
            while block < end - 1 {
                let queries = min(8, n - block)
                // The AVX2 kernel starts at the block's first row; the tile kernel takes the whole
                // tile (rows before the block fail `j > i` below).
                let first = tiled ? start : max(start, block)
                let count = end - first
                let passed = outQuery.withUnsafeMutableBufferPointer { oq in
                    outRow.withUnsafeMutableBufferPointer { or in
                        if tiled {
                            return fws_code_tile_pairs_within(
                                layout, tables.norms.baseAddress! + first, count, tables.codes.baseAddress! + block * d,
                                tables.norms.baseAddress! + block, tables.sums.baseAddress! + block, queries, limit,
                                oq.baseAddress!, or.baseAddress!)
                        }
                        return fws_code_pairs_within(
                            tables.codes.baseAddress! + first * d, tables.norms.baseAddress! + first,
                            tables.sums.baseAddress! + first, count, tables.unsigned.baseAddress! + block * d,
                            tables.norms.baseAddress! + block, queries, limit, oq.baseAddress!, or.baseAddress!)
                    }
                }
                for k in 0..<passed {
                    let i = block + Int(outQuery[k])
                    let j = first + Int(outRow[k])
                    guard j > i else { continue }
                    measured += 1
                    if accept(i, j) { pairs.append((rowFaces[i], rowFaces[j])) }
                }
                block += 8
            }
            start += workers * tile
        }
        tables.found[worker] = pairs
        tables.measured[worker] = measured
    }
}

/// The tables a join's workers read, and the slots where each writes its own answer.
///
/// `@unchecked Sendable`: the buffers outlive the concurrent loop (they are borrowed around it),
/// the tables are only read during it, and each worker writes only `found[worker]` and
/// `measured[worker]`, so no two threads touch the same memory.
private struct JoinTables: @unchecked Sendable {
    let codes: UnsafeBufferPointer<Int8>
    let norms: UnsafeBufferPointer<Int32>
    let sums: UnsafeBufferPointer<Int32>
    let components: UnsafeBufferPointer<Float>
    let unsigned: UnsafeBufferPointer<UInt8>
    let found: UnsafeMutableBufferPointer<[(a: Int32, b: Int32)]>
    let measured: UnsafeMutableBufferPointer<Int>
}
