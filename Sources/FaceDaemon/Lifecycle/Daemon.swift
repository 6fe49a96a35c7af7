#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceCore
import FaceEncoding
import FaceLedger
import Foundation
import Logging
import Synchronization

/// `facewatch serve`: the lifecycle of one daemon on one root.
///
/// Start: take the root lock (a second daemon stops here, naming the holder), create the
/// directories, open the ledger, record store orphans, load the models, start the encoder pool, the
/// pipeline (which at once resumes every `created` record) and the inbox (a full scan, then inotify),
/// rewrite missing result documents in the background, say `ready`.
///
/// Stop (SIGTERM, SIGINT or `requestStop()`): stop taking files from the inbox, let the batch being
/// ingested commit, stop taking records, wait up to `shutdownTimeout` for the files being encoded,
/// commit them, write `stats.json`, release the lock, return. A file still encoding when the wait
/// ends stays `created` (its attempt counted) and is taken again at the next start.
///
/// SIGHUP (or `requestReload()`) re-reads the config file: the log level, the limits, dedup, the
/// number of files in flight and the shutdown timeout change at once; a new worker count starts a
/// new encoder pool that takes every job from then on while the previous pool finishes the files it
/// has (nothing is dropped or encoded twice) and then stops. Other changes are logged as needing a
/// restart; an invalid file is logged and the running configuration kept.
public final class Daemon: Sendable {
    /// Where the configuration came from, for a reload.
    public struct Source: Sendable {
        /// `--config`, if given.
        public var configFile: String?
        /// The command-line settings, by key.
        public var flags: DaemonConfiguration.Flags

        public init(configFile: String?, flags: DaemonConfiguration.Flags) {
            self.configFile = configFile
            self.flags = flags
        }
    }

    /// What can go wrong before the daemon runs.
    public enum StartError: Error, Sendable, CustomStringConvertible {
        /// Another daemon holds the root.
        case locked(RootLockError)
        /// A directory, the ledger, the models or the inbox could not be set up.
        case setup(String)

        public var description: String {
            switch self {
            case .locked(let error): error.description
            case .setup(let message): message
            }
        }
    }

    private enum Control: Sendable {
        case stop(String)
        case reload
    }

    private let initial: DaemonConfiguration
    private let source: Source
    private let output: LogOutput
    private let logger: Logger
    private let hooks: DaemonHooks
    private let controls: AsyncStream<Control>
    private let control: AsyncStream<Control>.Continuation
    private let current: Mutex<DaemonConfiguration>
    private let running = Mutex<Pipeline?>(nil)
    /// Set when a batch moved into the store could not be recorded (see `endRun`).
    private let unrecordedFiles = Mutex(false)
    /// The parts once set up (for the exit on a second signal).
    private let started = Mutex<Parts?>(nil)
    /// Pools replaced by a reload, finishing their files before they stop.
    private let retiring = Mutex<[Task<Void, Never>]>([])

    /// A daemon for `configuration` (read from `source`), logging through `output`.
    public init(configuration: DaemonConfiguration, source: Source, output: LogOutput, hooks: DaemonHooks = DaemonHooks()) {
        initial = configuration
        self.source = source
        self.output = output
        self.hooks = hooks
        logger = output.logger(label: "facewatch")
        current = Mutex(configuration)
        (controls, control) = AsyncStream.makeStream(of: Control.self, bufferingPolicy: .unbounded)
    }

    /// The configuration in force (changes with a reload).
    public var configuration: DaemonConfiguration { current.withLock { $0 } }

    /// What the pipeline is doing (nil before it runs): the seam for a watchdog's progress check.
    public var activity: PipelineActivity? { running.withLock { $0 }?.activity }

    /// Begins a graceful shutdown. Safe from any thread, any number of times.
    public func requestStop(reason: String = "requested") {
        control.yield(.stop(reason))
    }

    /// Re-reads the config file. Safe from any thread.
    public func requestReload() {
        control.yield(.reload)
    }

