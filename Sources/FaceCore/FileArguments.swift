import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Turns the paths given on a command line (`encode`, `submit`) into the list of files they name.
public enum FileArguments {
    /// Every path in order: a file (or anything that is not a directory) as given, a directory
    /// replaced by the files under it, recursively, sorted by the bytes of their names within each
    /// directory, skipping writers' temporary names (`WriterTemporaryName`). A symbolic link named on
    /// the command line is followed; one met inside a directory is not (no loops, nothing outside the
    /// folder). A path that does not exist, or a directory that cannot be listed, is kept, so that
    /// the caller reports its failure.
    public static func expand(_ paths: [String]) -> [String] {
        var files: [String] = []
        for path in paths {
            if kind(path, followLinks: true) == S_IFDIR {
                walk(path, into: &files)
            } else {
                files.append(path)
            }
        }
        return files
    }

    /// The first of `paths` that names nothing (not even a dangling link), or nil.
    public static func firstMissing(_ paths: [String]) -> String? {
        paths.first { kind($0, followLinks: false) == nil }
    }

    private static func walk(_ directory: String, into files: inout [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            files.append(directory)
            return
        }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        where !WriterTemporaryName.matches(name) {
            let path = prefix + name
            switch kind(path, followLinks: false) {
            case S_IFDIR: walk(path, into: &files)
            case S_IFLNK, nil: continue
            default: files.append(path)
            }
        }
    }

    /// The `S_IFMT` bits of `path`, or nil when it cannot be `stat`ed.
    private static func kind(_ path: String, followLinks: Bool) -> mode_t? {
        var status = stat()
        let result = followLinks ? stat(path, &status) : lstat(path, &status)
        return result == 0 ? status.st_mode & S_IFMT : nil
    }
}
