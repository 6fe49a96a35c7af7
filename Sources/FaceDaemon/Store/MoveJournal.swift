import FaceCore
import FaceRoot
import Foundation
import Glibc
import Synchronization

// Interrupted cross-file-system moves: the journal written before each one, and what a start does
// with the journals a crash left.

extension Store {
    /// Where the journal of `id`'s move is written.
    func journalPath(for id: UUID) -> String {
        "\(directory)/\(MoveJournal.namePrefix)\(id.uuidString.lowercased())"
    }

    /// Completes or abandons the cross-file-system moves a crash interrupted.
    ///
    /// Destination present: the copy was renamed into place, so a source that is still the same
    /// inode is unlinked (it would otherwise be ingested a second time). Destination absent: the
    /// copy never got its name; the source is still in the inbox and will be taken again.
    func finishInterruptedMoves() throws(FileSystemError) {
        for name in try DirectoryReader.stringNames(in: directory, followSymlink: true) {
            let path = "\(directory)/\(name)"
            if DurableFile.isTemporaryName(name) {
                unlink(path)  // a journal's own temporary file
                continue
            }
            guard name.hasPrefix(MoveJournal.namePrefix) else { continue }
            // One journal never stops a start: what cannot be finished now is logged by the caller's
            // next scan and tried again at the next start.
            if let record = MoveJournal(contentsOf: path), let source = FileStatus.lstat(record.source),
                source.device == record.device, source.inode == record.inode
            {
                if FileStatus.lstat(record.destination) != nil {
                    guard unlink(record.source) == 0 || errno == ENOENT else { continue }
                } else if let original = record.originalName {
                    // The copy never got its name: give the claimed file its name back, to be taken again.
                    let back = "\(DurableFile.parentDirectory(of: record.source))/\(original)"
                    guard (try? DurableFile.rename(from: record.source, to: back, replacing: false)) != nil else {
                        continue
                    }
                }
                try? DurableFile.syncDirectory(DurableFile.parentDirectory(of: record.source))
            }
            unlink(path)
        }
    }
}

/// The note written before a cross-file-system move: which inode is being moved from where to where.
/// Fields are NUL-separated (paths may hold any byte but NUL).
struct MoveJournal: Equatable {
    static let namePrefix = ".moving-"
    private static let magic = "facewatch-move-1"

    var device: UInt64
    var inode: UInt64
    var source: String
    var destination: String
    /// The name the file had in the inbox before it was claimed (renamed to `source`).
    var originalName: String?

    init(device: UInt64, inode: UInt64, source: String, destination: String, originalName: String? = nil) {
        self.device = device
        self.inode = inode
        self.source = source
        self.destination = destination
        self.originalName = originalName
    }

    init?(contentsOf path: String) {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let fields = data.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard fields.count >= 5, fields[0] == MoveJournal.magic,
            let device = UInt64(fields[1]), let inode = UInt64(fields[2])
        else { return nil }
        self.init(
            device: device, inode: inode, source: fields[3], destination: fields[4],
            originalName: fields.count >= 6 && !fields[5].isEmpty ? fields[5] : nil)
    }

    func encoded() -> [UInt8] {
        [MoveJournal.magic, String(device), String(inode), source, destination, originalName ?? ""]
            .flatMap { Array($0.utf8) + [0] }
    }
}
