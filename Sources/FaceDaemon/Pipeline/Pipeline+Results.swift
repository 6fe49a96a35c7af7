import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceRoot
import Foundation
import Logging
import Synchronization

// What happens after a record's work: errors that pass (retried later), result documents (written,
// or owed until the results directory is back), and the log line of each final record.

extension Pipeline {
    /// Why a failure is not the file's final result (nil when it is): a transient `errno`, or a
    /// file missing while a root directory is away.
    func transientCause(_ failure: Failure) async -> (cause: String, rootAway: Bool)? {
        if TransientRetry.isTransient(failure) { return (failure.message, false) }
        guard failure.code == .ioError, failure.systemError == ENOENT else { return nil }
        let watch = self.watch
        return await BlockingIO.run { watch.recheck() }.map { ($0, true) }
    }

    /// Leaves a record `created` and takes it again after the backoff (a second while a root
    /// directory is away: nothing starts before it is back anyway). Its attempt marker is withdrawn,
    /// so that a death while it waits is not charged to it.
    func retryLater(_ id: UUID, because cause: String, rootAway: Bool) async {
        let retry = rootAway ? retries[id, default: 0] : retries[id, default: 0] + 1
        retries[id] = retry
        let delay =
            (rootAway ? TransientRetry.delay(retry: 1) : TransientRetry.delay(retry: retry)) * TestHooks.retryTimeScale
        let ledger = self.ledger
        let withdrawn = await BlockingIO.runCatching { () throws(LedgerError) in try ledger.withdrawAttempt(id) }
        if case .failure(let error) = withdrawn {
            logger.error("cannot withdraw the attempt marker: \(error)", metadata: ["id": "\(id.lowercased)"])
        }
        logger.warning(
            "not recorded, tried again later: \(cause)",
            metadata: [
                "id": "\(id.lowercased)", "retry": "\(retry)",
                "in": "\(String(format: delay < 1 ? "%.2fs" : "%.0fs", delay))",
            ]
        )
        finished(id, retryAfter: delay)
    }

    /// Final records whose document is not written yet.
    public var owedDocumentCount: Int { owedDocuments.count + uncertainCommits.count }

    /// Writes the documents owed (see `publish`) and those of records whose commit's outcome was
    /// unknown and that are final; called once a second while the root is in place.
    public func writeOwedDocuments() async {
        guard watch.pausedReason == nil else { return }
        await resolveUncertainCommits()
        guard !owedDocuments.isEmpty else { return }
        let (ledger, results, ids) = (self.ledger, self.results, owedDocuments)
        let written = await BlockingIO.run { () -> [UUID] in
            ids.filter { id in
                guard let record = try? ledger.record(id) else { return false }
                return (try? results.write(record)) != nil
            }
        }
        owedDocuments.subtract(written)
        if !written.isEmpty {
            logger.notice("wrote result documents owed", metadata: ["count": "\(written.count)"])
        }
    }

    /// Reads back the records of `uncertainCommits`: a final one is published (its commit happened),
    /// a `created` one is left to the queue (it did not); one the ledger cannot tell yet stays.
    func resolveUncertainCommits() async {
        guard !uncertainCommits.isEmpty else { return }
        let (ledger, ids) = (self.ledger, Array(uncertainCommits.keys))
        let found = await BlockingIO.run { () -> [(UUID, LedgerRecord?)] in
            ids.compactMap { id in
                do throws(LedgerError) {
                    return (id, try ledger.record(id))
                } catch {
                    return nil
                }
            }
        }
        for (id, record) in found {
            guard let finish = uncertainCommits.removeValue(forKey: id) else { continue }
            guard let record, record.status != .created else { continue }
            parked[id] = nil
            logger.notice(
                "the commit's reply was lost but the ledger has it: writing the result",
                metadata: ["id": "\(id.lowercased)"]
            )
            await publish(FinalResult(record: record, how: finish.how, encodeSeconds: finish.seconds))
        }
    }

    /// Writes the document of a final record, logs it and tells `onFinal`. While a root directory
    /// is away (or when the write fails) the document is owed: written once possible.
    func publish(_ result: FinalResult) async {
        let (results, watch) = (self.results, self.watch)
        let record = result.record
        let written = await BlockingIO.run { () -> String? in
            if let reason = watch.pausedReason { return reason }
            do throws(FileSystemError) {
                try results.write(record)
                return nil
            } catch {
                return error.description
            }
        }
        if let written {
            owedDocuments.insert(record.id)
            logger.error(
                "result document not written yet (written again once possible): \(written)",
                metadata: ["id": "\(record.id.lowercased)"]
            )
        }
        Self.log(result, logger)
        activityBox.state.withLock { $0.finished += 1 }
        onFinal(result)
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// Logs a final record: `completed` or `failed` with its id, name and what became of it.
    static func log(_ result: FinalResult, _ logger: Logger) {
        let record = result.record
        var metadata: Logger.Metadata = ["id": "\(record.id.lowercased)", "name": "\(record.source.name)"]
        if record.status == .completed {
            metadata["faces"] = "\(record.faces.count)"
            if result.how == .deduplicated {
                metadata["dedup"] = "true"
            } else {
                metadata["seconds"] = "\(String(format: "%.3f", result.encodeSeconds))"
            }
            logger.info("completed", metadata: metadata)
        } else {
            metadata["code"] = "\(record.error?.code.rawValue ?? "unknown")"
            metadata["message"] = "\(record.error?.message ?? "")"
            logger.warning("failed", metadata: metadata)
        }
    }
}