    /// Runs until a stop is requested (or SIGTERM/SIGINT arrives, when `handleSignals`), then shuts
    /// down gracefully and returns. Throws `StartError` when it cannot start.
    public func run(handleSignals: Bool = true) async throws(StartError) {
        let configuration = initial
        let signalTask: Task<Void, Never>? = handleSignals ? forwardSignals() : nil
        defer { signalTask?.cancel() }

        // One daemon per root.
        let lock: RootLock
        do {
            lock = try RootLock(root: configuration.root)
        } catch {
            throw .locked(error)
        }
        defer { lock.release() }
        logger.info("starting \(LogField.pair("pid", String(getpid()))) \(LogField.pair("root", configuration.root)) \(LogField.pair("version", FacewatchVersion.current))")
        for (key, value) in configuration.summary {
            logger.debug("setting \(key)=\(LogField.quoted(value))")
        }

        let parts = try setUp(configuration)
        running.withLock { $0 = parts.pipeline }
        started.withLock { $0 = parts }
        let pipelineTask = Task { await parts.pipeline.run() }
        let statsTask = Task { await parts.stats.run() }
        let maintenanceTask = Task { await Maintenance.run(ledger: parts.ledger, logger: self.logger) }
        let documentsTask = Task { await self.rewriteDocuments(parts.reconciler) }

        let inbox: InboxFeed
        do {
            inbox = try InboxFeed(configuration: configuration, logger: logger)
        } catch {
            parts.pipeline.wake()
            await shutDown(parts, inbox: nil, ingestTask: nil, tasks: [pipelineTask, statsTask, documentsTask, maintenanceTask], configuration: configuration)
            throw .setup("cannot watch the inbox \(configuration.inbox): \(error)")
        }
        let ingestTask = Task { await self.ingestLoop(inbox, parts) }

        let backlog = (try? parts.ledger.stats().counts[.created]) ?? 0
        let workers = await parts.pipeline.encoderPool.workerCount
        let status = "watching \(configuration.inbox) with \(workers) workers, backlog \(backlog)"
        logger.info("ready \(LogField.pair("inbox", configuration.inbox)) \(LogField.pair("workers", String(workers))) \(LogField.pair("backlog", String(backlog)))")
        hooks.ready(status)

        // Serve until told to stop.
        for await event in controls {
            if case .stop(let reason) = event {
                logger.info("stopping \(LogField.pair("reason", reason))")
                break
            }
            await reload(parts)
        }
        hooks.stopping()
        await shutDown(parts, inbox: inbox, ingestTask: ingestTask, tasks: [pipelineTask, statsTask, documentsTask, maintenanceTask], configuration: self.configuration)
    }

    // MARK: - Start

    /// Everything the running daemon is made of.
    struct Parts: Sendable {
        let ledger: Ledger
        let store: Store
        let location: StoreLocation
        let results: ResultsWriter
        /// Holds the encoder pool (`encoderPool`), which a reload may replace.
        let pipeline: Pipeline
        let stats: StatsWriter
        let meter: ThroughputMeter
        let ingestor: Ingestor
        let reconciler: Reconciler
        /// This run's number in the ledger (`Ledger.beginRun`).
        let incarnation: UInt64
    }

