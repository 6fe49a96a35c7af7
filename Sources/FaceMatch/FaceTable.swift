import CFaceScan
import FaceCore
import Foundation

/// Every stored face as one contiguous float32 matrix (a row of 128 components per face) plus, per
/// row, which result and which face of it the row is. The search scans the matrix with the SIMD
/// kernel of `CFaceScan`; `NearestFaces` makes the ranking exact.
///
/// On disk (`FaceTableFile`) it is one file under the ledger's directory, a view of the ledger like
/// the result documents: rebuilt from the ledger whenever its stamp no longer matches the ledger's
/// counters.
public struct FaceTable: Sendable {
    /// Which result and which of its faces a row is.
    public struct Reference: Sendable, Equatable, Hashable {
        public var id: UUID
        public var face: Int

        public init(id: UUID, face: Int) {
            self.id = id
            self.face = face
        }
    }

    /// The ledger's state the table was built from: its count of stored faces (records only ever
    /// become final once, so the same count means the same faces), and the position in the ledger's
    /// face log up to which the results are in the table (what a catch-up appends after).
    public struct Stamp: Sendable, Equatable {
        public var faces: UInt64
        public var logPosition: UInt64

        public init(faces: UInt64, logPosition: UInt64) {
            self.faces = faces
            self.logPosition = logPosition
        }
    }

    public static let dimensions = Int(FWS_DIMENSIONS)

    /// Where the rows are: arrays of this process, or a table file mapped into memory
    /// (`FaceTableFile.read`), whose pages the page cache serves to every search that maps it.
    enum Storage: Sendable {
        case arrays(components: [Float], references: [Reference])
        case mapped(MappedFaceTable)
    }

    private var storage: Storage
    public var stamp: Stamp

    public var count: Int {
        switch storage {
        case .arrays(_, let references): references.count
        case .mapped(let file): file.rows
        }
    }

    /// Row-major, `count * dimensions` components (a copy, for a mapped table).
    public var components: [Float] { withComponents { Array($0) } }

    /// Every row's reference, in row order (decoded, for a mapped table).
    public var references: [Reference] { (0..<count).map { reference(at: $0) } }

    public init(stamp: Stamp = Stamp(faces: 0, logPosition: 0), capacity: Int = 0) {
        var components: [Float] = []
        components.reserveCapacity(capacity * Self.dimensions)
        var references: [Reference] = []
        references.reserveCapacity(capacity)
        storage = .arrays(components: components, references: references)
        self.stamp = stamp
    }

    init(components: [Float], references: [Reference], stamp: Stamp) {
        precondition(components.count == references.count * Self.dimensions)
        storage = .arrays(components: components, references: references)
        self.stamp = stamp
    }

    init(mapped file: MappedFaceTable, stamp: Stamp) {
        storage = .mapped(file)
        self.stamp = stamp
    }

    /// Calls `body` with the `count * dimensions` components, row-major.
    public func withComponents<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        switch storage {
        case .arrays(let components, _): try components.withUnsafeBufferPointer(body)
        case .mapped(let file): try body(file.components)
        }
    }

    /// Which result and face row `row` is.
    public func reference(at row: Int) -> Reference {
        switch storage {
        case .arrays(_, let references): references[row]
        case .mapped(let file): file.reference(at: row)
        }
    }

    /// The rows as arrays of this process (a mapped table is copied once, before its first change).
    private mutating func withArrays<R>(_ body: (inout [Float], inout [Reference]) -> R) -> R {
        var (components, references): ([Float], [Reference])
        switch storage {
        case .arrays(let c, let r): (components, references) = (c, r)
        case .mapped(let file):
            components = Array(file.components)
            references = (0..<file.rows).map { file.reference(at: $0) }
        }
        // Released from `storage` first, so the arrays are changed in place, not copied.
        storage = .arrays(components: [], references: [])
        defer { storage = .arrays(components: components, references: references) }
        return body(&components, &references)
    }

    /// Appends one face (an encoding of `dimensions` components; others are skipped and false returned).
    @discardableResult
    public mutating func append(_ encoding: [Float], reference: Reference) -> Bool {
        guard encoding.count == Self.dimensions else { return false }
        withArrays { components, references in
            components.append(contentsOf: encoding)
            references.append(reference)
        }
        return true
    }

    /// Removes every row of the results `ids` (in one pass, the others keeping their order);
    /// returns how many rows went.
    @discardableResult
    public mutating func removeRows(of ids: Set<UUID>) -> Int {
        guard !ids.isEmpty else { return 0 }
        let dimensions = Self.dimensions
        return withArrays { components, references in
            var kept = 0
            for row in references.indices where !ids.contains(references[row].id) {
                if kept != row {
                    references[kept] = references[row]
                    for i in 0..<dimensions { components[kept * dimensions + i] = components[row * dimensions + i] }
                }
                kept += 1
            }
            let removed = references.count - kept
            references.removeLast(removed)
            components.removeLast(removed * dimensions)
            return removed
        }
    }

    /// The encoding of row `row`.
    public func encoding(at row: Int) -> [Float] {
        withComponents { Array($0[(row * Self.dimensions)..<((row + 1) * Self.dimensions)]) }
    }
}
