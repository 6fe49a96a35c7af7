import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging

/// Startup repairs: makes the store, the ledger and the result documents agree after any crash.
///
/// LMDB is the truth; the store holds the originals; documents are views. After `kill -9` at any
/// point of the crash-safety order:
/// - a file renamed into the store whose `created` record was never committed is an orphan: it gets
///   a `created` record now (its source name is the stored file's name, since the inbox name is lost)
///   — or a failed `not_a_regular_file` one if it is not a regular file;
/// - `created` records are simply still in the ledger's queue: the pipeline takes them again;
/// - a final record whose document is missing, unreadable or older than the record gets it rewritten.
///
/// With a shared ledger and store (several daemons), a store file without a record is an orphan only
/// when its intake intent is this daemon's or a dead daemon's: another daemon's batch may be
/// between its rename and its commit.
public struct Reconciler: Sendable {
    let ledger: any Ledger
    let store: Store
    let location: StoreLocation
    let results: ResultsWriter
    let logger: Logger

    public init(ledger: any Ledger, store: Store, location: StoreLocation, results: ResultsWriter, logger: Logger) {
        self.ledger = ledger
        self.store = store
        self.location = location
        self.results = results
        self.logger = logger
    }

    /// What a reconciliation found.
    public struct Report: Sendable, Equatable {
        /// Store files that had no record and got one.
        public var orphansRecorded = 0
        /// Of those, entries failed as `not_a_regular_file`.
        public var orphansFailed = 0
        /// Result documents written again.
        public var documentsRewritten = 0
        /// Result documents that could not be written.
        public var documentsFailed = 0
        /// Final records checked.
        public var finalRecords = 0
    }

    /// Gives every store file without a record a record. Run before the inbox is watched (the store
    /// must not change meanwhile). Returns the records made final (to publish their documents).
    public func recordOrphans(report: inout Report) throws -> [LedgerRecord] {
        // The intake intents name the orphans that were renamed in just before a crash; every other
        // intent is of a file that never reached the store (it is still in the inbox, taken again).
        let intents = try ledger.intents()
        var orphans: [StoredFile] = []
        if ledger.isShared {
            // A shared store: a file without a record may be another daemon's, renamed in by a
            // batch it has not committed yet. Only files whose intent this daemon may settle (its
            // own previous run's, or a dead run's: `intents()` shows no live daemon's) are orphans,
            // so the intents are looked up instead of scanning a store every host writes to.
            for id in intents.keys.sorted(by: { $0.uuidString < $1.uuidString }) {
                if let file = store.find(id), try !ledger.contains(id), try ledger.tombstone(id) == nil {
                    orphans.append(file)
                }
            }
        } else {
            // A forgotten image's file left by a forget cut short is no orphan: it is never recorded
            // again (`Forgetter.sweep` removes it).
            for file in try store.scan() where try !ledger.contains(file.id) && ledger.tombstone(file.id) == nil {
                orphans.append(file)
            }
        }
        defer {
            do {
                try ledger.dropIntents(Array(intents.keys))
            } catch {
                logger.warning("cannot drop intake intents: \(error)")
            }
        }
        guard !orphans.isEmpty else { return [] }
        let now = Date()
        var finals: [LedgerRecord] = []
        for chunk in stride(from: 0, to: orphans.count, by: 256).map({
            Array(orphans[$0..<min($0 + 256, orphans.count)])
        }) {
            var records: [LedgerRecord] = []
            for file in chunk {
                let intent = intents[file.id]
                let name = intent?.name ?? DurableFile.baseName(of: file.path)
                let facts = file.intakeFacts(logger: logger)
                records.append(
                    LedgerRecord(
                        id: file.id,
                        source: SourceInfo(name: name, bytes: facts.bytes, sha256: SourceInfo.unknownSHA256),
                        storePath: location.recordedPath(for: file.path), createdAt: intent?.takenAt ?? now,
                        image: facts.image))
            }
            try ledger.insertCreated(records)
            for (file, record) in zip(chunk, records) {
                logger.notice(
                    "recorded orphan", metadata: ["id": "\(file.id.lowercased)", "name": "\(record.source.name)"]
                )
                report.orphansRecorded += 1
                if file.kind != .regular {
                    let failure = Failure(
                        .notARegularFile, "\(record.source.name) is \(Ingestor.describe(file.kind)), not a regular file"
                    )
                    finals.append(try ledger.fail(file.id, failure, completedAt: now, duration: 0))
                    report.orphansFailed += 1
                }
            }
        }
        return finals
    }

    /// Rewrites the document of every final record whose file is missing or stale. Streams the ledger
    /// in constant memory; safe to run while the pipeline works (both write whole documents of the
    /// same final record). Returns early, with what it did so far in `report`, once `stop` says so
    /// (checked before each record: a daemon shutting down does not wait for a large results folder).
    public func rewriteDocuments(report: inout Report, stop: () -> Bool = { false }) throws {
        var rewritten = 0
        var checked = 0
        var failed = 0
        defer {
            report.documentsRewritten += rewritten
            report.documentsFailed += failed
            report.finalRecords += checked
        }
        try ledger.forEachRecord { record in
            if stop() { throw CancellationError() }
            guard record.status != .created else { return }
            checked += 1
            guard !documentLooksCurrent(record) else { return }
            do {
                try results.write(record)
                rewritten += 1
            } catch {
                failed += 1
                logger.error("cannot rewrite result: \(error)", metadata: ["id": "\(record.id.lowercased)"])
            }
        }
    }

    /// Cheap check first: a whole document (it starts with `{`, ends with `}` and names the record)
    /// written after the record became final is current — documents are only written for final
    /// records — unless it names known people (they change after the record did). Anything else is
    /// parsed and compared.
    func documentLooksCurrent(_ record: LedgerRecord) -> Bool {
        let path = results.path(for: record.id)
        var status = stat()
        guard stat(path, &status) == 0, status.st_size > 0,
            let data = FileManager.default.contents(atPath: path)
        else { return false }
        let whitespace: Set<UInt8> = [0x20, 0x0A, 0x0D, 0x09]
        guard data.first(where: { !whitespace.contains($0) }) == UInt8(ascii: "{"),
            data.last(where: { !whitespace.contains($0) }) == UInt8(ascii: "}"),
            data.range(of: Data(record.id.lowercased.utf8)) != nil
        else { return false }
        if let completed = record.completedAt, !results.carriesLabels(record) {
            let modified = Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) * 1e-9
            if modified >= completed.timeIntervalSince1970 { return true }
        }
        return results.isCurrent(record)
    }

    /// Deletes temporary files a crash left in the results directory (`.…tmp`).
    public func removeTemporaryDocuments() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: results.directory) else { return }
        for name in names where DurableFile.isTemporaryName(name) {
            unlink((results.directory as NSString).appendingPathComponent(name))
        }
    }
}
