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

        public var description: String {
            if let foundID {
                return
                    "the \(directory.role) directory \(directory.path) belongs to another facewatch root (marker \(foundID))"
            }
            return
                "the \(directory.role) directory \(directory.path) has no \(DirectoryIdentity.markerName) marker (not mounted, or moved away?)"
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
        let found = directories.map { readMarker(of: $0) }
        let known = zip(directories, found).compactMap { directory, id in id.map { (directory.role, $0) } }
        guard !known.isEmpty else {
            let identity = DirectoryIdentity(rootID: UUID().uuidString.lowercased(), directories: directories)
            for directory in directories {
                try DurableFile.createDirectories(directory.path)
                try identity.writeMarker(into: directory)
            }
            return (identity, [])
        }
        let rootID = known.first { $0.0 == "db" }?.1 ?? known[0].1
        let identity = DirectoryIdentity(rootID: rootID, directories: directories)
        return (identity, identity.problems(found))
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
            id == rootID ? nil : Problem(directory: directory, foundID: id)
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
