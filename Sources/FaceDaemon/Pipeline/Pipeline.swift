import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceRoot
import Foundation
import Logging
import Synchronization

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
    let ledger: any Ledger
    /// Where new jobs go.
    var pool: EncoderPool
    /// Jobs handed to each pool and not returned yet, by pool.
    var jobsByPool: [ObjectIdentifier: Int] = [:]
    /// Callers of `waitForJobs(on:)`, resumed when their pool's last job returns.
    var poolWaiters: [ObjectIdentifier: [CheckedContinuation<Void, Never>]] = [:]
    /// Callers of `drain(timeout:)`, resumed when the last record in flight finishes or their
    /// timeout passes (whichever comes first), by token.
    var idleWaiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    let location: StoreLocation
    let results: ResultsWriter
    let logger: Logger
    let onFinal: @Sendable (FinalResult) -> Void
    let settingsBox: Mutex<PipelineSettings>
    let activityBox = ActivityTracker()
    /// What the images being encoded may take at once.
    let memory: MemoryBudget
    /// Marked changed when an image starts or stops waiting for memory, or gives its memory back
    /// (stats.json's writes carry the budget in use to the metrics and `facewatch status`).
    let stats: StatsWriter?
    /// Whether the root's directories are in place; nothing starts while they are not.
    let watch: RootWatch
    /// Transient failures in a row, by record (`TransientRetry`).
    var retries: [UUID: Int] = [:]
    /// `ENOMEM` failures in a row, by record (capped: `TransientRetry.outOfMemoryTries`).
    var outOfMemoryTries = OutOfMemoryTries()
    /// Final records whose document could not be written (or not safely: the root was away).
    var owedDocuments: Set<UUID> = []
    /// Records whose final commit failed with its outcome unknown (the connection broke after the
    /// COMMIT was sent: the reply was lost, or it never arrived), with how they were finished. The
    /// ledger may have made one final, and then its queue never hands it out again: each is read
    /// back with the owed documents, and a final one gets its document then.
    var uncertainCommits: [UUID: (how: FinalResult.How, seconds: Double)] = [:]

    /// The daemon run this pipeline belongs to (`Ledger.beginRun`), left with each attempt.
    let incarnation: UInt64
    var inFlight: Set<UUID> = []
    /// The queue's next ids as last read (oldest first), or as the intake offered them (`offer`),
    /// not taken yet: one queue read serves up to `readAheadBatch` files, and no more are offered.
    /// What it holds may be stale; each record's own read and claim decide (`plan`,
    /// `beginAttempt`). Dropped whenever the queue's order may have changed ahead of
    /// it: a parked record back, another daemon's records or suspects (`lookAgain`), a record that
    /// turned out taken or gone.
    var readAhead: ArraySlice<TakenRecord> = []
    /// Whether the last queue read reached the queue's end: every `created` record was then read
    /// ahead, in flight or parked. While it holds, the records this daemon's intake commits
    /// (`offer`) are the queue's newest and join the read-ahead's end unread, and an empty read-ahead
    /// means that nothing waits: no read. Cleared whenever records may have come some other way
    /// (`wake`, `lookAgain`, a park's end, a record that turned out taken or gone).
    var queueExhausted = false
    /// Queue reads done, counted once each returns: `offer` tells from it whether a read came
    /// between its records' commit and their arrival here.
    let queueReads = Atomic<UInt64>(0)
    /// Set by `wake()`: records may be in the queue that neither a read nor an offer brought.
    let unknownRecords = Atomic<Bool>(false)
    /// Records the intake committed and offered (`offer`), not looked at by `fill` yet.
    let offers = Mutex<[(readsBefore: UInt64, records: [LedgerRecord], commit: IntakeCommit?)]>([])
    /// Whether suspects (files in flight when an earlier run died) may be waiting: they run one at a
    /// time, alone, before anything else. Only a start makes new suspects, so once none is left
    /// this stays false.
    var suspectsMayWait = true
    /// Records waiting out a backoff (an unexpected ledger error, an error that passes), each with
    /// the number of its park: the timer of that park, and no earlier one, takes it back.
    var parked: [UUID: UInt64] = [:]
    var parks: UInt64 = 0
    /// The clock of the backoffs and of the drain's deadline (a test clock in tests).
    let clock: any Clock<Duration>
    var stopping = false
    let kicks: AsyncStream<Void>
    let kick: AsyncStream<Void>.Continuation

    /// How many ids past those in flight one queue read asks for.
    static let readAheadBatch = 64

    /// How long a record is left alone after an unexpected ledger error.
    static let parkSeconds: TimeInterval = 30

    /// A pipeline over `ledger`, encoding on `pool`. `onFinal` is called after each final commit and
    /// document write (from any thread): the hook for stats, metrics and rates.
    public init(
        ledger: any Ledger, pool: EncoderPool, location: StoreLocation, results: ResultsWriter,
        settings: PipelineSettings, logger: Logger, incarnation: UInt64 = 0,
        watch: RootWatch = RootWatch(identity: nil), stats: StatsWriter? = nil,
        clock: any Clock<Duration> = ContinuousClock(), onFinal: @escaping @Sendable (FinalResult) -> Void = { _ in }
    ) {
        self.clock = clock
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

    /// Tells the pipeline that new `created` records may be in the queue: it reads the queue again.
    public nonisolated func wake() {
        unknownRecords.store(true, ordering: .releasing)
        kick.yield()
    }

    /// How many queue reads have returned; the intake takes it before committing a batch (`offer`).
    public nonisolated var queueReadCount: UInt64 { queueReads.load(ordering: .acquiring) }

    /// Hands the pipeline the `created` records the intake just committed, `readsBefore` being
    /// `queueReadCount` taken before their commit. When no read returned in between and the last one
    /// reached the queue's end, they are the queue's newest: taken in that order with no queue read
    /// (and no read of each record). Otherwise the queue is read again, as `wake()` has it.
    ///
    /// `commit`: the records' commit, when they are offered before it is made (the intake's batch):
    /// their workers read their files meanwhile and wait for it before their claims.
    public nonisolated func offer(_ records: [LedgerRecord], readsBefore: UInt64, commit: IntakeCommit? = nil) {
        guard !records.isEmpty else { return }
        offers.withLock { $0.append((readsBefore, records, commit)) }
        kick.yield()
    }

    /// Looks at the queue again, suspects first: on a shared ledger other daemons add records and
    /// make suspects (a dead daemon's files) without this one being told.
    public func lookAgain() {
        suspectsMayWait = true
        readAhead = []
        queueExhausted = false
        kick.yield()
    }

    /// Records being processed now.
    public var inFlightCount: Int { inFlight.count }

    /// Takes records until `stop()`, each one carried to its end by a child task of one task group.
    /// Returns when stopped and every record in flight has finished (`drain(timeout:)` waits for
    /// them with a deadline instead).
    public func run() async {
        await withDiscardingTaskGroup { group in
            var iterator = kicks.makeAsyncIterator()
            while !stopping {
                for record in fill() {
                    group.addTask {
                        await self.process(
                            record.id, solo: record.solo, known: record.record, fresh: record.fresh,
                            commit: record.commit)
                    }
                }
                guard await iterator.next() != nil else { break }
            }
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
        let timer = Task { [weak self, clock] in
            try? await clock.sleep(for: .milliseconds(Int(max(0, timeout) * 1000)))
            await self?.stopWaiting(token)
        }
        await withCheckedContinuation { idleWaiters[token] = $0 }
        timer.cancel()
        return inFlight.count
    }

    /// Resumes one `drain` caller whose deadline passed (a no-op when it was resumed already).
    func stopWaiting(_ token: UUID) {
        idleWaiters.removeValue(forKey: token)?.resume()
    }

    // MARK: - Scheduling

    /// A record taken from the queue, to be processed (`solo`: a suspect, which runs alone), with
    /// the record as the queue's read found it (nil: read it). `fresh`: committed by this daemon's
    /// intake and offered (`offer`), never attempted, its file's kind checked at its intake.
    struct TakenRecord: Sendable {
        let id: UUID
        let solo: Bool
        var record: LedgerRecord?
        var fresh: Bool
        /// The intake's commit of a fresh record offered before it (`offer`).
        var commit: IntakeCommit? = nil
    }

    /// Takes records from the queue until `maxInFlight` are in flight or the queue is exhausted, and
    /// returns them for `run` to start.
    func fill() -> [TakenRecord] {
        takeOffers()
        let capacity = max(1, settings.maxInFlight)
        // While a root directory is away nothing starts (`RootWatch`); its return wakes the pipeline.
        guard !stopping, inFlight.count < capacity, watch.pausedReason == nil else { return [] }
        if suspectsMayWait {
            // A suspect runs alone: it starts only when nothing is in flight, and nothing starts
            // beside it, so that if the process dies now the death is the suspect's.
            guard inFlight.isEmpty else { return [] }
            do {
                if let suspect = try ledger.suspects(limit: parked.count + 1).first(where: { parked[$0] == nil }) {
                    inFlight.insert(suspect)
                    return [TakenRecord(id: suspect, solo: true, record: nil, fresh: false)]
                }
                suspectsMayWait = !parked.isEmpty
            } catch {
                logger.error("cannot read the suspects: \(error)")
                return []
            }
        }
        var taken: [TakenRecord] = []
        var readAgain = true
        while inFlight.count < capacity {
            guard let next = readAhead.popFirst() else {
                // Once per fill: an empty read-ahead after a read means the queue is exhausted.
                guard readAgain, !queueExhausted else { break }
                readAgain = false
                do {
                    // In-flight and parked records are still in the queue: read past them.
                    let limit = capacity + Self.readAheadBatch + parked.count
                    readAhead = try ledger.queuedRecords(limit: limit).map {
                        TakenRecord(id: $0.id, solo: false, record: $0.record, fresh: false)
                    }[...]
                    // Counted once the read returned: a read that can have seen an offer's records
                    // ran after their commit, so after the count the offer took, which then differs.
                    queueReads.add(1, ordering: .releasing)
                    queueExhausted = readAhead.count < limit
                } catch {
                    logger.error("cannot read the queue: \(error)")
                    break
                }
                continue
            }
            guard !inFlight.contains(next.id), parked[next.id] == nil else { continue }
            inFlight.insert(next.id)
            taken.append(next)
        }
        return taken
    }

    /// Brings the intake's offers into the read-ahead (`offer`), or, when one may have been read
    /// already or the queue's end is not known, has the queue read again.
    func takeOffers() {
        if unknownRecords.exchange(false, ordering: .acquiringAndReleasing) { queueExhausted = false }
        let offered = offers.withLock { offers in
            defer { offers = [] }
            return offers
        }
        let reads = queueReads.load(ordering: .acquiring)
        for offer in offered {
            // Held in memory only up to one read's worth: a larger backlog stays in the ledger's queue.
            guard queueExhausted, offer.readsBefore == reads,
                readAhead.count + offer.records.count <= Self.readAheadBatch
            else {
                queueExhausted = false
                offer.commit?.refuseOffer()
                continue
            }
            readAhead.append(
                contentsOf: offer.records.map {
                    TakenRecord(id: $0.id, solo: false, record: $0, fresh: true, commit: offer.commit)
                })
        }
    }

    /// `taken`: false when the record was no longer this daemon's to process (final, gone, or held
    /// by another daemon), which makes the read-ahead suspect: it is read again.
    func finished(_ id: UUID, park: Bool = false, retryAfter: Double? = nil, taken: Bool = true) {
        inFlight.remove(id)
        if !taken {
            readAhead = []
            queueExhausted = false
        }
        if inFlight.isEmpty, !idleWaiters.isEmpty {
            let waiters = idleWaiters.values
            idleWaiters.removeAll()
            for waiter in waiters { waiter.resume() }
        }
        if let delay = retryAfter ?? (park ? Self.parkSeconds : nil) {
            parks += 1
            let number = parks
            parked[id] = number
            // Nothing else may wake the pipeline when the backoff is over: a timer does.
            Task { [weak self, clock] in
                try? await clock.sleep(for: .milliseconds(Int64(delay * 1000)))
                await self?.unpark(id, number: number)
            }
        }
        if !stopping { kick.yield() }
    }

    /// Ends park `number` of `id` (a later park of the same record keeps it parked) and looks at
    /// the queue again.
    func unpark(_ id: UUID, number: UInt64) {
        guard parked[id] == number else { return }
        parked[id] = nil
        // Its place in the queue is ahead of what was read past it.
        readAhead = []
        queueExhausted = false
        if !stopping { kick.yield() }
    }
}

/// Which records are on an encoder worker since when, how many were finished, and how long the
/// workers have been busy.
final class ActivityTracker: Sendable {
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