    private func setUp(_ configuration: DaemonConfiguration) throws(StartError) -> Parts {
        func setupError(_ what: String, _ error: any Error) -> StartError {
            .setup("\(what): \(error)")
        }
        if let reason = CPUFeatures.unsupportedReason { throw .setup(reason) }
        let store: Store
        do {
            try DurableFile.createDirectories(configuration.inbox, permissions: 0o775)
            try DurableFile.createDirectories(configuration.results)
            store = try Store(directory: configuration.store)
        } catch {
            throw setupError("cannot create the directories", error)
        }
        let ledger: Ledger
        do {
            ledger = try Ledger(
                directory: URL(fileURLWithPath: configuration.database, isDirectory: true),
                options: Ledger.Options(mapSize: configuration.mapSize))
        } catch {
            throw setupError("cannot open the ledger at \(configuration.database)", error)
        }
        // A new run: the attempts the previous one left are settled (crash attribution).
        let run: Ledger.RunStart
        let previousDiedOfFault = CrashMarker.previousRunCrashed(root: configuration.root)
        do {
            run = try ledger.beginRun(previousDiedOfFault: previousDiedOfFault)
            CrashMarker.arm(root: configuration.root)
        } catch {
            throw setupError("cannot start a run in the ledger at \(configuration.database)", error)
        }
        if run.previousEndedCleanly == false {
            logger.notice("the previous run stopped without a graceful shutdown \(LogField.pair("cause", previousDiedOfFault ? "fault" : "killed")) \(LogField.pair("run", String(run.incarnation - 1))) \(LogField.pair("charged", String(run.charged.count))) \(LogField.pair("suspects", String(run.suspects.count)))")
        }
        for id in run.charged {
            logger.warning("charged a death: it was encoding alone when the previous run died \(LogField.pair("id", id.lowercased)) \(LogField.pair("crashes", String((try? ledger.deaths(id).crashes) ?? 0))) \(LogField.pair("kills", String((try? ledger.deaths(id).kills) ?? 0)))")
        }
        hooks.ledgerOpened(ledger)
        let location = StoreLocation(root: configuration.root, store: store.directory)
        let results = ResultsWriter(directory: configuration.results, format: configuration.resultFormat)
        let reconciler = Reconciler(ledger: ledger, store: store, location: location, results: results, logger: logger)

        // Orphans first: the store must not change while it is scanned (the inbox is not watched yet).
        // Only an unclean stop (or a run that could not record a batch: it does not end cleanly)
        // leaves store files without records, so after a graceful one the scan is skipped and
        // start-up does not grow with the store.
        reconciler.removeTemporaryDocuments()
        var report = Reconciler.Report()
        var orphanFinals: [LedgerRecord] = []
        if run.previousEndedCleanly != true {
            do {
                orphanFinals = try reconciler.recordOrphans(report: &report)
            } catch {
                throw setupError("cannot reconcile the store with the ledger", error)
            }
        }
        if report.orphansRecorded > 0 {
            logger.notice("recorded store files that had no record \(LogField.pair("count", String(report.orphansRecorded)))")
        }

        let pool: EncoderPool
        do {
            let directory = try FaceModels.locate(explicit: configuration.models)
            let models = try FaceModels(directory: directory, options: configuration.encoder)
            pool = try EncoderPool(models: models, workers: configuration.effectiveWorkers, limits: configuration.limits)
            logger.info("models loaded \(LogField.pair("directory", directory.path)) \(LogField.pair("workers", String(pool.workerCount)))")
        } catch {
            throw .setup("\(error)")
        }

        let meter = ThroughputMeter()
        let hooks = self.hooks
        let stats = StatsWriter(path: configuration.statsFile, ledger: ledger, meter: meter, logger: logger) { document in
            hooks.statsWritten(document)
        }
        let settings = PipelineSettings(
            maxInFlight: configuration.effectiveInFlight, dedup: configuration.dedup, limits: configuration.limits,
            memoryBudget: configuration.effectiveMemoryBudget, upsample: configuration.encoder.upsample)
        let pipeline = Pipeline(
            ledger: ledger, pool: pool, location: location, results: results, settings: settings, logger: logger,
            incarnation: run.incarnation
        ) { result in
            meter.record()
            stats.markDirty()
            hooks.finished(result)
        }
        for record in orphanFinals {
            publishImmediateFailure(record, results: results, meter: meter, stats: stats)
        }
        let ingestor = Ingestor(ledger: ledger, store: store, location: location, logger: logger)
        return Parts(
            ledger: ledger, store: store, location: location, results: results, pipeline: pipeline,
            stats: stats, meter: meter, ingestor: ingestor, reconciler: reconciler, incarnation: run.incarnation)
    }

    /// Writes the document of a record failed outside the pipeline (not a regular file) and counts it.
    private func publishImmediateFailure(_ record: LedgerRecord, results: ResultsWriter, meter: ThroughputMeter, stats: StatsWriter) {
        do {
            try results.write(record)
        } catch {
            logger.error("result document not written (rebuilt at next start) \(LogField.pair("id", record.id.lowercased)): \(error)")
        }
        let result = FinalResult(record: record, how: .notARegularFile, encodeSeconds: 0)
        Pipeline.log(result, logger)
        meter.record()
        stats.markDirty()
        hooks.finished(result)
    }

