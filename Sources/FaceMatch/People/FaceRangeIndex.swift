import CFaceScan
import FaceCore

/// Exact range search over a changing set of faces: every face within a distance of a query, with
/// its distance computed in double precision as `FaceDistance.euclidean` does.
///
/// Each face is kept twice: its encoding (float32, for the exact distance) and a compact *code*,
/// one int8 per component, `code = round(x / step)` with `step` = 1/128, clamped to ±63. The
/// code's *error* ε = ‖x − step·code‖ is measured for each face (in double, rounded up). A query
/// first compares codes, with exact integer arithmetic (`fws_code_rows_within`, AVX2), and measures
/// in double only the faces the codes cannot rule out:
///
/// By the triangle inequality, for faces x and y with codes cx, cy,
/// step·‖cx − cy‖ ≤ ‖x − y‖ + εx + εy. So a face within `maximum` of the query satisfies
/// ‖cx − cy‖² ≤ ((maximum + εq + εmax) / step)², where εmax bounds ε over the table (the largest ε
/// a face has had; it never decreases). The integer side is exact; the bound is computed in double
/// and widened by a relative 1e-9, far above double's rounding over 128 terms (about 1e-14), and
/// `maximum` by 1e-12 for the rounding of the exact distance itself. Every face outside that bound
/// is provably farther than `maximum`; every face inside it is measured again in double. The
/// answer is therefore that of measuring every face in double: exact, not approximate.
///
/// A face whose ε exceeds √128·step/2 (a component beyond ±0.49, where its code is clamped, or a
/// component that is not finite) would widen every query's bound; it is kept out of the code table
/// and measured in double by every query instead.
public struct FaceRangeIndex: Sendable {
    public static let dimensions = Int(FWS_DIMENSIONS)
    /// The value of one code unit: a power of two, so `x / step` and `code · step` are exact.
    static let step = 1.0 / 128
    /// The largest error of a code whose components were not clamped: √128 · step / 2.
    static let regularError = Double(dimensions).squareRoot() * step / 2

    /// A face's code, the sums the kernel needs, and its error bound.
    struct Code {
        var bytes: [Int8]
        var norm: Int32
        var sum: Int32
        var error: Double
    }

    // The code table: one row per face whose code error is at most `regularError`.
    var rowFaces: [Int32] = []
    var components: [Float] = []
    var codes: [Int8] = []
    var norms: [Int32] = []
    var sums: [Int32] = []
    /// The largest code error a row has had: a bound for every row.
    var largestError = 0.0
    // Faces measured in double by every query.
    var outlierFaces: [Int32] = []
    var outlierComponents: [Float] = []
    /// Per face: its row (≥ 0), its place among the outliers (−2 − place), or −1 when absent.
    private var places: [Int32] = []

    public init() {}

    /// How many faces the index holds.
    public var count: Int { rowFaces.count + outlierFaces.count }

    /// Whether `face` is in the index.
    public func contains(_ face: Int32) -> Bool {
        Int(face) < places.count && places[Int(face)] != -1
    }

    /// The encoding of `face` (which must be in the index).
    public func encoding(of face: Int32) -> ArraySlice<Float> {
        let place = Int(places[Int(face)])
        if place >= 0 { return components[(place * Self.dimensions)..<((place + 1) * Self.dimensions)] }
        let outlier = -2 - place
        return outlierComponents[(outlier * Self.dimensions)..<((outlier + 1) * Self.dimensions)]
    }

    /// The exact distance between two faces of the index.
    public func distance(_ a: Int32, _ b: Int32) -> Double {
        Self.euclidean(encoding(of: a), encoding(of: b))
    }

    /// Adds `face` (a caller's number, not yet in the index) with `encoding` of `dimensions` components.
    public mutating func insert(_ face: Int32, encoding: [Float]) {
        precondition(encoding.count == Self.dimensions && !contains(face))
        while places.count <= Int(face) { places.append(-1) }
        guard let code = Self.code(of: encoding) else {
            places[Int(face)] = Int32(-2 - outlierFaces.count)
            outlierFaces.append(face)
            outlierComponents.append(contentsOf: encoding)
            return
        }
        places[Int(face)] = Int32(rowFaces.count)
        rowFaces.append(face)
        components.append(contentsOf: encoding)
        codes.append(contentsOf: code.bytes)
        norms.append(code.norm)
        sums.append(code.sum)
        largestError = max(largestError, code.error)
    }

    /// Removes `face` from the index (the last row takes its place).
    public mutating func remove(_ face: Int32) {
        precondition(contains(face))
        let place = Int(places[Int(face)])
        places[Int(face)] = -1
        let d = Self.dimensions
        if place < 0 {
            let slot = -2 - place
            let last = outlierFaces.count - 1
            if slot != last {
                let moved = outlierFaces[last]
                outlierFaces[slot] = moved
                for i in 0..<d { outlierComponents[slot * d + i] = outlierComponents[last * d + i] }
                places[Int(moved)] = Int32(-2 - slot)
            }
            outlierFaces.removeLast()
            outlierComponents.removeLast(d)
            return
        }
        let last = rowFaces.count - 1
        if place != last {
            let moved = rowFaces[last]
            rowFaces[place] = moved
            for i in 0..<d {
                components[place * d + i] = components[last * d + i]
                codes[place * d + i] = codes[last * d + i]
            }
            norms[place] = norms[last]
            sums[place] = sums[last]
            places[Int(moved)] = Int32(place)
        }
        rowFaces.removeLast()
        components.removeLast(d)
        codes.removeLast(d)
        norms.removeLast()
        sums.removeLast()
    }

