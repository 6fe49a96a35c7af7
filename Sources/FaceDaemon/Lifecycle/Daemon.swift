#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceCore
import FaceEncoding
import FaceLedger
import FaceRoot
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
    private let watchBox = Mutex<RootWatch?>(nil)
    /// The group of the running daemon, for a stop request to shut down.
    private let group = Mutex<ServiceGroup?>(nil)
    /// Whether every final record's document is known to be written: the previous run said so, or
    /// this run's check finished; cleared when a document cannot be written (see `endRun`).
    private let documentsComplete = Mutex(false)
    /// Set when a batch moved into the store could not be recorded (see `endRun`).
    private let unrecordedFiles = Mutex(false)
    /// Yields once the daemon has said it is ready (the documents check waits for it).
    private let readiness = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
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

    /// The memory budget in use (nil before the pipeline runs).
    public var memoryUse: MemoryBudget.Use? { running.withLock { $0 }?.memoryUse }

    /// Why the daemon takes and encodes no files now (nil while it works or before it runs).
    public var pausedReason: String? { watchBox.withLock { $0 }?.pausedReason }

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
        watchBox.withLock { $0 = parts.watch }
        let documentsTask = Task {
            // After READY: reading every document must not delay it.
            var ready = self.readiness.stream.makeAsyncIterator()
            _ = await ready.next()
            // Not into a results directory that is away (an empty mount point): wait for it.
            while parts.watch.pausedReason != nil, !Task.isCancelled { try? await Task.sleep(for: .seconds(1)) }
            guard !Task.isCancelled else { return }
            // After a graceful stop that owed no document, one document per final record in the
            // directory is enough: no document is opened. Otherwise every one is checked.
            if parts.documentsWereComplete, await BlockingIO.run({ Self.oneDocumentPerFinalRecord(parts) }) {
                self.documentsComplete.withLock { $0 = true }
                return
            }
            if await self.rewriteDocuments(parts.reconciler) {
                self.documentsComplete.withLock { $0 = true }
            }
        }
        let maintenanceTask = Task { await Maintenance.run(ledger: parts.ledger, logger: self.logger) }
        let retentionTask = startRetention(parts.ledger, configuration)
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
            retentionTask?.cancel()
            reportTask?.cancel()
        }

        let control = ControlService(daemon: self, parts: parts, requests: requests, signals: signals)
        let members: [any Service] =
            [control] + services
            + [
                // Before the pipeline: stopped after it, the lease lives while the files drain.
                LeaseService(parts: parts, lease: configuration.ledgerLease, logger: logger),
                StatsService(daemon: self, parts: parts), RootWatchService(daemon: self, parts: parts),
                PipelineService(daemon: self, parts: parts), peopleService(parts, configuration),
                IngestService(daemon: self, parts: parts, feed: inbox),
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
        let ledger: any Ledger
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
        /// Whether the store, results and db directories are the root's (`DirectoryIdentity`).
        let watch: RootWatch
        /// The previous run ended gracefully with every document written (`RunStart`).
        let documentsWereComplete: Bool
    }

    private func setUp(_ configuration: DaemonConfiguration) throws(StartError) -> Parts {
        func setupError(_ what: String, _ error: any Error) -> StartError {
            .setup("\(what): \(error)")
        }
        if let reason = CPUFeatures.unsupportedReason { throw .setup(reason) }
        // A batch holds one descriptor per inbox folder it takes files from (up to `maxBatch`), so
        // the soft limit on open files (1024) is raised to the hard one (systemd's is 524288): a
        // member who spreads a thousand files over a thousand folders must not starve the ledger.
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        // The directories' identity first: nothing is created where a marker is missing (a mount
        // point whose file system is not mounted yet must stay empty).
        let identity: DirectoryIdentity
        let problems: [DirectoryIdentity.Problem]
        do {
            // A shared ledger lives in PostgreSQL: no db directory to guard; the store and results
            // (shared by the daemons) carry the marker the first daemon wrote.
            var guarded: [DirectoryIdentity.Guarded] = [
                .init(role: "store", path: configuration.store), .init(role: "results", path: configuration.results),
            ]
            if !configuration.ledgerIsShared { guarded.append(.init(role: "db", path: configuration.database)) }
            (identity, problems) = try DirectoryIdentity.establish(guarded)
        } catch {
            throw setupError("cannot mark the store, results and db directories", error)
        }
        let storeAway = problems.contains { $0.directory.role == "store" }
        // Without its ledger the daemon knows nothing; a store it must scan is needed as well. The
        // start fails (systemd starts it again); any other directory away pauses the daemon instead.
        if problems.contains(where: { $0.directory.role == "db" }) {
            throw .setup("cannot start: \(DirectoryIdentity.describe(problems))")
        }
        let store: Store
        do {
            // Sticky: a member may remove or replace only the files they own (the packaged inbox is
            // 3770, see systemd/facewatch.tmpfiles).
            try DurableFile.createDirectories(configuration.inbox, permissions: 0o1775)
            InboxAccess.grantDaemonAccess(inbox: configuration.inbox, logger: logger)
            store = try Store(directory: configuration.store, create: !storeAway)
        } catch {
            throw setupError("cannot create the directories", error)
        }
        let ledger: any Ledger
        for exposed in ConfigFileSecrecy.warnings(for: configuration) { logger.warning("\(exposed)") }
        hooks.startupWork("opening the ledger")
        do {
            ledger = try LedgerOpener.open(configuration, storeIdentity: identity.rootID)
        } catch {
            hooks.startupWork(nil)
            throw setupError("cannot open the ledger at \(configuration.ledgerLocation)", error)
        }
        hooks.startupWork(nil)
        // A copy cut short is not a ledger to serve: records, people or labels may be missing.
        let unfinishedCopy: String?
        do {
            unfinishedCopy = try ledger.unfinishedCopy()
        } catch {
            throw setupError("cannot read the ledger at \(ledger.location)", error)
        }
        if let unfinishedCopy {
            throw .setup(
                "the ledger at \(ledger.location) is an unfinished copy of \(unfinishedCopy) (a `facewatch ledger export` or `import` was interrupted): run the same command again to complete it"
            )
        }
        // A new run: the attempts the previous one left are settled (crash attribution).
        let run: RunStart
        let previousDiedOfFault = CrashMarker.previousRunCrashed(root: configuration.root)
        do {
            run = try ledger.beginRun(previousDiedOfFault: previousDiedOfFault)
            CrashMarker.arm(root: configuration.root)
        } catch {
            throw setupError("cannot start a run in the ledger at \(ledger.location)", error)
        }
        if run.previousEndedCleanly == false {
            logger.notice(
                "the previous run stopped without a graceful shutdown \(LogField.pair("cause", previousDiedOfFault ? "fault" : "killed")) \(LogField.pair("this_run", String(run.incarnation))) \(LogField.pair("charged", String(run.charged.count))) \(LogField.pair("suspects", String(run.suspects.count)))"
            )
        }
        for id in run.charged {
            let deaths = (try? ledger.deaths(id)) ?? Deaths()
            logger.warning(
                "charged a death: it was encoding alone when the previous run died \(LogField.pair("id", id.lowercased)) \(LogField.pair("crashes", String(deaths.crashes))) \(LogField.pair("kills", String(deaths.kills)))"
            )
        }
        hooks.ledgerOpened(ledger)
        let location = StoreLocation(root: configuration.root, store: store.directory)
        let labeller = ResultLabeller(ledger: ledger, defaultTolerance: configuration.tolerance)
        let results = ResultsWriter(
            directory: configuration.results, format: configuration.resultFormat, labeller: labeller,
            tombstones: ledger)
        // Forgets cut short by a crash (theirs or ours) left tombstones with files: removed before the
        // store is scanned, so no forgotten original is ever taken for an orphan.
        finishForgets(ledger, configuration, results)
        let reconciler = Reconciler(ledger: ledger, store: store, location: location, results: results, logger: logger)

        // Orphans first: the store must not change while it is scanned (the inbox is not watched yet).
        // Only an unclean stop (or a run that could not record a batch: it does not end cleanly)
        // leaves store files without records, so after a graceful one the scan is skipped and
        // start-up does not grow with the store.
        var report = Reconciler.Report()
        var orphanFinals: [LedgerRecord] = []
        if run.previousEndedCleanly != true {
            // Only a crash leaves half-written documents; listing a large results directory is not
            // free, so a start after a graceful stop does not. Results shared with other daemons
            // hold their documents being written: left alone.
            if !problems.contains(where: { $0.directory.role == "results" }), !configuration.ledgerIsShared {
                reconciler.removeTemporaryDocuments()
            }
            if storeAway {
                throw .setup("cannot scan the store after an unclean stop: \(DirectoryIdentity.describe(problems))")
            }
            hooks.startupWork("scanning the store for files without a record (the previous run did not stop cleanly)")
            defer { hooks.startupWork(nil) }
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
        logger.debug("loading the models")
        do {
            let directory = try FaceModels.locate(explicit: configuration.models)
            // No filter cache: the service's home is its data root, which holds only what the daemon
            // keeps there; it decodes dlib's detector at each start (about 0.4 s, beside the model reads).
            let models = try FaceModels(directory: directory, options: configuration.encoder, filterCache: nil)
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
            memoryBudget: configuration.effectiveMemoryBudget, upsample: configuration.encoder.upsample,
            detector: configuration.encoder.detector)
        MemoryBudget.returnLargeBlocksToTheSystem()
        logger.info("memory budget for images \(LogField.pair("bytes", String(settings.memoryBudget)))")
        let watch = RootWatch(identity: identity, problems: problems)
        let pipeline = Pipeline(
            ledger: ledger, pool: pool, location: location, results: results, settings: settings, logger: logger,
            incarnation: run.incarnation, watch: watch, stats: stats
        ) { result in
            meter.record()
            stats.markDirty()
            hooks.finished(result)
        }
        for record in orphanFinals {
            publishImmediateFailure(record, results: results, meter: meter, stats: stats)
        }
        let ingestor = Ingestor(
            ledger: ledger, store: store, location: location, logger: logger,
            inbox: InboxDirectory(path: configuration.inbox))
        return Parts(
            ledger: ledger, store: store, location: location, results: results, pipeline: pipeline,
            stats: stats, meter: meter, ingestor: ingestor, reconciler: reconciler, incarnation: run.incarnation,
            watch: watch, documentsWereComplete: run.previousEndedCleanly == true && run.documentsComplete)
    }

    /// Writes the document of a record failed outside the pipeline (not a regular file, too large)
    /// and counts it.
    private func publishImmediateFailure(
        _ record: LedgerRecord, results: ResultsWriter, meter: ThroughputMeter, stats: StatsWriter
    ) {
        do {
            try results.write(record)
        } catch {
            documentsComplete.withLock { $0 = false }
            logger.error(
                "result document not written (rebuilt at next start) \(LogField.pair("id", record.id.lowercased)): \(error)"
            )
        }
        let how: FinalResult.How = record.error?.code == .notARegularFile ? .notARegularFile : .refusedAtIntake
        let result = FinalResult(record: record, how: how, encodeSeconds: 0)
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
        readiness.continuation.yield()
    }

    /// Takes batches from the inbox into the ledger until the feed stops; returns after the commit
    /// of the batch being ingested then.
    func ingestLoop(_ feed: InboxFeed, _ parts: Parts) async {
        var arrivals = feed.arrivals.makeAsyncIterator()
        var waitingWhilePaused = 0
        while true {
            // Nothing is taken while a root directory is away: read the markers right before each
            // batch (the watch's once-a-second reading could be a second late).
            if await BlockingIO.run({ parts.watch.recheck() }) != nil {
                guard feed.take(limit: 0) != nil else { return }
                if feed.waitingCount != waitingWhilePaused {
                    waitingWhilePaused = feed.waitingCount
                    logger.debug(
                        "paused: files wait in the inbox \(LogField.pair("count", String(waitingWhilePaused)))")
                }
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            waitingWhilePaused = 0
            guard let entries = feed.take(limit: Self.maxBatch) else { return }
            if entries.isEmpty {
                guard await arrivals.next() != nil else { return }
                continue
            }
            let batch = entries.map {
                Ingestor.Candidate(path: $0.path, name: $0.name, size: $0.size, arrival: $0.arrival)
            }
            await BlockingIO.run { TestHooks.pauseBeforeIngestIfAsked(names: batch.map(\.name)) }
            let ingestor = parts.ingestor
            let maxBytes = configuration.limits.maxBytes
            let writerQuiet = Duration.milliseconds(Int64(configuration.writerQuietSeconds * 1000))
            let outcome = await BlockingIO.run { () -> Result<Ingestor.Outcome, LedgerError> in
                do throws(LedgerError) {
                    return .success(try ingestor.ingest(batch, maxBytes: maxBytes, writerQuiet: writerQuiet))
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
                    "cannot record a batch of \(batch.count) files (those already moved into the store are recorded as soon as the ledger takes them; the others stay in the inbox and are taken again): \(error)"
                )
                // The next start must scan the store for them: this run does not end cleanly.
                unrecordedFiles.withLock { $0 = true }
            }
        }
    }

    /// Whether the results directory holds as many documents as the ledger has final records (its
    /// names are read, no file is opened).
    private static func oneDocumentPerFinalRecord(_ parts: Parts) -> Bool {
        guard let stats = try? parts.ledger.stats(),
            let names = try? DirectoryReader.stringNames(in: parts.results.directory)
        else { return false }
        let documents = names.count { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
        return documents == (stats.counts[.completed] ?? 0) + (stats.counts[.failed] ?? 0)
    }

    /// Checks every final record's document and writes the missing ones; true when all are written.
    private func rewriteDocuments(_ reconciler: Reconciler) async -> Bool {
        let logger = self.logger
        return await BlockingIO.run { () -> Bool in
            var report = Reconciler.Report()
            do {
                try reconciler.rewriteDocuments(report: &report)
                if report.documentsRewritten > 0 {
                    logger.notice(
                        "rewrote missing result documents \(LogField.pair("count", String(report.documentsRewritten))) \(LogField.pair("checked", String(report.finalRecords)))"
                    )
                }
                return report.documentsFailed == 0
            } catch {
                logger.error("cannot check result documents: \(error)")
                return false
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
                memoryBudget: applied.effectiveMemoryBudget, upsample: applied.encoder.upsample,
                detector: applied.encoder.detector))
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
    ///
    /// `documentsOwed`: the pipeline's documents not written yet (nil: unknown). With none, and every
    /// other document known to be written, the next start does not check them.
    func endRun(_ parts: Parts, documentsOwed: Int? = nil) {
        guard !unrecordedFiles.withLock({ $0 }) else { return }
        let complete = documentsOwed == 0 && documentsComplete.withLock { $0 }
        do {
            try parts.ledger.endRun(parts.incarnation, documentsComplete: complete)
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