    // MARK: - Running

    /// Largest batch committed in one LMDB transaction.
    static let maxBatch = 1000

    private func ingestLoop(_ feed: InboxFeed, _ parts: Parts) async {
        var arrivals = feed.arrivals.makeAsyncIterator()
        while true {
            guard let entries = feed.take(limit: Self.maxBatch) else { return }
            if entries.isEmpty {
                guard await arrivals.next() != nil else { return }
                continue
            }
            let batch = entries.map { Ingestor.Candidate(path: $0.path, name: $0.name) }
            let ingestor = parts.ingestor
            let outcome = await BlockingIO.run { () -> Result<Ingestor.Outcome, LedgerError> in
                do throws(LedgerError) {
                    return .success(try ingestor.ingest(batch))
                } catch {
                    return .failure(error)
                }
            }
            feed.acknowledge(entries)
            switch outcome {
            case .success(let outcome):
                if !outcome.created.isEmpty {
                    parts.pipeline.wake()
                    hooks.ingested(outcome.created.count)
                }
                for record in outcome.failed {
                    await BlockingIO.run {
                        self.publishImmediateFailure(record, results: parts.results, meter: parts.meter, stats: parts.stats)
                    }
                }
                parts.stats.markDirty()
            case .failure(let error):
                logger.error("cannot record a batch of \(batch.count) files (they are in the store and get records at the next start): \(error)")
                // The next start must scan the store for them: this run does not end cleanly.
                unrecordedFiles.withLock { $0 = true }
            }
        }
    }

    private func rewriteDocuments(_ reconciler: Reconciler) async {
        let logger = self.logger
        await BlockingIO.run {
            var report = Reconciler.Report()
            do {
                try reconciler.rewriteDocuments(report: &report)
                if report.documentsRewritten > 0 {
                    logger.notice("rewrote missing result documents \(LogField.pair("count", String(report.documentsRewritten))) \(LogField.pair("checked", String(report.finalRecords)))")
                }
            } catch {
                logger.error("cannot check result documents: \(error)")
            }
        }
    }

    private func forwardSignals() -> Task<Void, Never> {
        let stream = SignalHandling.signals([SIGTERM, SIGINT, SIGHUP])
        return Task { [control, logger] in
            var stopsSeen = 0
            for await number in stream {
                if number == SIGHUP {
                    control.yield(.reload)
                    continue
                }
                stopsSeen += 1
                if stopsSeen == 1 {
                    control.yield(.stop(SignalHandling.name(number)))
                } else {
                    // A second SIGINT/SIGTERM: the operator does not want to wait. Everything
                    // committed is safe; files being encoded are taken again at the next start.
                    logger.warning("second \(SignalHandling.name(number)): exiting now")
                    if let parts = self.started.withLock({ $0 }) { self.endRun(parts) }
                    exit(1)
                }
            }
        }
    }

    /// Records in the ledger that this run stopped because it was asked to: what it leaves in flight
    /// is charged nothing at the next start. Not when some files in the store have no record yet:
    /// the next start then scans the store, as after a crash.
    private func endRun(_ parts: Parts) {
        guard !unrecordedFiles.withLock({ $0 }) else { return }
        do {
            try parts.ledger.endRun(parts.incarnation)
        } catch {
            logger.error("cannot record the graceful stop (files in flight will run alone at the next start): \(error)")
        }
    }

    // MARK: - Reload

