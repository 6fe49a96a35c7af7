import FaceCore
import FaceLedger
import FaceMatch
import Foundation

/// `facewatch match`: the stored faces closest to a face, from the face table (`FaceTable`), a view
/// of the ledger under its directory (`face-table.f32`), kept in step with the ledger:
///
/// - when its row count equals the ledger's face count (records only ever become final once, so the
///   same count means the same faces), it is used as it is;
/// - otherwise the results the ledger's face log lists after the table's position are appended
///   (each result with faces enters the log once, when its labels are first stored: an O(new faces)
///   catch-up), and the table is used if its count then equals the ledger's;
/// - otherwise (a table from elsewhere, results from before known people) it is rebuilt from every
///   record.
///
/// A table that changed is saved when the directory is writable (a reader without write access
/// keeps it in memory for this search).
///
/// A ledger shared by several hosts (PostgreSQL) keeps its table on each host, in that host's
/// cache directory (`FaceTableFile.cachePath`), and brings it up to date from the face log alone:
/// counts cannot tell whether a face was forgotten while another was added, and a forgotten face
/// kept in a table would be a privacy bug. A forget logs the result again (`PostgresLedger.forget`);
/// an entry whose result is no longer completed takes that result's rows out, one whose result is
/// completed and not in the table yet puts its faces in. Results completed but not logged yet
/// (their labels are stored just after) appear at the next search. It is rebuilt from every record
/// only when there is no table, or the log is shorter than the table's position (another ledger).
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

    public let ledger: any Ledger
    public let table: FaceTable
    /// How the table was brought in step with the ledger.
    public enum Freshness: Sendable, Equatable {
        case current, caughtUp, rebuilt
    }

    public let freshness: Freshness

    /// This host's cache directory of a root whose ledger is shared: `cache` in the root.
    public static func cacheDirectory(root: String) -> String {
        (root as NSString).appendingPathComponent("cache")
    }

    /// The table's file in a ledger directory.
    public static func tablePath(database: String) -> String {
        (database as NSString).appendingPathComponent(FaceTableFile.fileName)
    }

    /// Loads the table of `ledger` (in `database`), bringing it in step with the ledger.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public init(ledger: any Ledger, database: String) throws(ClientError) {
        try self.init(ledger: ledger, path: Self.tablePath(database: database), shared: false)
    }

    /// Loads the table of a shared `ledger` from this host's cache directory (created when it can
    /// be), bringing it up to date from the face log.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public init(sharedLedger ledger: any Ledger, cacheDirectory: String) throws(ClientError) {
        try? FileManager.default.createDirectory(
            atPath: cacheDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        try self.init(
            ledger: ledger, path: FaceTableFile.cachePath(directory: cacheDirectory, ledger: ledger.location),
            shared: true)
    }

    private init(ledger: any Ledger, path: String, shared: Bool) throws(ClientError) {
        self.ledger = ledger
        do {
            let (table, freshness) = try shared ? Self.loadShared(ledger, path) : Self.load(ledger, path)
            if freshness != .current { try? FaceTableFile.write(table, to: path) }
            self.table = table
            self.freshness = freshness
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }

    private static func load(_ ledger: any Ledger, _ path: String) throws -> (FaceTable, Freshness) {
        let faces = try ledger.stats().faces
        let logCount = try ledger.faceLogCount()
        if var table = FaceTableFile.read(path) {
            if table.count == faces { return (table, .current) }
            if table.stamp.logPosition <= logCount {
                var position = table.stamp.logPosition
                while position < logCount {
                    let ids = try ledger.faceLog(from: position, limit: 1024)
                    if ids.isEmpty { break }
                    for id in ids {
                        guard let record = try ledger.record(id), record.status == .completed else { continue }
                        for (index, face) in record.faces.enumerated() {
                            table.append(face.encoding, reference: .init(id: id, face: index))
                        }
                    }
                    position += UInt64(ids.count)
                }
                table.stamp = FaceTable.Stamp(faces: UInt64(table.count), logPosition: position)
                if table.count == (try ledger.stats().faces) { return (table, .caughtUp) }
            }
        }
        // The log position first: results logged during the scan are in the table already, and a
        // later catch-up that appends them again finds the counts differ and rebuilds.
        var table = FaceTable(stamp: FaceTable.Stamp(faces: 0, logPosition: logCount), capacity: faces)
        try ledger.forEachRecord { record in
            guard record.status == .completed else { return }
            for (index, face) in record.faces.enumerated() {
                table.append(face.encoding, reference: .init(id: record.id, face: index))
            }
        }
        table.stamp.faces = UInt64(table.count)
        return (table, .rebuilt)
    }

    private static func loadShared(_ ledger: any Ledger, _ path: String) throws -> (FaceTable, Freshness) {
        let logCount = try ledger.faceLogCount()
        if var table = FaceTableFile.read(path), table.stamp.logPosition <= logCount {
            if table.stamp.logPosition == logCount { return (table, .current) }
            var position = table.stamp.logPosition
            var present: Set<UUID>?
            var gone: Set<UUID> = []
            while position < logCount {
                let ids = try ledger.faceLog(from: position, limit: 1024)
                if ids.isEmpty { break }
                for id in ids {
                    guard let record = try ledger.record(id), record.status == .completed else {
                        gone.insert(id)
                        continue
                    }
                    // Only when something is to be added: a set of a million ids is not free.
                    if present == nil { present = Set((0..<table.count).map { table.reference(at: $0).id }) }
                    guard present?.insert(id).inserted == true, !gone.contains(id) else { continue }
                    for (index, face) in record.faces.enumerated() {
                        table.append(face.encoding, reference: .init(id: id, face: index))
                    }
                }
                position += UInt64(ids.count)
            }
            table.removeRows(of: gone)
            table.stamp = FaceTable.Stamp(faces: UInt64(table.count), logPosition: position)
            return (table, .caughtUp)
        }
        let (table, _) = try rebuild(ledger, logCount: logCount)
        return (table, .rebuilt)
    }

    private static func rebuild(_ ledger: any Ledger, logCount: UInt64) throws -> (FaceTable, Freshness) {
        var table = FaceTable(
            stamp: FaceTable.Stamp(faces: 0, logPosition: logCount), capacity: try ledger.stats().faces)
        try ledger.forEachRecord { record in
            guard record.status == .completed else { return }
            for (index, face) in record.faces.enumerated() {
                table.append(face.encoding, reference: .init(id: record.id, face: index))
            }
        }
        table.stamp.faces = UInt64(table.count)
        return (table, .rebuilt)
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
                let reference = table.reference(at: neighbour.row)
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
