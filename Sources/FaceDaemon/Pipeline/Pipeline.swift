import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceRoot
import Foundation
import Logging
import Synchronization

/// What the pipeline did with one record, reported after the final commit.
public struct FinalResult: Sendable {
    /// The record as committed (`completed` or `failed`).
    public var record: LedgerRecord
    /// How the result was reached.
    public var how: How
    /// Seconds spent encoding (0 unless `how` is `.encoded`).
    public var encodeSeconds: Double

    /// How a result was reached.
    public enum How: String, Sendable {
        /// The engine ran.
        case encoded
        /// The faces of a completed record with the same SHA-256 were reused.
        case deduplicated
        /// Failed as `crashed` without encoding: earlier attempts took the process down.
        case crashed
        /// Failed when it was taken from the inbox (or found in the store), never opened: not a
        /// regular file.
        case notARegularFile
        /// Failed when it was taken from the inbox, never read: larger than `max_bytes`.
        case refusedAtIntake
    }
}

/// What the pipeline is doing, readable from any thread without waiting (for a watchdog or a
/// status line).
public struct PipelineActivity: Sendable, Equatable {
    /// Files on an encoder worker now.
    public var encoding: Int = 0
    /// When the longest-running of them started.
    public var oldestEncodingStart: Date?
    /// Records made final since the pipeline started.
    public var finished: Int = 0
    /// Seconds encoder workers have spent on this pipeline's jobs (recording the attempt, reading,
    /// decoding, detecting, encoding), summed over workers, running jobs included. Only grows.
    public var workerBusySeconds: Double = 0
}

/// Settings of the pipeline that may change while it runs (a reload).
public struct PipelineSettings: Sendable, Equatable {
    /// Records held at once (planned, queued in the pool, encoding, committing).
    public var maxInFlight: Int
    /// Reuse the faces of completed records with the same content.
    public var dedup: Bool
    /// Limits handed to the engine with each file.
    public var limits: ImageLimits
    /// A record that crashed the daemon this many times while it ran alone (`Ledger.beginRun`) is
    /// failed as `crashed`.
    public var maxAttempts: Int
    /// A record that was running alone this many times when the daemon was killed from outside (the
    /// OOM killer, `kill -9`) is failed as `crashed` too: more than crashes, since a kill may be
    /// unrelated to the file, but finite, so an image that gets the daemon OOM-killed does not loop.
    public var maxKills = 10
    /// Memory the images being encoded may take at once (`MemoryBudget`), in bytes.
    public var memoryBudget: Int
    /// The detector's upsampling, which the memory estimate of an image depends on.
    public var upsample: Int
    /// The detector, which the memory estimate of an image depends on too.
    public var detector: DetectorKind

    public init(
        maxInFlight: Int, dedup: Bool = true, limits: ImageLimits = ImageLimits(), maxAttempts: Int = 3,
        memoryBudget: Int = Int.max / 4, upsample: Int = 1, detector: DetectorKind = .hog
    ) {
        self.memoryBudget = memoryBudget
        self.upsample = upsample
        self.detector = detector
        self.maxInFlight = maxInFlight
        self.dedup = dedup
        self.limits = limits
        self.maxAttempts = maxAttempts
    }
}

