import FaceCore
import FaceLedger
import FaceMatch
import Foundation
import Logging

/// Forgets images everywhere: for each, one ledger transition (`Ledger.forget`: the record becomes a
/// tombstone, counters and tallies lose what it added), then its files: the stored original, the
/// result document, the report thumbnails, and the face table (`db/face-table.f32`, a cache of every
/// face, rebuilt by the next `facewatch match`). Files go after the commit, so a crash between leaves
/// a tombstone whose files remain (`filesPending`): `sweep()` removes them, at every daemon start and
/// before every `facewatch forget`. Removing a file that is already gone is no error, so a sweep may
/// repeat a removal any number of times.
///
/// Each forgotten image gets one line in `ROOT/forgotten.log` (the audit): when, its id, its inbox
/// name, when it came and why it was forgotten. No encoding or digest is ever written there.
public struct Forgetter: Sendable {
    /// What one call did.
    public struct Report: Sendable, Equatable {
        /// Images forgotten by this call, in order.
        public var forgotten: [Tombstone] = []
        /// Ids that were forgotten before (their tombstones are unchanged).
        public var alreadyForgotten: [UUID] = []
        /// Ids the ledger has never known.
        public var unknown: [UUID] = []
        /// Files that could not be removed (their tombstones stay pending; the next sweep tries again).
        public var fileErrors: [String] = []

        public init() {}
    }

    /// Rewrites a result's document from its record as it stands, matches included (the daemon's
    /// `ResultsWriter`): what a faces-only forget needs, since the document must lose the faces.
    public typealias DocumentWriter = @Sendable (_ record: LedgerRecord, _ ledger: any Ledger) throws -> Void

    public let configuration: DaemonConfiguration
    public let ledger: any Ledger
    let logger: Logger?
    /// Nil: documents of faces-only forgets are left pending (for a forgetter that has a writer).
    let documents: DocumentWriter?

    /// Tombstones whose files are removed between two ledger writes that clear their pending mark.
    static let batchSize = 64

    public init(
        configuration: DaemonConfiguration, ledger: any Ledger, logger: Logger? = nil, documents: DocumentWriter? = nil
    ) {
        self.configuration = configuration
        self.ledger = ledger
        self.logger = logger
        self.documents = documents
    }

    /// The audit file: one line per forgotten image.
    public static func auditLog(root: String) -> String {
        (root as NSString).appendingPathComponent("forgotten.log")
    }

    /// Forgets `ids`, one ledger transaction each, removing their files after each batch of commits.
    ///
    /// - Throws: `LedgerError` when the ledger refuses a write (what was forgotten before stays
    ///   forgotten; its files are removed by the next sweep).
    public func forget(_ ids: [UUID], reason: String, at now: @Sendable () -> Date = { Date() }) throws(LedgerError)
        -> Report
    {
        var report = Report()
        var seen = Set<UUID>()
        let unique = ids.filter { seen.insert($0).inserted }
        for start in stride(from: 0, to: unique.count, by: Self.batchSize) {
            var batch: [Tombstone] = []
            for id in unique[start..<min(start + Self.batchSize, unique.count)] {
                if let existing = try ledger.tombstone(id) {
                    report.alreadyForgotten.append(id)
                    if existing.filesPending { batch.append(existing) }
                    continue
                }
                do throws(LedgerError) {
                    let tombstone = try ledger.forget(id, reason: reason, at: now())
                    batch.append(tombstone)
                    report.forgotten.append(tombstone)
                    audit(tombstone)
                } catch  where error.code == .notFound {
                    report.unknown.append(id)
                }
            }
            report.fileErrors += try removeFiles(of: batch)
        }
        return report
    }

    /// Removes the files of every tombstone still marked pending, and (with a document writer)
    /// rewrites the documents faces-only forgets left pending; returns how many were finished.
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read or written.
    @discardableResult
    public func sweep() throws(LedgerError) -> Int {
        try rewritePendingDocuments() + sweepTombstones()
    }

    private func sweepTombstones() throws(LedgerError) -> Int {
        var finished = 0
        var failed = Set<UUID>()
        while true {
            let pending = try ledger.tombstonesWithFiles(limit: Self.batchSize + failed.count).filter {
                !failed.contains($0.id)
            }
            if pending.isEmpty { return finished }
            let errors = try removeFiles(of: pending)
            if errors.isEmpty {
                finished += pending.count
            } else {
                // What could not be removed waits for the next sweep; this one does not loop on it.
                for error in errors { logger?.error("cannot remove a forgotten image's file: \(error)") }
                failed.formUnion(pending.map(\.id))
            }
        }
    }