    private func reload(_ parts: Parts) async {
        hooks.reloading()
        let old = configuration
        let new: DaemonConfiguration
        do {
            new = try DaemonConfiguration.resolve(configFile: source.configFile, flags: source.flags)
        } catch {
            logger.error("reload failed, keeping the running configuration: \(error)")
            hooks.reloaded(.failure(error))
            return
        }
        // Every reloadable setting but the worker count applies at once; a new worker count
        // needs a new encoder pool, which may fail to start.
        var applied = old
        for setting in Setting.all where setting.reloadable && setting.key != "workers" {
            setting.transfer(new, &applied)
        }
        output.level = applied.logLevel
        if new.effectiveWorkers == old.effectiveWorkers {
            applied.workers = new.workers
        } else if await resizePool(parts, to: new.effectiveWorkers) {
            applied.workers = new.workers
        }
        parts.pipeline.update(PipelineSettings(
            maxInFlight: applied.effectiveInFlight, dedup: applied.dedup, limits: applied.limits,
            memoryBudget: applied.effectiveMemoryBudget, upsample: applied.encoder.upsample))
        current.withLock { $0 = applied }
        // stats.json and what follows it (metrics) show the new settings at the next tick.
        parts.stats.markDirty()
        let changed = Setting.all.filter { $0.describe(old) != $0.describe(new) }
        let needRestart = changed.filter { !$0.reloadable }.map(\.key)
        logger.notice("reloaded \(LogField.pair("changed", changed.map(\.key).joined(separator: ",")))")
        if !needRestart.isEmpty {
            logger.warning("these settings take effect at the next start: \(needRestart.joined(separator: ", "))")
        }
        hooks.reloaded(.success(applied))
    }

    /// Starts a pool of `count` workers and sends every later job to it; the previous pool finishes
    /// the files it has, then stops (in the background). False, with the old pool still in use, when
    /// the new engines cannot be made.
    private func resizePool(_ parts: Parts, to count: Int) async -> Bool {
        let pipeline = parts.pipeline
        let current = await pipeline.encoderPool
        let models = current.models
        let made = await BlockingIO.run { () -> Result<EncoderPool, ModelError> in
            do throws(ModelError) {
                return .success(try EncoderPool(models: models, workers: count, limits: current.limits))
            } catch {
                return .failure(error)
            }
        }
        let pool: EncoderPool
        switch made {
        case .success(let made):
            pool = made
        case .failure(let error):
            logger.error("cannot start \(count) encoder workers, keeping \(current.workerCount): \(error)")
            return false
        }
        let previous = await pipeline.usePool(pool)
        logger.notice("encoder workers changed \(LogField.pair("from", String(previous.workerCount))) \(LogField.pair("to", String(pool.workerCount)))")
        let logger = self.logger
        let retirement = Task {
            await pipeline.waitForJobs(on: previous)
            await BlockingIO.run { previous.shutdown() }
            logger.info("previous encoder workers finished their files and stopped \(LogField.pair("workers", String(previous.workerCount)))")
        }
        retiring.withLock { $0.append(retirement) }
        return true
    }

    // MARK: - Stop

    private func shutDown(
        _ parts: Parts, inbox: InboxFeed?, ingestTask: Task<Void, Never>?, tasks: [Task<Void, Never>],
        configuration: DaemonConfiguration
    ) async {
        // 1. No new files: the inbox stops; the batch being ingested finishes its commit.
        inbox?.stop()
        await ingestTask?.value
        // 2. No new records; wait for the ones being encoded.
        await parts.pipeline.stop()
        let running = await parts.pipeline.inFlightCount
        if running > 0 {
            logger.info("waiting for files being encoded \(LogField.pair("count", String(running))) \(LogField.pair("timeout", String(format: "%.0fs", configuration.shutdownTimeout)))")
        }
        let left = await parts.pipeline.drain(timeout: configuration.shutdownTimeout)
        if left > 0 {
            logger.warning("shutdown timeout: files still encoding are taken again at the next start \(LogField.pair("count", String(left)))")
        } else {
            // Nothing is in flight: pools replaced by a reload have no job left and stop at once.
            for retirement in retiring.withLock({ $0 }) { await retirement.value }
        }
        for task in tasks { task.cancel() }
        // 3. The last stats, from the committed counters; the run ended gracefully, so the files
        // still encoding (drain timeout) are charged nothing.
        await BlockingIO.run { _ = parts.stats.flush(force: true) }
        endRun(parts)
        let final = try? parts.ledger.stats()
        logger.info("stopped \(LogField.pair("total", String(final?.total ?? 0))) \(LogField.pair("backlog", String(final?.counts[.created] ?? 0)))")
    }
}

/// The version facewatch reports in its logs.
public enum FacewatchVersion {
    /// The release version.
    public static let current = "0.1.0"
}
