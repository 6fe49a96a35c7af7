import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceRoot
import Foundation
import Logging
import Synchronization

// One record's way through the pipeline: the plan read from the ledger, the work on an encoder
// worker, and the final commit.

extension Pipeline {
    /// What to do with a record, decided from its stored state.
    enum Plan: Sendable {
        /// Nothing: it is no longer `created` (or no longer exists).
        case nothing
        /// Already made final here (crashed, not a regular file): write its document.
        case finalized(FinalResult)
        /// Encode the file at this path.
        case encode(LedgerRecord, path: String)
        /// A ledger error: leave the record for later.
        case park(LedgerError)
    }

    /// Outcome of the work done on an encoder worker.
    enum WorkerOutcome: Sendable {
        /// Encoded (or failed before: `source` is nil when the bytes could not be read).
        case encoded(Result<EncodedImage, Failure>, seconds: Double, attempt: Int, source: SourceInfo?)
        /// A completed record with the same bytes lends its image and faces.
        case deduplicated(image: ImageInfo, faces: [Face], source: SourceInfo)
        /// Encoded, and its final commit made on the worker (`committed`).
        case committed(Result<LedgerRecord, LedgerError>, seconds: Double, attempt: Int)
        case ledgerError(LedgerError)
    }

    /// Carries the record to its end; `known`: the record as the queue's read found it (nil: read
    /// here); `fresh`: one the intake just committed (see `TakenRecord`), which is encoded with no
    /// plan of its own: it has no deaths, and its file's kind was checked at its intake; `commit`:
    /// the intake's commit of a fresh record offered before it, waited for before the claim.
    func process(
        _ id: UUID, solo: Bool = false, known: LedgerRecord? = nil, fresh: Bool = false, commit: IntakeCommit? = nil
    ) async {
        let ledger = self.ledger
        let settings = self.settings
        let location = self.location
        let plan: Plan
        if fresh, let known, known.status == .created, known.attempts == 0 {
            plan = .encode(known, path: location.absolutePath(forRecorded: known.storePath))
        } else {
            plan = await BlockingIO.run {
                Self.plan(id, known: known, ledger: ledger, settings: settings, location: location)
            }
        }
        switch plan {
        case .nothing:
            finished(id, taken: false)
        case .park(let error):
            logger.error("cannot process: \(error)", metadata: ["id": "\(id.lowercased)"])
            finished(id, park: true)
        case .finalized(let result):
            await publish(result)
            finished(id)
        case .encode(let record, let path):
            // Memory first: the image waits here, holding no worker, until its estimate fits.
            let cost = MemoryBudget.cost(
                image: record.image, fileBytes: record.source.bytes, upsample: settings.upsample,
                maxPixels: settings.limits.maxPixels, detector: settings.detector)
            stats?.markDirty()
            let reservation = await memory.reserve(cost)
            stats?.markDirty()
            defer {
                memory.release(reservation)
                stats?.markDirty()
            }
            let limits = settings.limits
            let dedup = settings.dedup
            let keepLandmarks = settings.keepLandmarks
            let activity = self.activityBox
            let logger = self.logger
            let incarnation = self.incarnation
            // The pool in force now (a reload may have replaced the one in force when `id` was taken).
            let pool = self.pool
            let poolKey = ObjectIdentifier(pool)
            jobsByPool[poolKey, default: 0] += 1
            // A suspect decodes alone in the process, known pictures and thumbnails included.
            let gate: DecodeGate.Mode = solo ? .alone : .beside
            await DecodeGate.shared.enter(gate)
            let outcome = await pool.perform { engine -> WorkerOutcome in
                activity.state.withLock { $0.started[id] = ActivityTracker.Start(date: Date(), instant: .now) }
                defer {
                    let end = ContinuousClock.now
                    activity.state.withLock { state in
                        if let start = state.started.removeValue(forKey: id) {
                            state.busySeconds += Self.seconds(end - start.instant)
                        }
                    }
                }
                // One read: these bytes are hashed, looked up for dedup, and encoded.
                let read = Self.read(path, name: record.source.name, maxBytes: limits.maxBytes)
                // Offered before its commit: nothing is asked of the ledger, or written to it, until
                // the record is there.
                if let commit, !commit.waitCommitted(id) {
                    return .ledgerError(
                        LedgerError(.notFound, "record \(id.lowercased) was not committed by the intake"))
                }
                let content: FileContent
                switch read {
                case .failure(let failure):
                    return .encoded(.failure(failure), seconds: 0, attempt: record.attempts, source: nil)
                case .success(let read):
                    content = read
                }
                let source = SourceInfo(
                    name: record.source.name, bytes: Int64(content.bytes.count), sha256: content.sha256)
                let attempt: Int
                do throws(LedgerError) {
                    switch try ledger.claimUnlessDuplicate(
                        id, sha256: content.sha256, dedup: dedup, incarnation: incarnation, solo: solo)
                    {
                    case .duplicate(let image, let faces):
                        return .deduplicated(image: image, faces: faces, source: source)
                    case .claimed(let count):
                        attempt = count
                    }
                } catch {
                    return .ledgerError(error)
                }
                TestHooks.poisonIfAsked(name: record.source.name)
                if let injected = TestHooks.injectedReadFailure(name: record.source.name) {
                    return .encoded(.failure(injected), seconds: 0, attempt: attempt, source: nil)
                }
                logger.debug(
                    "encoding", metadata: ["id": "\(id.lowercased)", "attempt": "\(attempt)"])
                TestHooks.holdClaimIfAsked(id: id, name: record.source.name)
                let start = ContinuousClock.now
                let result =
                    TestHooks.injectedOutOfMemory(name: record.source.name)
                    ?? engine.encode(bytes: content.bytes, limits: limits)
                let seconds = Self.seconds(ContinuousClock.now - start)
                // An encode that succeeded is final as it stands: committed here, before the worker
                // hands the record back, so that the commit does not wait for the pipeline's turn
                // and a blocking-I/O thread first. A failure goes back (it may be one that passes).
                if case .success(let encoded) = result {
                    let kept = keepLandmarks ? encoded : encoded.withoutLandmarks
                    let committed = Self.commit(
                        record, .success(kept), seconds: seconds, source: source, ledger: ledger)
                    return .committed(committed, seconds: seconds, attempt: attempt)
                }
                return .encoded(result, seconds: seconds, attempt: attempt, source: source)
            }
            // A record run alone keeps the gate until its attempt's marker is gone (its final commit,
            // or the marker withdrawn): a decode admitted earlier could crash the process before that
            // commit and have the death charged to this record.
            if !solo { await DecodeGate.shared.leave(gate) }
            jobsByPool[poolKey, default: 1] -= 1
            if jobsByPool[poolKey] == 0 {
                jobsByPool[poolKey] = nil
                for waiter in poolWaiters.removeValue(forKey: poolKey) ?? [] { waiter.resume() }
            }
            guard let outcome else {
                // The pool was shut down before the job started: the record stays `created`.
                if solo { await DecodeGate.shared.leave(gate) }
                finished(id)
                return
            }
            switch outcome {
            case .ledgerError(let error) where error.code == .invalidTransition || error.code == .notFound:
                finished(id, taken: false)
            case .ledgerError(let error):
                logger.error("cannot start: \(error)", metadata: ["id": "\(id.lowercased)"])
                finished(id, park: true)
            case .deduplicated(let image, let faces, let source):
                let committed = await BlockingIO.runCatching { () throws(LedgerError) in
                    try ledger.complete(
                        id, image: image, faces: faces, completedAt: Date(), duration: 0, source: source)
                }
                await settle(id, committed, how: .deduplicated, seconds: 0)
            case .committed(let committed, let seconds, let attempt):
                _ = outOfMemoryTries.settle(id, Result<Void, Failure>.success(()))
                logRetry(id, attempt: attempt)
                retries[id] = nil
                await settle(id, committed, how: .encoded, seconds: seconds)
            case .encoded(let tried, let seconds, let attempt, let source):
                let result = outOfMemoryTries.settle(id, tried)
                logRetry(id, attempt: attempt)
                if case .failure(let failure) = result, let why = await transientCause(failure) {
                    await retryLater(id, because: why.cause, rootAway: why.rootAway)
                    if solo { await DecodeGate.shared.leave(gate) }
                    return
                }
                retries[id] = nil
                let kept = settings.keepLandmarks ? result : result.map(\.withoutLandmarks)
                let committed = await BlockingIO.run {
                    Self.commit(record, kept, seconds: seconds, source: source, ledger: ledger)
                }
                await settle(id, committed, how: .encoded, seconds: seconds)
            }
            if solo { await DecodeGate.shared.leave(gate) }
        }
    }

