import FaceCore
import FaceLedger
import FaceMatch
import Foundation

/// `facewatch match`: the stored faces closest to a face, from the face table (`FaceTable`), a view
/// of the ledger under its directory (`face-table.f32`). The table is used when its stamp equals the
/// ledger's counters (completed records and faces; records only ever become final once, so equal
/// counts mean the same faces) and rebuilt from the ledger otherwise, then saved when the directory
/// is writable (a reader without write access keeps the rebuilt table in memory).
public struct FaceSearch: Sendable {
    /// One stored face close to a query.
    public struct Hit: Sendable, Equatable {
        public var distance: Double
        public var id: UUID
        public var face: Int
        public var source: String
        public var location: FaceLocation

        public var json: JSONValue {
            .object([
                ("distance", .double(distance)), ("id", .string(id.uuidString.lowercased())),
                ("face", .int(Int64(face))), ("source", .string(source)),
                (
                    "location",
                    .object([
                        ("top", .int(Int64(location.top))), ("right", .int(Int64(location.right))),
                        ("bottom", .int(Int64(location.bottom))), ("left", .int(Int64(location.left))),
                    ])
                ),
            ])
        }
    }

    public let ledger: Ledger
    public let table: FaceTable
    /// Whether the table had to be rebuilt from the ledger.
    public let rebuilt: Bool

    /// The table's file in a ledger directory.
    public static func tablePath(database: String) -> String {
        (database as NSString).appendingPathComponent(FaceTableFile.fileName)
    }

    /// Loads the table of `ledger` (in `database`), rebuilding it when missing or stale.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public init(ledger: Ledger, database: String) throws(ClientError) {
        self.ledger = ledger
        let path = Self.tablePath(database: database)
        do {
            let stamp = try Self.stamp(ledger)
            if let table = FaceTableFile.read(path), table.stamp == stamp {
                self.table = table
                rebuilt = false
                return
            }
            var table = FaceTable(stamp: stamp, capacity: Int(stamp.faces))
            try ledger.forEachRecord { record in
                guard record.status == .completed else { return }
                for (index, face) in record.faces.enumerated() {
                    table.append(face.encoding, reference: .init(id: record.id, face: index))
                }
            }
            // Faces completed during the scan are in the table but not the stamp: the next search
            // rebuilds it, nothing is missed.
            try? FaceTableFile.write(table, to: path)
            self.table = table
            rebuilt = true
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }

    static func stamp(_ ledger: Ledger) throws(LedgerError) -> FaceTable.Stamp {
        let stats = try ledger.stats()
        return FaceTable.Stamp(completed: UInt64(stats.counts[.completed] ?? 0), faces: UInt64(stats.faces))
    }

    /// The `limit` stored faces closest to `encoding` (at most `tolerance` away when given), closest
    /// first; faces of `excluding` (the query's own result) are left out.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public func closest(to encoding: [Float], limit: Int, tolerance: Double? = nil, excluding: UUID? = nil)
        throws(ClientError) -> [Hit]
    {
        var want = limit
        var hits: [Hit] = []
        // Asking for a few more covers the query's own faces when they are excluded.
        while true {
            let neighbours = table.nearest(to: encoding, limit: want, within: tolerance ?? .infinity)
            hits = []
            for neighbour in neighbours {
                let reference = table.references[neighbour.row]
                if reference.id == excluding { continue }
                let record: LedgerRecord?
                do {
                    record = try ledger.record(reference.id)
                } catch {
                    throw ClientError("cannot read the ledger: \(error)")
                }
                guard let record, reference.face < record.faces.count else { continue }
                hits.append(
                    Hit(
                        distance: neighbour.distance, id: reference.id, face: reference.face,
                        source: record.source.name,
                        location: record.faces[reference.face].location))
                if hits.count == limit { return hits }
            }
            if neighbours.count < want { return hits }
            want *= 2
        }
    }
}
