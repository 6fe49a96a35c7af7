#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceRoot
import Foundation

/// The identity marker of a state root's directories: `.facewatch-root` in the store, results and
/// db directories, holding the root's id (a UUID written at the first start).
///
/// A directory whose marker is missing or holds another id is not the directory the daemon's
/// records describe: a mount point whose file system is not mounted yet (files written there would
/// be hidden once it is), or a directory renamed away or swapped. While one is, the daemon takes
/// and encodes nothing (`RootWatch`), so that no file is written to the wrong place and no file is
/// failed for good because its directory is away; it resumes once the marker is back.
///
/// A directory that is meant to be new (an empty results directory moved elsewhere on purpose)
/// is accepted by copying the marker into it from a sibling: `cp db/.facewatch-root results/`.
///
/// A store and results shared by several daemons (hosts on one PostgreSQL ledger) may be marked
/// by all of them at the same instant on a fleet's first start. Each marker is therefore created
/// exclusively (`link(2)` of a written file, atomic on local file systems and NFS alike): the first
/// daemon's id wins, and every daemon reads it back and writes the other markers from it, so that
/// simultaneous first starts agree. The directory itself is the arbiter, not the database: stores
/// local to each host (at the same path on every host) must get different ids, since a shared
/// ledger hands a host only the records of its own store.
public struct DirectoryIdentity: Sendable, Equatable {
    /// The marker's file name in each directory.
    public static let markerName = ".facewatch-root"

    /// One directory the marker guards.
    public struct Guarded: Sendable, Equatable {
        /// What it is for: "store", "results" or "db".
        public var role: String
        public var path: String

        public init(role: String, path: String) {
            self.role = role
            self.path = path
        }

        var marker: String { (path as NSString).appendingPathComponent(DirectoryIdentity.markerName) }
    }

    /// What is wrong with one directory.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var directory: Guarded
        /// The id its marker holds, nil when it has none (or the directory is not there).
        public var foundID: String?

        /// This root's id, for the command that resolves the problem.
        public var rootID: String?

        public var description: String {
            let marker = (directory.path as NSString).appendingPathComponent(DirectoryIdentity.markerName)
            // What to run when the directory is the right one after all (the daemon resumes by itself).
            let fix =
                rootID.map { " (if it is this root's \(directory.role) directory, run: echo \($0) > \(marker))" } ?? ""
            if let foundID {
                return
                    "the \(directory.role) directory \(directory.path) belongs to another facewatch root (marker \(foundID))\(fix)"
            }
            return
                "the \(directory.role) directory \(directory.path) has no \(DirectoryIdentity.markerName) marker (not mounted, or moved away?)\(fix)"
        }
    }

    /// The root's id.
    public let rootID: String
    /// The directories it guards.
    public let directories: [Guarded]

    /// Reads the markers of `directories`. When none has one (a new root, or one made before markers
    /// existed), creates the directories that do not exist and writes a new id into each, durably.
    /// Otherwise the root's id is the db directory's (the ledger is the truth), else the first one
    /// found; directories without it are the returned problems, and are not created.
    ///
    /// - Throws: `FileSystemError` when a directory or a marker cannot be written.
    public static func establish(_ directories: [Guarded]) throws(FileSystemError) -> (
        identity: DirectoryIdentity, problems: [Problem]
    ) {
        var found = directories.map { readMarker(of: $0) }
        if found.allSatisfy({ $0 == nil }), let first = directories.first {
            // A new root: the first directory's marker is created exclusively, and whoever created
            // it (this daemon or one starting beside it on the same shared directory) gives the id.
            try DurableFile.createDirectories(first.path)
            let rootID = try createMarker(into: first, id: UUID().uuidString.lowercased())
            let identity = DirectoryIdentity(rootID: rootID, directories: directories)
            var problems: [Problem] = []
            for directory in directories.dropFirst() {
                try DurableFile.createDirectories(directory.path)
                let written = try createMarker(into: directory, id: rootID)
                if written != rootID {
                    problems.append(Problem(directory: directory, foundID: written, rootID: rootID))
                }
            }
            return (identity, problems)
        }
        // Some markers but not all: a daemon beside this one may be marking a new shared root right
        // now (it writes one marker after the other); its markers are waited for, briefly.
        let deadline = ContinuousClock.now + .seconds(2)
        while found.contains(nil), ContinuousClock.now < deadline {
            usleep(50_000)
            found = directories.map { readMarker(of: $0) }
        }
        let known = zip(directories, found).compactMap { directory, id in id.map { (directory.role, $0) } }
        let rootID = known.first { $0.0 == "db" }?.1 ?? known[0].1
        let identity = DirectoryIdentity(rootID: rootID, directories: directories)
        return (identity, identity.problems(found))
    }

    /// Creates `directory`'s marker holding `id` unless it has one, and returns the id its marker
    /// holds afterwards: `id`, or the one another daemon wrote first. The marker is written to a
    /// temporary file, synced, and linked to its name (`link` never replaces: of daemons doing this
    /// at once, exactly one succeeds), then the directory is synced.
    static func createMarker(into directory: Guarded, id: String) throws(FileSystemError) -> String {
        let temporary = DurableFile.temporaryPath(for: directory.marker)
        try DurableFile.writeAtomically(Array((id + "\n").utf8), to: temporary, permissions: 0o644)
        defer { unlink(temporary) }
        if link(temporary, directory.marker) != 0 {
            guard errno == EEXIST else { throw .current("link", directory.marker) }
            // Written by another daemon: its id is the root's. A marker being linked is complete.
            guard let winner = readMarker(of: directory) else {
                throw FileSystemError(operation: "read", path: directory.marker, code: EIO)
            }
            return winner
        }
        try DurableFile.syncDirectory(directory.path)
        return id
    }

    /// The directories whose marker is missing or foreign now (empty while all is well). Reads one
    /// small file per directory.
    public func check() -> [Problem] {
        problems(directories.map { Self.readMarker(of: $0) })
    }

    /// One line naming every problem.
    public static func describe(_ problems: [Problem]) -> String {
        problems.map(\.description).joined(separator: "; ")
    }

    private func problems(_ found: [String?]) -> [Problem] {
        zip(directories, found).compactMap { directory, id in
            id == rootID ? nil : Problem(directory: directory, foundID: id, rootID: rootID)
        }
    }

    /// The id in `directory`'s marker, nil when it has none or it cannot be read.
    static func readMarker(of directory: Guarded) -> String? {
        guard let data = FileManager.default.contents(atPath: directory.marker),
            let text = String(data: data, encoding: .utf8)
        else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }

    /// Writes the marker into `directory` (temporary file, fsync, rename, fsync of the directory).
    func writeMarker(into directory: Guarded) throws(FileSystemError) {
        try DurableFile.writeAtomically(Array((rootID + "\n").utf8), to: directory.marker, permissions: 0o644)
    }
}