    /// Logs a record encoded on an attempt after its first.
    func logRetry(_ id: UUID, attempt: Int) {
        guard attempt > 1 else { return }
        logger.notice("retried", metadata: ["id": "\(id.lowercased)", "attempt": "\(attempt)"])
    }

    /// Publishes a committed final record, or parks the record after an unexpected ledger error.
    func settle(
        _ id: UUID, _ committed: Result<LedgerRecord, LedgerError>, how: FinalResult.How, seconds: Double
    )
        async
    {
        switch committed {
        case .success(let final):
            await publish(FinalResult(record: final, how: how, encodeSeconds: seconds))
            finished(id)
        case .failure(let error) where error.code == .invalidTransition || error.code == .notFound:
            finished(id)
        case .failure(let error):
            logger.error("cannot commit: \(error)", metadata: ["id": "\(id.lowercased)"])
            uncertainCommits[id] = (how, seconds)
            finished(id, park: true)
        }
    }

    /// The stored file's bytes, read once (`FileContent`): opened without following a symlink and
    /// without blocking on a fifo, refused unless it is a regular file.
    static func read(_ path: String, name: String, maxBytes: Int) -> Result<FileContent, Failure> {
        ImageFile.open(path, name: name, followingSymlinks: false).flatMap { fd in
            defer { close(fd) }
            return FileContent.read(descriptor: fd, name: name, maxBytes: maxBytes)
        }
    }

