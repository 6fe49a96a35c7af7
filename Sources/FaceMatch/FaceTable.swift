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

    /// Row-major, `count * dimensions` components.
    public private(set) var components: [Float]
    public private(set) var references: [Reference]
    public var stamp: Stamp

    public var count: Int { references.count }

    public init(stamp: Stamp = Stamp(faces: 0, logPosition: 0), capacity: Int = 0) {
        components = []
        components.reserveCapacity(capacity * Self.dimensions)
        references = []
        references.reserveCapacity(capacity)
        self.stamp = stamp
    }

    init(components: [Float], references: [Reference], stamp: Stamp) {
        precondition(components.count == references.count * Self.dimensions)
        self.components = components
        self.references = references
        self.stamp = stamp
    }

    /// Appends one face (an encoding of `dimensions` components; others are skipped and false returned).
    @discardableResult
    public mutating func append(_ encoding: [Float], reference: Reference) -> Bool {
        guard encoding.count == Self.dimensions else { return false }
        components.append(contentsOf: encoding)
        references.append(reference)
        return true
    }

    /// Removes every row of the results `ids` (in one pass, the others keeping their order);
    /// returns how many rows went.
    @discardableResult
    public mutating func removeRows(of ids: Set<UUID>) -> Int {
        guard !ids.isEmpty else { return 0 }
        let dimensions = Self.dimensions
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

    /// The encoding of row `row`.
    public func encoding(at row: Int) -> [Float] {
        Array(components[(row * Self.dimensions)..<((row + 1) * Self.dimensions)])
    }
}