/// The scheduler: takes `created` records from the ledger's queue, oldest first, and carries each one
/// to its final record and result document.
///
/// The ledger's queue *is* the queue: nothing but the ids in flight (at most `maxInFlight`) is held in
/// memory, however long the backlog. For each record:
/// 1. a record charged `maxAttempts` deaths (it ran alone each time the process died: see
///    `Ledger.beginRun`) is failed `crashed` without encoding;
/// 2. otherwise, on an encoder worker, the stored file is read once (`FileContent`: bounded by the
///    size seen at open, a torn read done again) and hashed; with dedup on, a completed record with
///    that SHA-256 lends its image and faces (no network run); else `attempts + 1` and the attempt's
///    marker (this run, alone or not) are committed and those same bytes are encoded;
/// 3. the final record (`completed` or `failed`) is committed with the size and SHA-256 of the bytes
///    read, then `results/<uuid>.json` is written.
///
/// Suspects (files in flight when an earlier run died) run first, one at a time and alone.
///
/// `stop()` stops taking records; `drain(timeout:)` waits for those in flight. `usePool(_:)` sends
/// later jobs to another encoder pool (a new worker count) while the previous one finishes its own.
public actor Pipeline {
    private let ledger: any Ledger
    /// Where new jobs go.
    private var pool: EncoderPool
    /// Jobs handed to each pool and not returned yet, by pool.
    private var jobsByPool: [ObjectIdentifier: Int] = [:]
    /// Callers of `waitForJobs(on:)`, resumed when their pool's last job returns.
    private var poolWaiters: [ObjectIdentifier: [CheckedContinuation<Void, Never>]] = [:]
    /// Callers of `drain(timeout:)`, resumed when the last record in flight finishes or their
    /// timeout passes (whichever comes first), by token.
    private var idleWaiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    private let location: StoreLocation
    private let results: ResultsWriter
    private let logger: Logger
    private let onFinal: @Sendable (FinalResult) -> Void
    private let settingsBox: Mutex<PipelineSettings>
    private let activityBox = ActivityTracker()
    /// What the images being encoded may take at once.
    private let memory: MemoryBudget
    /// Marked changed when an image starts or stops waiting for memory, or gives its memory back
    /// (stats.json's writes carry the budget in use to the metrics and `facewatch status`).
    private let stats: StatsWriter?
    /// Whether the root's directories are in place; nothing starts while they are not.
    private let watch: RootWatch
    /// Transient failures in a row, by record (`TransientRetry`).
    private var retries: [UUID: Int] = [:]
    /// `ENOMEM` failures in a row, by record (capped: `TransientRetry.outOfMemoryTries`).
    private var outOfMemoryTries = OutOfMemoryTries()
    /// Final records whose document could not be written (or not safely: the root was away).
    private var owedDocuments: Set<UUID> = []
    /// Records whose final commit failed with its outcome unknown (the connection broke after the
    /// COMMIT was sent: the reply was lost, or it never arrived), with how they were finished. The
    /// ledger may have made one final, and then its queue never hands it out again: each is read
    /// back with the owed documents, and a final one gets its document then.
    private var uncertainCommits: [UUID: (how: FinalResult.How, seconds: Double)] = [:]

    /// The daemon run this pipeline belongs to (`Ledger.beginRun`), left with each attempt.
    private let incarnation: UInt64
    private var inFlight: Set<UUID> = []
    /// Whether suspects (files in flight when an earlier run died) may be waiting: they run one at a
    /// time, alone, before anything else. Only a start makes new suspects, so once none is left
    /// this stays false.
    private var suspectsMayWait = true
    /// Records whose processing hit an unexpected ledger error, with when to try them again.
    private var parked: [UUID: Date] = [:]
    private var stopping = false
    private let kicks: AsyncStream<Void>
    private let kick: AsyncStream<Void>.Continuation

    /// How long a record is left alone after an unexpected ledger error.
    static let parkSeconds: TimeInterval = 30

    /// A pipeline over `ledger`, encoding on `pool`. `onFinal` is called after each final commit and
    /// document write (from any thread): the hook for stats, metrics and rates.
    public init(
        ledger: any Ledger, pool: EncoderPool, location: StoreLocation, results: ResultsWriter,
        settings: PipelineSettings, logger: Logger, incarnation: UInt64 = 0,
        watch: RootWatch = RootWatch(identity: nil), stats: StatsWriter? = nil,
        onFinal: @escaping @Sendable (FinalResult) -> Void = { _ in }
    ) {
        self.watch = watch
        self.stats = stats
        self.ledger = ledger
        self.incarnation = incarnation
        self.pool = pool
        self.location = location
        self.results = results
        self.logger = logger
        self.onFinal = onFinal
        self.settingsBox = Mutex(settings)
        self.memory = MemoryBudget(bytes: settings.memoryBudget)
        (kicks, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The settings in force.
    public nonisolated var settings: PipelineSettings {
        settingsBox.withLock { $0 }
    }

    /// Changes the settings; records already being encoded keep the limits they started with.
    public nonisolated func update(_ settings: PipelineSettings) {
        settingsBox.withLock { $0 = settings }
        memory.update(limit: settings.memoryBudget)
        kick.yield()
    }

    /// What is being done now.
    public nonisolated var activity: PipelineActivity {
        let now = ContinuousClock.now
        return activityBox.state.withLock { state in
            var busy = state.busySeconds
            for job in state.started.values { busy += Self.seconds(now - job.instant) }
            return PipelineActivity(
                encoding: state.started.count, oldestEncodingStart: state.started.values.map(\.date).min(),
                finished: state.finished, workerBusySeconds: busy)
        }
    }

    /// The pool new jobs go to.
    public var encoderPool: EncoderPool { pool }

    /// The memory budget, what is reserved of it and how many images wait for it, now.
    public nonisolated var memoryUse: MemoryBudget.Use { memory.use }

    /// Sends every job from now on to `newPool` and returns the pool used until now. Jobs already on
    /// the previous pool stay there and finish normally (see `waitForJobs(on:)`): nothing is dropped
    /// or encoded twice. Also wakes the pipeline, since the capacity may have changed with it.
    public func usePool(_ newPool: EncoderPool) -> EncoderPool {
        let previous = pool
        pool = newPool
        kick.yield()
        return previous
    }

    /// Returns once `pool` has finished every job this pipeline gave it (at once if none), so that
    /// it can be shut down without dropping a job.
    public func waitForJobs(on pool: EncoderPool) async {
        let key = ObjectIdentifier(pool)
        guard jobsByPool[key, default: 0] > 0 else { return }
        // Resumed by the job that brings the pool's count to zero.
        await withCheckedContinuation { poolWaiters[key, default: []].append($0) }
    }

    /// Tells the pipeline that new `created` records may be in the queue.
    public nonisolated func wake() {
        kick.yield()
    }

    /// Looks at the queue again, suspects first: on a shared ledger other daemons add records and
    /// make suspects (a dead daemon's files) without this one being told.
    public func lookAgain() {
        suspectsMayWait = true
        kick.yield()
    }

    /// Records being processed now.
    public var inFlightCount: Int { inFlight.count }

    /// Takes records until `stop()`. Returns when stopped (records in flight may still be running:
    /// see `drain(timeout:)`).
    public func run() async {
        var iterator = kicks.makeAsyncIterator()
        while !stopping {
            fill()
            guard await iterator.next() != nil else { break }
        }
    }

    /// Stops taking new records.
    public func stop() {
        stopping = true
        kick.finish()
    }

    /// Waits until no record is in flight, or `timeout` seconds. Returns how many were still running.
    public func drain(timeout: Double) async -> Int {
        guard !inFlight.isEmpty else { return 0 }
        let token = UUID()
        // The deadline: a timer that gives up waiting; the last record to finish resumes sooner.
        let timer = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(Int(max(0, timeout) * 1000)))
            await self?.stopWaiting(token)
        }
        await withCheckedContinuation { idleWaiters[token] = $0 }
        timer.cancel()
        return inFlight.count
    }

    /// Resumes one `drain` caller whose deadline passed (a no-op when it was resumed already).
    private func stopWaiting(_ token: UUID) {
        idleWaiters.removeValue(forKey: token)?.resume()
    }

    // MARK: - Scheduling

    /// Starts records from the queue until `maxInFlight` are in flight or the queue is exhausted.
    private func fill() {
        let capacity = max(1, settings.maxInFlight)
        // While a root directory is away nothing starts (`RootWatch`); its return wakes the pipeline.
        guard !stopping, inFlight.count < capacity, watch.pausedReason == nil else { return }
        let now = Date()
        parked = parked.filter { $0.value > now }
        if suspectsMayWait {
            // A suspect runs alone: it starts only when nothing is in flight, and nothing starts
            // beside it, so that if the process dies now the death is the suspect's.
            guard inFlight.isEmpty else { return }
            do {
                if let suspect = try ledger.suspects(limit: parked.count + 1).first(where: { parked[$0] == nil }) {
                    inFlight.insert(suspect)
                    Task { await self.process(suspect, solo: true) }
                    return
                }
                suspectsMayWait = !parked.isEmpty
            } catch {
                logger.error("cannot read the suspects: \(error)")
                return
            }
        }
        let wanted = capacity - inFlight.count
        let ids: [UUID]
        do {
            // In-flight and parked records are still in the queue: read past them.
            ids = try ledger.queued(limit: wanted + inFlight.count + parked.count)
        } catch {
            logger.error("cannot read the queue: \(error)")
            return
        }
        for id in ids where !inFlight.contains(id) && parked[id] == nil {
            guard inFlight.count < capacity else { break }
            inFlight.insert(id)
            Task { await self.process(id) }
        }
    }

    private func finished(_ id: UUID, park: Bool = false, retryAfter: Double? = nil) {
        inFlight.remove(id)
        if inFlight.isEmpty, !idleWaiters.isEmpty {
            let waiters = idleWaiters.values
            idleWaiters.removeAll()
            for waiter in waiters { waiter.resume() }
        }
        if let delay = retryAfter ?? (park ? Self.parkSeconds : nil) {
            parked[id] = Date().addingTimeInterval(delay)
            // Nothing else may wake the pipeline when the parked time is over: a timer does.
            Task { [kick] in
                try? await Task.sleep(for: .seconds(delay + 0.1))
                kick.yield()
            }
        }
        if !stopping { kick.yield() }
    }

    // MARK: - One record

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
        case ledgerError(LedgerError)
    }

    private func process(_ id: UUID, solo: Bool = false) async {
        let ledger = self.ledger
        let settings = self.settings
        let location = self.location
        let plan = await BlockingIO.run { Self.plan(id, ledger: ledger, settings: settings, location: location) }
        switch plan {
        case .nothing:
            finished(id)
        case .park(let error):
            logger.error("cannot process \(LogField.pair("id", id.lowercased)): \(error)")
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
                let content: FileContent
                switch Self.read(path, name: record.source.name, maxBytes: limits.maxBytes) {
                case .failure(let failure):
                    return .encoded(.failure(failure), seconds: 0, attempt: record.attempts, source: nil)
                case .success(let read):
                    content = read
                }
                let source = SourceInfo(
                    name: record.source.name, bytes: Int64(content.bytes.count), sha256: content.sha256)
                if dedup {
                    do throws(LedgerError) {
                        if let twin = try ledger.completedRecord(sha256: content.sha256), twin.id != id,
                            let image = twin.image
                        {
                            return .deduplicated(image: image, faces: twin.faces, source: source)
                        }
                    } catch {
                        return .ledgerError(error)
                    }
                }
                let attempt: Int
                do throws(LedgerError) {
                    attempt = try ledger.beginAttempt(id, incarnation: incarnation, solo: solo)
                } catch {
                    return .ledgerError(error)
                }
                TestHooks.poisonIfAsked(name: record.source.name)
                if let injected = TestHooks.injectedReadFailure(name: record.source.name) {
                    return .encoded(.failure(injected), seconds: 0, attempt: attempt, source: nil)
                }
                logger.debug(
                    "encoding \(LogField.pair("id", id.lowercased)) \(LogField.pair("attempt", String(attempt)))")
                TestHooks.holdClaimIfAsked(id: id, name: record.source.name)
                let start = ContinuousClock.now
                let result =
                    TestHooks.injectedOutOfMemory(name: record.source.name)
                    ?? engine.encode(bytes: content.bytes, limits: limits)
                let seconds = Self.seconds(ContinuousClock.now - start)
                return .encoded(result, seconds: seconds, attempt: attempt, source: source)
            }
            await DecodeGate.shared.leave(gate)
            jobsByPool[poolKey, default: 1] -= 1
            if jobsByPool[poolKey] == 0 {
                jobsByPool[poolKey] = nil
                for waiter in poolWaiters.removeValue(forKey: poolKey) ?? [] { waiter.resume() }
            }
            guard let outcome else {
                // The pool was shut down before the job started: the record stays `created`.
                finished(id)
                return
            }
            switch outcome {
            case .ledgerError(let error) where error.code == .invalidTransition || error.code == .notFound:
                finished(id)
            case .ledgerError(let error):
                logger.error("cannot start \(LogField.pair("id", id.lowercased)): \(error)")
                finished(id, park: true)
            case .deduplicated(let image, let faces, let source):
                let committed = await BlockingIO.run { () -> Result<LedgerRecord, LedgerError> in
                    do throws(LedgerError) {
                        return .success(
                            try ledger.complete(
                                id, image: image, faces: faces, completedAt: Date(), duration: 0, source: source))
                    } catch {
                        return .failure(error)
                    }
                }
                await settle(id, committed, how: .deduplicated, seconds: 0)
            case .encoded(let tried, let seconds, let attempt, let source):
                let result = outOfMemoryTries.settle(id, tried)
                if attempt > 1 {
                    logger.notice(
                        "retried \(LogField.pair("id", id.lowercased)) \(LogField.pair("attempt", String(attempt)))")
                }
                if case .failure(let failure) = result, let why = await transientCause(failure) {
                    await retryLater(id, because: why.cause, rootAway: why.rootAway)
                    return
                }
                retries[id] = nil
                let committed = await BlockingIO.run {
                    Self.commit(record, result, seconds: seconds, source: source, ledger: ledger)
                }
                await settle(id, committed, how: .encoded, seconds: seconds)
            }
        }
    }

    /// Publishes a committed final record, or parks the record after an unexpected ledger error.
    private func settle(
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
            logger.error("cannot commit \(LogField.pair("id", id.lowercased)): \(error)")
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

    // MARK: - Errors that pass

    /// Why a failure is not the file's final result (nil when it is): a transient `errno`, or a
    /// file missing while a root directory is away.
    private func transientCause(_ failure: Failure) async -> (cause: String, rootAway: Bool)? {
        if TransientRetry.isTransient(failure) { return (failure.message, false) }
        guard failure.code == .ioError, failure.systemError == ENOENT else { return nil }
        let watch = self.watch
        return await BlockingIO.run { watch.recheck() }.map { ($0, true) }
    }

    /// Leaves a record `created` and takes it again after the backoff (a second while a root
    /// directory is away: nothing starts before it is back anyway). Its attempt marker is withdrawn,
    /// so that a death while it waits is not charged to it.
    private func retryLater(_ id: UUID, because cause: String, rootAway: Bool) async {
        let retry = rootAway ? retries[id, default: 0] : retries[id, default: 0] + 1
        retries[id] = retry
        let delay = rootAway ? TransientRetry.delay(retry: 1) : TransientRetry.delay(retry: retry)
        let ledger = self.ledger
        let withdrawn = await BlockingIO.run { () -> LedgerError? in
            do throws(LedgerError) {
                try ledger.withdrawAttempt(id)
                return nil
            } catch {
                return error
            }
        }
        if let withdrawn {
            logger.error("cannot withdraw the attempt marker \(LogField.pair("id", id.lowercased)): \(withdrawn)")
        }
        logger.warning(
            "not recorded, tried again later \(LogField.pair("id", id.lowercased)) \(LogField.pair("retry", String(retry))) \(LogField.pair("in", String(format: "%.0fs", delay))): \(cause)"
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
            logger.notice("wrote result documents owed \(LogField.pair("count", String(written.count)))")
        }
    }

    /// Reads back the records of `uncertainCommits`: a final one is published (its commit happened),
    /// a `created` one is left to the queue (it did not); one the ledger cannot tell yet stays.
    private func resolveUncertainCommits() async {
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
                "the commit's reply was lost but the ledger has it: writing the result \(LogField.pair("id", id.lowercased))"
            )
            await publish(FinalResult(record: record, how: finish.how, encodeSeconds: finish.seconds))
        }
    }

    /// Writes the document of a final record, logs it and tells `onFinal`. While a root directory
    /// is away (or when the write fails) the document is owed: written once possible.
    private func publish(_ result: FinalResult) async {
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
                "result document not written yet (written again once possible) \(LogField.pair("id", record.id.lowercased)): \(written)"
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

    static func log(_ result: FinalResult, _ logger: Logger) {
        let record = result.record
        var fields = [LogField.pair("id", record.id.lowercased)]
        if record.status == .completed {
            fields.append(LogField.pair("faces", String(record.faces.count)))
            if result.how == .deduplicated {
                fields.append("dedup=true")
            } else {
                fields.append(LogField.pair("seconds", String(format: "%.3f", result.encodeSeconds)))
            }
            fields.append(LogField.pair("name", record.source.name))
            logger.info("completed \(fields.joined(separator: " "))")
        } else {
            fields.append(LogField.pair("code", record.error?.code.rawValue ?? "unknown"))
            fields.append(LogField.pair("name", record.source.name))
            fields.append(LogField.pair("message", record.error?.message ?? ""))
            logger.warning("failed \(fields.joined(separator: " "))")
        }
    }

    /// Reads the record and decides; commits the `crashed` and deduplicated cases itself.
    static func plan(_ id: UUID, ledger: any Ledger, settings: PipelineSettings, location: StoreLocation) -> Plan {
        do {
            guard let record = try ledger.record(id), record.status == .created else { return .nothing }
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

/// Which records are on an encoder worker since when, how many were finished, and how long the
/// workers have been busy.
private final class ActivityTracker: Sendable {
    /// When a job started on its worker: the wall clock (reported) and the monotonic clock (summed).
    struct Start {
        var date: Date
        var instant: ContinuousClock.Instant
    }

    struct State {
        var started: [UUID: Start] = [:]
        var finished = 0
        /// Seconds of the jobs that have ended.
        var busySeconds = 0.0
    }

    let state = Mutex(State())
}
