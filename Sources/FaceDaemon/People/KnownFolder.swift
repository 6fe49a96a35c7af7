import FaceCore
import FaceRoot
import Foundation
import Glibc

/// The pictures of the known folder and whose each is, by face_recognition's rule: a picture is a
/// JPEG or PNG by name (`.jpg`, `.jpeg`, `.png`, any case, as its `image_files_in_folder`), and
/// `known/alice.jpg` is the person `alice` (the base name). facewatch adds one level of folders:
/// every picture in `known/alice/` is a picture of `alice`. Writers' temporary names (dotfiles,
/// `*.part`, `*.tmp`, `*~`) are skipped like in the inbox; symbolic links and other kinds are skipped.
/// The folder is only read: nothing in it is ever moved, written or removed.
public enum KnownFolder {
    /// One picture found in the folder.
    public struct Entry: Sendable, Equatable {
        /// Relative to the folder: `alice.jpg` or `alice/beach.jpg`.
        public var path: String
        public var person: String
        public var size: Int64
        /// Modification time in seconds since 1970 (with nanoseconds).
        public var modified: Double
    }

    static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Whether `name` is a picture name of the known folder.
    public static func isPicture(_ name: String) -> Bool {
        guard !WriterTemporaryName.matches(name) else { return false }
        return extensions.contains((name as NSString).pathExtension.lowercased())
    }

    /// The person of a picture file name: its name without the extension.
    public static func person(ofFile name: String) -> String {
        (name as NSString).deletingPathExtension
    }

    /// Every picture in `directory` and its subfolders (one level), sorted by path. A missing
    /// folder has none.
    public static func scan(_ directory: String) -> [Entry] {
        var entries: [Entry] = []
        for name in names(in: directory) where !WriterTemporaryName.matches(name) {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let status = FileStatus.lstat(path) else { continue }
            switch status.kind {
            case .regular where isPicture(name):
                entries.append(
                    Entry(path: name, person: person(ofFile: name), size: status.size, modified: seconds(status)))
            case .directory:
                for inner in names(in: path) where isPicture(inner) {
                    let innerPath = (path as NSString).appendingPathComponent(inner)
                    guard let innerStatus = FileStatus.lstat(innerPath), innerStatus.kind == .regular else { continue }
                    entries.append(
                        Entry(
                            path: name + "/" + inner, person: name, size: innerStatus.size,
                            modified: seconds(innerStatus)))
                }
            default:
                continue
            }
        }
        return entries.sorted { $0.path < $1.path }
    }

    /// The subfolders (people with several pictures) of `directory`.
    static func subfolders(_ directory: String) -> [String] {
        names(in: directory).filter { name in
            !WriterTemporaryName.matches(name)
                && FileStatus.lstat((directory as NSString).appendingPathComponent(name))?.kind == .directory
        }
    }

    private static func names(in directory: String) -> [String] {
        ((try? DirectoryReader.stringNames(in: directory)) ?? []).sorted()
    }

    private static func seconds(_ status: FileStatus) -> Double { Double(status.modified) / 1e9 }
}
