import FaceCore
import FaceRoot
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
        /// Lowercase hex SHA-256 of the bytes copied into the inbox.
        public var sha256: String
    }

    /// Nil when `document` is the result of the bytes `submission` sent, else why not. A waiting
    /// client prints only its own results: a result of other bytes under the submitted UUID (another
    /// member's file that took that name) is refused, never shown as this file's.
    public static func mismatch(_ document: ResultDocument, for submission: Submission) -> String? {
        let got = document.source?.sha256 ?? ""
        if got == submission.sha256 { return nil }
        return "the result \(submission.id.lowercased) is not of \(submission.source): its content has SHA-256 "
            + (got.isEmpty ? "unknown (never read)" : got) + ", the file sent has \(submission.sha256)"
    }

    /// The files named by `paths` (`FileArguments.expand`: directories walked in name order,
    /// writers' temporary names skipped, links inside a directory not followed).
    /// - Throws: `ClientError` naming the first path that does not exist.
    public static func expand(_ paths: [String]) throws(ClientError) -> [String] {
        if let missing = FileArguments.firstMissing(paths) {
            throw ClientError("\(missing): no such file or directory")
        }
        return FileArguments.expand(paths)
    }

    /// The extension kept in the inbox name: the source's, cleaned (`FileExtension.sanitized`),
    /// unless it would make the name a writer's temporary one (`photo.tmp`, `x.part`), which the
    /// inbox ignores: the name `submit` gives is always one the daemon takes.
    static func inboxExtension(of path: String) -> String? {
        guard let ext = FileExtension.sanitized((path as NSString).pathExtension),
            !WriterTemporaryName.matches("x." + ext)
        else { return nil }
        return ext
    }

    /// Copies one file into the inbox under a new UUID (or `id`) and returns what was done.
    public func submit(_ path: String, id: UUID = UUID()) throws(ClientError) -> Submission {
        let name = id.lowercased + (Self.inboxExtension(of: path).map { "." + $0 } ?? "")
        let destination = (inbox as NSString).appendingPathComponent(name)
        // Resolve a symlink named on the command line: the copy takes the file it points to.
        let source = (path as NSString).resolvingSymlinksInPath
        let sha256: String
        do {
            sha256 = try DurableFile.copyAtomically(from: source, to: destination, replacing: false)
        } catch {
            throw ClientError("cannot submit \(path): \(error)")
        }
        return Submission(id: id, source: path, inboxName: name, sha256: sha256)
    }
}
