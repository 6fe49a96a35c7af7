import FaceCore
import FaceLedger
import FaceMatch
import Foundation

/// Faces-only forgets (`facewatch forget --person NAME --faces-only`): the photo stays, the faces its
/// labels name as the person go. For each result, one ledger transition (`Ledger.forgetFaces`: the
/// record, its labels, the counters and the counts per person lose those faces, and the result is
/// marked as having a document to rewrite); then its document is rewritten from the record as it
/// now stands and the face table (a cache of every face) is removed. A crash between leaves the mark:
/// `sweep()` rewrites the document at the next forget or daemon start, so the forgotten faces'
/// encodings do not outlive the crash in `results/`.
extension Forgetter {
    /// What one faces-only forget did.
    public struct FacesReport: Sendable, Equatable {
        /// Results that lost faces, with how many, in order.
        public var changed: [ForgottenFaces] = []
        /// Results with no face labelled as the person (or forgotten whole already): unchanged.
        public var untouched: [UUID] = []
        /// Ids the ledger has never known.
        public var unknown: [UUID] = []
        /// Documents that could not be rewritten (their marks stay; the next sweep tries again).
        public var fileErrors: [String] = []

        public init() {}
    }

    /// One result's forgotten faces.
    public struct ForgottenFaces: Sendable, Equatable {
        public var id: UUID
        public var faces: Int

        public init(id: UUID, faces: Int) {
            self.id = id
            self.faces = faces
        }
    }

    /// Forgets the faces of `person` in each of `ids` (one ledger transaction each), then rewrites
    /// their documents. Each changed result gets one line in the audit file (no biometric data).
    ///
    /// - Throws: `LedgerError` when the ledger refuses a write (what was done before stays done;
    ///   documents left to rewrite are rewritten by the next sweep).
    public func forgetFaces(
        _ ids: [UUID], of person: String, reason: String, at now: @Sendable () -> Date = { Date() }
    ) throws(LedgerError) -> FacesReport {
        var report = FacesReport()
        var seen = Set<UUID>()
        for id in ids where seen.insert(id).inserted {
            do throws(LedgerError) {
                let count = try ledger.forgetFaces(id, of: person)
                guard count > 0 else {
                    report.untouched.append(id)
                    continue
                }
                report.changed.append(ForgottenFaces(id: id, faces: count))
                let fields = [
                    LogField.pair("id", id.uuidString.lowercased()), LogField.pair("person", person),
                    LogField.pair("faces", String(count)), LogField.pair("reason", reason),
                ]
                appendAudit(
                    [Timestamp.format(now()), "forgot-faces"] + fields + [LogField.pair("uid", String(getuid()))])
                logger?.notice(
                    "forgot faces",
                    metadata: [
                        "id": "\(id.uuidString.lowercased())", "person": "\(person)", "faces": "\(count)",
                        "reason": "\(reason)",
                    ])
            } catch  where error.code == .notFound {
                if try ledger.tombstone(id) != nil {
                    report.untouched.append(id)
                } else {
                    report.unknown.append(id)
                }
            }
        }
        report.fileErrors = try rewriteDocuments(report.changed.map(\.id)).errors
        return report
    }

    /// Rewrites every document a faces-only forget left pending; returns how many. Without a
    /// document writer, leaves them pending.
    func rewritePendingDocuments() throws(LedgerError) -> Int {
        guard documents != nil else { return 0 }
        var finished = 0
        var failed = Set<UUID>()
        while true {
            let pending = try ledger.documentsToRewrite(limit: Self.batchSize + failed.count).filter {
                !failed.contains($0)
            }
            if pending.isEmpty { return finished }
            let outcome = try rewriteDocuments(pending)
            finished += outcome.done.count
            for error in outcome.errors { logger?.error("cannot rewrite a document after a forget: \(error)") }
            // What could not be rewritten waits for the next sweep; this one does not loop on it.
            failed.formUnion(Set(pending).subtracting(outcome.done))
        }
    }

    /// Removes the face table, rewrites the documents of `ids` from their records and clears their
    /// marks (only for those rewritten, or whose record is gone).
    private func rewriteDocuments(_ ids: [UUID]) throws(LedgerError) -> (done: [UUID], errors: [String]) {
        guard !ids.isEmpty, let documents else { return ([], []) }
        var errors: [String] = []
        var directories: Set<String> = []
        if let error = Self.remove(FaceTableFile.fileName, in: configuration.database, &directories) {
            errors.append(error)
        }
        for directory in directories {
            do throws(FileSystemError) {
                try DurableFile.syncDirectory(directory)
            } catch {
                errors.append("\(error)")
            }
        }
        var done: [UUID] = []
        for id in ids {
            guard let record = try ledger.record(id) else {
                done.append(id)
                continue
            }
            // No document here: with a shared ledger it is on the host whose results hold it (that
            // host's sweep rewrites it); on a root of its own, a missing document is written from the
            // record, as it now stands, at the daemon's next start.
            if access(ResultFiles.path(for: id, in: configuration.results), F_OK) != 0 {
                if !configuration.ledgerIsShared { done.append(id) }
                continue
            }
            do {
                try documents(record, ledger)
                done.append(id)
            } catch {
                errors.append("\(ResultFiles.path(for: id, in: configuration.results)): \(error)")
            }
        }
        try ledger.documentsRewritten(done)
        return (done, errors)
    }
}