    /// Removes the files of `tombstones`, makes the removals durable, then clears their pending
    /// marks (only for those whose files are all gone). Returns the errors.
    private func removeFiles(of tombstones: [Tombstone]) throws(LedgerError) -> [String] {
        guard !tombstones.isEmpty else { return [] }
        var errors: [String] = []
        var done: [UUID] = []
        var directories: Set<String> = []
        // The face table holds every completed face: any forget makes it stale, and it must not keep
        // the forgotten rows' bytes.
        if let error = Self.remove(FaceTableFile.fileName, in: configuration.database, &directories) {
            errors.append(error)
        }
        if let error = FaceTableFile.removeCached(in: (configuration.root as NSString).appendingPathComponent("cache"))
        {
            errors.append(error)
        }
        for tombstone in tombstones {
            var clean = true
            for path in files(of: tombstone) {
                if let error = Self.remove(
                    DurableFile.baseName(of: path), in: DurableFile.parentDirectory(of: path), &directories)
                {
                    errors.append(error)
                    clean = false
                }
            }
            if clean { done.append(tombstone.id) }
        }
        for directory in directories {
            do throws(FileSystemError) {
                try DurableFile.syncDirectory(directory)
            } catch {
                errors.append("\(error)")
                return errors
            }
        }
        try ledger.forgottenFilesRemoved(done)
        return errors
    }

    /// Every file facewatch made of a forgotten image.
    func files(of tombstone: Tombstone) -> [String] {
        let id = tombstone.id
        let name = id.uuidString.lowercased()
        let location = StoreLocation(root: configuration.root, store: configuration.store)
        var paths = [
            location.locate(id: id, recorded: tombstone.storePath),
            ResultFiles.path(for: id, in: configuration.results),
        ]
        var reports = [(configuration.root as NSString).appendingPathComponent("report")]
        if let report = configuration.report { reports.append(report) }
        for report in Set(reports) {
            paths.append(
                ((report as NSString).appendingPathComponent("thumbs") as NSString).appendingPathComponent(
                    name + ".jpg"))
            // The People page's pictures cut from this photo: `people/<uuid>-<face>.jpg`.
            let people = (report as NSString).appendingPathComponent("people")
            for picture in (try? FileManager.default.contentsOfDirectory(atPath: people)) ?? []
            where picture.hasPrefix(name + "-") {
                paths.append((people as NSString).appendingPathComponent(picture))
            }
        }
        return paths
    }

    /// Unlinks `name` in `directory` (gone already is fine); on success notes the directory to sync.
    static func remove(_ name: String, in directory: String, _ directories: inout Set<String>) -> String? {
        let path = (directory as NSString).appendingPathComponent(name)
        if unlink(path) == 0 {
            directories.insert(directory)
            return nil
        }
        let code = errno
        if code == ENOENT || code == ENOTDIR { return nil }
        return "\(path): \(systemErrorText(code))"
    }

    /// Appends the audit line of `tombstone` (best effort: the tombstone in the ledger is the record
    /// that counts; a line that cannot be written is logged).
    private func audit(_ tombstone: Tombstone) {
        appendAudit([
            Timestamp.format(tombstone.forgottenAt), "forgot",
            LogField.pair("id", tombstone.id.uuidString.lowercased()),
            LogField.pair("name", tombstone.name), LogField.pair("created", Timestamp.format(tombstone.createdAt)),
            LogField.pair("reason", tombstone.reason), LogField.pair("uid", String(getuid())),
        ])
        logger?.notice(
            "forgot",
            metadata: [
                "id": "\(tombstone.id.uuidString.lowercased())", "name": "\(tombstone.name)",
                "reason": "\(tombstone.reason)",
            ]
        )
    }

    /// Appends one line of `fields` to the audit file.
    func appendAudit(_ fields: [String]) {
        let line = fields.joined(separator: " ") + "\n"
        let path = Self.auditLog(root: configuration.root)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else {
            logger?.error("cannot append to \(path): \(systemErrorText(errno))")
            return
        }
        defer { close(fd) }
        // Run as root for the service user's root: the file stays the root directory owner's, so the
        // daemon (retention) can append to it too.
        var rootStatus = stat()
        var fileStatus = stat()
        if getuid() == 0, stat(configuration.root, &rootStatus) == 0, fstat(fd, &fileStatus) == 0,
            fileStatus.st_uid != rootStatus.st_uid
        {
            _ = fchown(fd, rootStatus.st_uid, rootStatus.st_gid)
        }
        let bytes = Array(line.utf8)
        if write(fd, bytes, bytes.count) != bytes.count {
            logger?.error("cannot append to \(path): \(systemErrorText(errno))")
        }
    }
}
