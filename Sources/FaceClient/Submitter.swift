import FaceCore
import FaceDaemon
import Foundation

/// `facewatch submit`: puts files into the inbox the way a careful writer does, so the daemon takes
/// each one at once and whole, under a UUID chosen here.
///
/// Each file is copied into the inbox under a hidden temporary name (ignored by the daemon), `fsync`ed,
/// then renamed to `<uuid>.<ext>`, and the inbox directory is `fsync`ed: when `submit` has printed a
/// UUID, the file is durably in the inbox, and the daemon keeps that UUID for it.
public struct Submitter: Sendable {
    /// The inbox directory.
    public let inbox: String

    public init(inbox: String) {
        self.inbox = inbox
    }

    /// One file handed to the daemon.
    public struct Submission: Sendable, Equatable {
        /// The UUID the image will have.
        public var id: UUID
        /// The file given.
        public var source: String
        /// Its name in the inbox.
        public var inboxName: String
    }

    /// The files named by `paths`: files as given, directories walked recursively in name order,
    /// skipping hidden entries and writers' temporary files (`*.part`, `*.tmp`, `*~`). Symbolic links
    /// given on the command line are followed; links met inside a directory are not.
    public static func expand(_ paths: [String]) throws(SubmitError) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw SubmitError("\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                try walk(path, into: &files)
            } else {
                files.append(path)
            }
        }
        return files
    }

    private static func walk(_ directory: String, into files: inout [String]) throws(SubmitError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw SubmitError("\(directory): \(error.localizedDescription)")
        }
        for name in names where !isWriterTemporary(name) {
            let path = (directory as NSString).appendingPathComponent(name)
            var status = stat()
            guard lstat(path, &status) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFDIR: try walk(path, into: &files)
            case S_IFREG: files.append(path)
            default: continue
            }
        }
    }

    /// Names writers use while a file is incomplete: hidden files, `*.part`, `*.tmp`, `*~`.
    public static func isWriterTemporary(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix(".part") || name.hasSuffix(".tmp") || name.hasSuffix("~")
    }

    /// The extension kept in the inbox name: the source's, lowercased, when it is 1 to 8 letters or
    /// digits; none otherwise.
    static func inboxExtension(of path: String) -> String? {
        let ext = (path as NSString).pathExtension.lowercased()
        guard (1...8).contains(ext.count), ext.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            return nil
        }
        return ext
    }

    /// Copies one file into the inbox under a new UUID (or `id`) and returns what was done.
    public func submit(_ path: String, id: UUID = UUID()) throws(SubmitError) -> Submission {
        let name = id.lowercased + (Self.inboxExtension(of: path).map { "." + $0 } ?? "")
        let destination = (inbox as NSString).appendingPathComponent(name)
        // Resolve a symlink named on the command line: the copy takes the file it points to.
        let source = (path as NSString).resolvingSymlinksInPath
        do {
            try DurableFile.copyAtomically(from: source, to: destination, replacing: false)
        } catch {
            throw SubmitError("cannot submit \(path): \(error)")
        }
        return Submission(id: id, source: path, inboxName: name)
    }
}

/// Why a file could not be submitted, in one line.
public struct SubmitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, for a person.
    public var message: String

    /// An error saying `message`.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
