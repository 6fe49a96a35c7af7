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
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `facewatch serve`: the lifecycle of one daemon on one root.
///
/// Start: take the root lock (a second daemon stops here, naming the holder), create the
/// directories, open the ledger, record store orphans, load the models and start the encoder pool,
/// start watching the inbox (a full scan, then inotify), then run the daemon's services in one
/// swift-service-lifecycle `ServiceGroup` (in this order; the group stops them in the reverse one):
/// `ControlService` (stop and reload requests, signals), the caller's extra services (the systemd
/// watchdog), `StatsService` (stats.json once a second), `PipelineService` (the encoding pipeline,
/// which at once resumes every `created` record) and `IngestService` (inbox to ledger), which says
/// `ready`. Missing result documents are rewritten in the background.
///
/// Stop (SIGTERM, SIGINT or `requestStop()`; a second SIGTERM or SIGINT exits at once): the group
/// shuts its services down gracefully, last first — the inbox stops and the batch being ingested
/// commits; the pipeline stops taking records and waits up to `shutdownTimeout` for the files being
/// encoded, committing them; the last `stats.json` is written; the watchdog and the controls stop.
/// Then the lock is released and `run` returns. A file still encoding when the wait ends stays
/// `created` (its attempt counted) and is taken again at the next start. `DaemonHooks.shutdownStep`
/// reports each step.
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

    private let initial: DaemonConfiguration
    private let source: Source
    private let output: LogOutput
    let logger: Logger
    let hooks: DaemonHooks
    private let requests: AsyncStream<ControlService.Request>
    private let request: AsyncStream<ControlService.Request>.Continuation
    private let current: Mutex<DaemonConfiguration>
    private let running = Mutex<Pipeline?>(nil)
    /// The group of the running daemon, for a stop request to shut down.
    private let group = Mutex<ServiceGroup?>(nil)
    /// Set when a batch moved into the store could not be recorded (see `endRun`).
    private let unrecordedFiles = Mutex(false)
    /// Pools replaced by a reload, finishing their files before they stop.
    private let retiring = Mutex<[Task<Void, Never>]>([])

    /// A daemon for `configuration` (read from `source`), logging through `output`.
    public init(
        configuration: DaemonConfiguration, source: Source, output: LogOutput, hooks: DaemonHooks = DaemonHooks()
    ) {
        initial = configuration
        self.source = source
        self.output = output
        self.hooks = hooks
        logger = output.logger(label: "facewatch")
        current = Mutex(configuration)
        (requests, request) = AsyncStream.makeStream(of: ControlService.Request.self, bufferingPolicy: .unbounded)
    }

    /// The configuration in force (changes with a reload).
    public var configuration: DaemonConfiguration { current.withLock { $0 } }

    /// What the pipeline is doing (nil before it runs): the seam for a watchdog's progress check.
    public var activity: PipelineActivity? { running.withLock { $0 }?.activity }

    /// Begins a graceful shutdown. Safe from any thread, any number of times, also before `run`
    /// (the daemon then stops as soon as it has started).
    public func requestStop(reason: String = "requested") {
        request.yield(.stop(reason))
    }

    /// Re-reads the config file. Safe from any thread.
    public func requestReload() {
        request.yield(.reload)
    }

    /// Runs until a stop is requested (or SIGTERM/SIGINT arrives, when `handleSignals`), then shuts
    /// down gracefully and returns. `services` run in the daemon's group from readiness to the end:
    /// started after the controls, stopped after the last stats are written.
    ///
    /// - Throws: `StartError` when it cannot start.
    public func run(handleSignals: Bool = true, services: [any Service] = []) async throws(StartError) {
        let configuration = initial
        // Trapped before anything else, so that a signal during a slow start (the models) is acted
        // on once the services run, instead of killing the process.
        let signals: UnixSignalsSequence? =
            handleSignals ? await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup) : nil

        // One daemon per root.
        let lock: RootLock
        do {
            lock = try RootLock(root: configuration.root)
        } catch {
            throw .locked(error)
        }
        defer {
            lock.release()
            hooks.shutdownStep(.lockReleased)
        }
        logger.info(
            "starting \(LogField.pair("pid", String(getpid()))) \(LogField.pair("root", configuration.root)) \(LogField.pair("version", FacewatchVersion.current))"
        )
        for (key, value) in configuration.summary {
            logger.debug("setting \(key)=\(LogField.quoted(value))")
        }

        let parts = try setUp(configuration)
        let inbox: InboxFeed
        do {
            inbox = try InboxFeed(configuration: configuration, logger: logger)
        } catch {
            await BlockingIO.run { _ = parts.stats.flush(force: true) }
            throw .setup("cannot watch the inbox \(configuration.inbox): \(error)")
        }
        running.withLock { $0 = parts.pipeline }
        let documentsTask = Task { await self.rewriteDocuments(parts.reconciler) }
        let maintenanceTask = Task { await Maintenance.run(ledger: parts.ledger, logger: self.logger) }
        let reportTask = configuration.report.map { directory in
            Task {
                await ReportRefresher.run(
                    directory: directory, configuration: configuration, ledger: parts.ledger, meter: parts.meter,
                    logger: self.logger)
            }
        }
        defer {
            documentsTask.cancel()
            maintenanceTask.cancel()
            reportTask?.cancel()
        }

        let control = ControlService(daemon: self, parts: parts, requests: requests, signals: signals)
        let members: [any Service] =
            [control] + services
            + [
                StatsService(daemon: self, parts: parts), PipelineService(daemon: self, parts: parts),
                peopleService(parts, configuration), IngestService(daemon: self, parts: parts, feed: inbox),
            ]
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: members.map {
                    // A service that ends on its own (none should) stops the others gracefully too.
                    ServiceGroupConfiguration.ServiceConfiguration(
                        service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup,
                        serviceName: String(describing: type(of: $0)))
                },
                logger: logger))
        group.withLock { $0 = serviceGroup }
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("the daemon's services ended with an error: \(error)")
        }
        group.withLock { $0 = nil }
        let final = try? parts.ledger.stats()
        logger.info(
            "stopped \(LogField.pair("total", String(final?.total ?? 0))) \(LogField.pair("backlog", String(final?.counts[.created] ?? 0)))"
        )
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
            logger.notice(
                "the previous run stopped without a graceful shutdown \(LogField.pair("cause", previousDiedOfFault ? "fault" : "killed")) \(LogField.pair("run", String(run.incarnation - 1))) \(LogField.pair("charged", String(run.charged.count))) \(LogField.pair("suspects", String(run.suspects.count)))"
            )
        }
        for id in run.charged {
            let deaths = (try? ledger.deaths(id)) ?? Ledger.Deaths()
            logger.warning(
                "charged a death: it was encoding alone when the previous run died \(LogField.pair("id", id.lowercased)) \(LogField.pair("crashes", String(deaths.crashes))) \(LogField.pair("kills", String(deaths.kills)))"
            )
        }
        hooks.ledgerOpened(ledger)
        let location = StoreLocation(root: configuration.root, store: store.directory)
        let labeller = ResultLabeller(ledger: ledger, defaultTolerance: configuration.tolerance)
        let results = ResultsWriter(
            directory: configuration.results, format: configuration.resultFormat, labeller: labeller)
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
            logger.notice(
                "recorded store files that had no record \(LogField.pair("count", String(report.orphansRecorded)))")
        }

        let pool: EncoderPool
        do {
            let directory = try FaceModels.locate(explicit: configuration.models)
            let models = try FaceModels(directory: directory, options: configuration.encoder)
            pool = try EncoderPool(
                models: models, workers: configuration.effectiveWorkers, limits: configuration.limits)
            logger.info(
                "models loaded \(LogField.pair("directory", directory.path)) \(LogField.pair("workers", String(pool.workerCount)))"
            )
        } catch {
            throw .setup("\(error)")
        }

        let meter = ThroughputMeter()
        let hooks = self.hooks
        let stats = StatsWriter(path: configuration.statsFile, ledger: ledger, meter: meter, logger: logger) {
            document in
            hooks.statsWritten(document)
        }
        let settings = PipelineSettings(
            maxInFlight: configuration.effectiveInFlight, dedup: configuration.dedup, limits: configuration.limits,
            memoryBudget: configuration.effectiveMemoryBudget, upsample: configuration.encoder.upsample)
        MemoryBudget.returnLargeBlocksToTheSystem()
        logger.info("memory budget for images \(LogField.pair("bytes", String(settings.memoryBudget)))")
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
    private func publishImmediateFailure(
        _ record: LedgerRecord, results: ResultsWriter, meter: ThroughputMeter, stats: StatsWriter
    ) {
        do {
            try results.write(record)
        } catch {
            logger.error(
                "result document not written (rebuilt at next start) \(LogField.pair("id", record.id.lowercased)): \(error)"
            )
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

    /// Logs `ready` and tells the hooks, with the backlog and the worker count.
    func announceReady(_ parts: Parts) async {
        let configuration = self.configuration
        let backlog = (try? parts.ledger.stats().counts[.created]) ?? 0
        let workers = await parts.pipeline.encoderPool.workerCount
        let status = "watching \(configuration.inbox) with \(workers) workers, backlog \(backlog)"
        logger.info(
            "ready \(LogField.pair("inbox", configuration.inbox)) \(LogField.pair("workers", String(workers))) \(LogField.pair("backlog", String(backlog)))"
        )
        hooks.ready(status)
    }

    /// Takes batches from the inbox into the ledger until the feed stops; returns after the commit
    /// of the batch being ingested then.
    func ingestLoop(_ feed: InboxFeed, _ parts: Parts) async {
        var arrivals = feed.arrivals.makeAsyncIterator()
        while true {
            guard let entries = feed.take(limit: Self.maxBatch) else { return }
            if entries.isEmpty {
                guard await arrivals.next() != nil else { return }
                continue
            }
            let batch = entries.map { Ingestor.Candidate(path: $0.path, name: $0.name, size: $0.size) }
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
                        self.publishImmediateFailure(
                            record, results: parts.results, meter: parts.meter, stats: parts.stats)
                    }
                }
                parts.stats.markDirty()
            case .failure(let error):
                logger.error(
                    "cannot record a batch of \(batch.count) files (they are in the store and get records at the next start): \(error)"
                )
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
                    logger.notice(
                        "rewrote missing result documents \(LogField.pair("count", String(report.documentsRewritten))) \(LogField.pair("checked", String(report.finalRecords)))"
                    )
                }
            } catch {
                logger.error("cannot check result documents: \(error)")
            }
        }
    }

    // MARK: - Reload

    func reload(_ parts: Parts) async {
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
        parts.pipeline.update(
            PipelineSettings(
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
        logger.notice(
            "encoder workers changed \(LogField.pair("from", String(previous.workerCount))) \(LogField.pair("to", String(pool.workerCount)))"
        )
        let logger = self.logger
        let retirement = Task {
            await pipeline.waitForJobs(on: previous)
            await BlockingIO.run { previous.shutdown() }
            logger.info(
                "previous encoder workers finished their files and stopped \(LogField.pair("workers", String(previous.workerCount)))"
            )
        }
        retiring.withLock { $0.append(retirement) }
        return true
    }

    // MARK: - Stop

    /// Records in the ledger that this run stopped because it was asked to: what it leaves in flight
    /// is charged nothing at the next start. Not when some files in the store have no record yet:
    /// the next start then scans the store, as after a crash.
    func endRun(_ parts: Parts) {
        guard !unrecordedFiles.withLock({ $0 }) else { return }
        do {
            try parts.ledger.endRun(parts.incarnation)
        } catch {
            logger.error("cannot record the graceful stop (files in flight will run alone at the next start): \(error)")
        }
    }

    /// Logs why the daemon stops and tells the group to shut its services down gracefully.
    func beginStop(reason: String) async {
        logger.info("stopping \(LogField.pair("reason", reason))")
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }

    /// Stops the pipeline taking records and waits up to the shutdown timeout for those in flight.
    /// Returns how many were still encoding when the wait ended.
    func drain(_ pipeline: Pipeline) async -> Int {
        let timeout = configuration.shutdownTimeout
        let running = await pipeline.inFlightCount
        if running > 0 {
            logger.info(
                "waiting for files being encoded \(LogField.pair("count", String(running))) \(LogField.pair("timeout", String(format: "%.0fs", timeout)))"
            )
        }
        let left = await pipeline.drain(timeout: timeout)
        if left > 0 {
            logger.warning(
                "shutdown timeout: files still encoding are taken again at the next start \(LogField.pair("count", String(left)))"
            )
        } else {
            // Nothing is in flight: pools replaced by a reload have no job left and stop at once.
            for retirement in retiring.withLock({ $0 }) { await retirement.value }
        }
        return left
    }
}

/// The version facewatch reports in its logs.
public enum FacewatchVersion {
    /// The release version.
    public static let current = "0.1.0"
}
