import FaceCore
import FaceLedger
import FaceMatch
import Foundation

/// The daemon's people snapshot (`PeopleGrouping.snapshot`): `ROOT/cache/people/grouping.bin`, one
/// per root (so per host on a shared ledger), written atomically (temporary file, `fsync`, rename,
/// `fsync` of the folder). Deleting it is safe: the next start groups every face in one pass. Only
/// the daemon (one per root) writes in that folder, so a temporary file a crash left there is
/// removed before the next write.
public enum PeopleSnapshotFile {
    /// Where the snapshot of `root` lives.
    public static func path(root: String) -> String {
        (root as NSString).appendingPathComponent("cache/people/grouping.bin")
    }

    /// The snapshot's bytes, or nil when there is none (or it cannot be read).
    public static func read(root: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path(root: root)).map { [UInt8]($0) }
    }

    /// Writes the snapshot of `people`, stamped with `position`.
    ///
    /// - Throws: `FileSystemError` when the cache folder or the file cannot be written.
    public static func write(
        _ people: StoredPeople, position: PeopleGrouping.SnapshotPosition, root: String
    ) throws(FileSystemError) {
        let file = path(root: root)
        let folder = DurableFile.parentDirectory(of: file)
        try DurableFile.createDirectories(folder)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where DurableFile.isTemporaryName(name) {
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
        try DurableFile.writeAtomically(people.grouping.snapshot(position: position), to: file, permissions: 0o600)
    }
}

extension StoredPeople {
    /// How `loaded` grouped the faces.
    public enum Origin: Sendable, Equatable {
        /// From the snapshot: `reused` faces took their neighbours from it, `added` were range-queried,
        /// `dropped` of its faces are no longer stored.
        case snapshot(reused: Int, added: Int, dropped: Int, position: PeopleGrouping.SnapshotPosition)
        /// In one pass, for `reason` (no snapshot, a corrupt one, other parameters, mostly new faces).
        case onePass(reason: String)
    }

    /// The people of every record `ledger` holds, with the neighbours of the faces `snapshot` holds
    /// taken from it, else (no snapshot, a corrupt one, one of other parameters, or one that holds
    /// fewer than half of the faces) computed in one pass. Either way the result is the grouping of
    /// the ledger's faces: the snapshot only saves range queries.
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read.
    public static func loaded(
        from ledger: any Ledger, filter: PeopleFilter, snapshot: [UInt8]?
    ) throws -> (people: StoredPeople, origin: Origin) {
        let scanned = try scan(ledger, filter: filter)
        var people = scanned.0
        let faces = scanned.1
        var reason = "no snapshot"
        if let snapshot {
            do {
                let restored = try PeopleGrouping.restored(
                    snapshot: snapshot, faces: faces, parameters: filter.parameters)
                if restored.reused * 2 >= faces.count {
                    people.grouping = restored.grouping
                    let origin = Origin.snapshot(
                        reused: restored.reused, added: restored.added, dropped: restored.dropped,
                        position: restored.position)
                    return (people, origin)
                }
                reason = "the snapshot holds \(restored.reused) of the \(faces.count) faces"
            } catch {
                reason = "the snapshot is \(error)"
            }
        }
        do {
            people.grouping = try PeopleGrouping.rebuilt(from: faces, parameters: filter.parameters)
        } catch {
            // Keys are distinct and encodings checked by the filter: not reached.
            preconditionFailure("the grouping refused distinct, checked faces: \(error)")
        }
        return (people, .onePass(reason: reason))
    }
}
