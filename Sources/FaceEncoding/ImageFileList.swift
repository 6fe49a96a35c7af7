import FaceCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns the paths given on a command line into the list of files to encode.
public enum ImageFileList {
    /// True for names writers use while a file is incomplete, and hidden files: dotfiles, `*.part`,
    /// `*.tmp` and `*~` (DESIGN.md, "On disk").
    public static func isIgnored(name: String) -> Bool {
        WriterTemporaryName.matches(name)
    }

    /// Every path in order: a file (or anything that is not a directory) as given, a directory
    /// replaced by the files under it, recursively, sorted by name within each directory, skipping
    /// ignored names (`isIgnored`) and not following symbolic links to directories. A path that
    /// does not exist is kept, so that its failure is reported. A directory that cannot be listed is
    /// kept too (reading it fails with `not_a_regular_file`).
    public static func expand(_ paths: [String]) -> [String] {
        var files: [String] = []
        for path in paths {
            if isDirectory(path, followLinks: true) {
                walk(path, into: &files)
            } else {
                files.append(path)
            }
        }
        return files
    }

    private static func walk(_ directory: String, into files: inout [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            files.append(directory)
            return
        }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        where !isIgnored(name: name) {
            let path = prefix + name
            if isDirectory(path, followLinks: false) {
                walk(path, into: &files)
            } else if isSymbolicLink(path), isDirectory(path, followLinks: true) {
                continue  // a link to a directory: not followed (no loops, no surprises)
            } else {
                files.append(path)
            }
        }
    }

    private static func isDirectory(_ path: String, followLinks: Bool) -> Bool {
        var status = stat()
        let result = followLinks ? stat(path, &status) : lstat(path, &status)
        return result == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    private static func isSymbolicLink(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFLNK
    }
}