    /// What queries looked at: for the benchmark's figures.
    public struct ScanCounts: Sendable, Equatable {
        public var queries = 0
        /// Faces whose codes were compared.
        public var rowsScanned = 0
        /// Faces measured in double: those the codes could not rule out, and the outliers.
        public var measured = 0
        /// Faces found within the range.
        public var found = 0

        public init() {}
    }

    /// Every face within `maximum` of `query` (distance ≤ maximum, in double), in no set order.
    public func within(_ maximum: Double, of query: [Float]) -> [(face: Int32, distance: Double)] {
        var counts = ScanCounts()
        return within(maximum, of: query, counts: &counts)
    }

    /// `within(_:of:)`, adding to `counts` what the query scanned and measured.
    public func within(
        _ maximum: Double, of query: [Float], counts: inout ScanCounts
    ) -> [(face: Int32, distance: Double)] {
        precondition(query.count == Self.dimensions)
        counts.queries += 1
        var found: [(face: Int32, distance: Double)] = []
        guard maximum >= 0 else { return found }
        let d = Self.dimensions
        query.withUnsafeBufferPointer { q in
            components.withUnsafeBufferPointer { table in
                func measure(_ row: Int) {
                    let exact = Self.euclidean(table.baseAddress! + row * d, q.baseAddress!)
                    if exact <= maximum { found.append((rowFaces[row], exact)) }
                }
                guard let code = Self.code(of: query) else {
                    for row in rowFaces.indices { measure(row) }
                    counts.measured += rowFaces.count
                    return
                }
                let threshold = Self.threshold(maximum, errors: code.error + largestError)
                let unsigned = code.bytes.map { UInt8(Int(FWS_CODE_OFFSET) + Int($0)) }
                let chunk = 16384
                var rows = [UInt32](repeating: 0, count: min(chunk, rowFaces.count))
                var start = 0
                while start < rowFaces.count {
                    let n = min(chunk, rowFaces.count - start)
                    let passed = codes.withUnsafeBufferPointer { c in
                        norms.withUnsafeBufferPointer { nb in
                            sums.withUnsafeBufferPointer { sb in
                                rows.withUnsafeMutableBufferPointer { out in
                                    fws_code_rows_within(
                                        c.baseAddress! + start * d, nb.baseAddress! + start, sb.baseAddress! + start,
                                        n, unsigned, code.norm, threshold, out.baseAddress!)
                                }
                            }
                        }
                    }
                    for k in 0..<passed { measure(start + Int(rows[k])) }
                    counts.rowsScanned += n
                    counts.measured += passed
                    start += n
                }
            }
            outlierComponents.withUnsafeBufferPointer { table in
                for (i, face) in outlierFaces.enumerated() {
                    let exact = Self.euclidean(table.baseAddress! + i * d, q.baseAddress!)
                    if exact <= maximum { found.append((face, exact)) }
                }
            }
            counts.measured += outlierFaces.count
        }
        counts.found += found.count
        return found
    }

    /// The code of `encoding`, or nil when its error would exceed `regularError` (or a component is
    /// not finite): such a face is measured in double by every query.
    static func code(of encoding: some Collection<Float>) -> Code? {
        var bytes = [Int8]()
        bytes.reserveCapacity(dimensions)
        var norm: Int32 = 0
        var sum: Int32 = 0
        var squaredError = 0.0
        let limit = Double(FWS_CODE_LIMIT)
        for x in encoding {
            guard x.isFinite else { return nil }
            let value = Double(x)
            let c = min(limit, max(-limit, (value / step).rounded()))
            let e = value - c * step
            squaredError += e * e
            bytes.append(Int8(c))
            norm += Int32(c) * Int32(c)
            sum += Int32(c)
        }
        let error = squaredError.squareRoot() * (1 + 1e-9)
        guard error <= regularError else { return nil }
        return Code(bytes: bytes, norm: norm, sum: sum, error: error)
    }

    /// The largest squared code distance (in code units, an integer) that two faces whose code
    /// errors add up to at most `errors` can have when their exact distance is at most `maximum`.
    static func threshold(_ maximum: Double, errors: Double) -> Int32 {
        let bound = (maximum * (1 + 1e-12) + errors) / step
        let squared = bound * bound * (1 + 1e-9)
        guard squared < Double(Int32.max) else { return Int32.max }
        return Int32(squared.rounded(.down))
    }

    /// `FaceDistance.euclidean` on two rows of `dimensions` components, without copying.
    @inline(__always)
    static func euclidean(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Double {
        var sum = 0.0
        for i in 0..<dimensions {
            let d = Double(a[i]) - Double(b[i])
            sum += d * d
        }
        return sum.squareRoot()
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