    /// Reads the record (unless `known`, as the queue's read found it: the claim checks it again)
    /// and decides; commits the `crashed` and deduplicated cases itself.
    static func plan(
        _ id: UUID, known: LedgerRecord? = nil, ledger: any Ledger, settings: PipelineSettings, location: StoreLocation
    ) -> Plan {
        do {
            var found = known
            if found == nil { found = try ledger.record(id) }
            guard let record = found, record.status == .created else { return .nothing }
            let now = Date()
            // Only an attempted record can have been charged a death: no second read for the others.
            let deaths = record.attempts > 0 ? try ledger.deaths(id) : Deaths()
            if deaths.crashes >= settings.maxAttempts || deaths.kills >= settings.maxKills {
                let how =
                    deaths.crashes >= settings.maxAttempts
                    ? "crashed the daemon \(deaths.crashes) times"
                    : "was being encoded alone each of the \(deaths.kills) times the daemon was killed"
                let failure = Failure(.crashed, "this file \(how); it is not tried again")
                let final = try ledger.fail(id, failure, completedAt: now, duration: 0)
                return .finalized(FinalResult(record: final, how: .crashed, encodeSeconds: 0))
            }
            let path = location.locate(id: id, recorded: record.storePath)
            // The engine follows symlinks; the store never should. Anything but a regular file is
            // failed here, unopened (normally the ingestor already did).
            if let kind = FileKind.of(path: path), kind != .regular {
                let failure = Failure(
                    .notARegularFile, "\(record.source.name) is \(Ingestor.describe(kind)), not a regular file")
                let final = try ledger.fail(id, failure, completedAt: now, duration: 0)
                return .finalized(FinalResult(record: final, how: .notARegularFile, encodeSeconds: 0))
            }
            return .encode(record, path: path)
        } catch  where error.code == .invalidTransition || error.code == .notFound {
            return .nothing
        } catch {
            return .park(error)
        }
    }

    /// Commits the final record for an encoding result.
    static func commit(
        _ record: LedgerRecord, _ result: Result<EncodedImage, Failure>, seconds: Double, source: SourceInfo? = nil,
        ledger: any Ledger
    ) -> Result<LedgerRecord, LedgerError> {
        let now = Date()
        do {
            switch result {
            case .success(let encoded):
                return .success(
                    try ledger.complete(
                        record.id, image: encoded.image, faces: encoded.faces, completedAt: now, duration: seconds,
                        source: source))
            case .failure(let failure):
                return .success(
                    try ledger.fail(
                        record.id, failure, image: nil, completedAt: now, duration: seconds, source: source))
            }
        } catch {
            return .failure(error)
        }
    }
}

extension EncodedImage {
    /// The same image with no face's landmarks (kept only with `result_landmarks`).
    var withoutLandmarks: EncodedImage {
        var copy = self
        for index in copy.faces.indices { copy.faces[index].landmarks = nil }
        return copy
    }
}
