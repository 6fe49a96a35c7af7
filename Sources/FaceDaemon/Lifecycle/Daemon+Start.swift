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

// The start that happens once and in order, before the daemon's services run: each step below is
// one function, called by `setUp` in the order the crash-safety rules need (ARCHITECTURE,
// "Lifecycle").

extension Daemon {
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
        /// The people of the stored faces, and the face log's length when they were grouped.
        let people: PeopleTracker
        let faceLogStart: UInt64
    }

    /// The start, step by step: the directories' identity, the directories, the ledger, this run in
    /// it, the store's orphans, the models, and the parts that use them.
    ///
    /// - Throws: `StartError.setup` naming the step that failed.
    func setUp(_ configuration: DaemonConfiguration) throws(StartError) -> Parts {
        if let reason = CPUFeatures.unsupportedReason { throw .setup(reason) }
        Self.raiseOpenFileLimit()
        let (identity, problems) = try establishIdentity(configuration)
        let storeAway = problems.contains { $0.directory.role == "store" }
        let store = try createDirectories(configuration, storeAway: storeAway)
        let ledger = try openLedger(configuration, rootID: identity.rootID)
        let run = try beginRun(ledger, configuration)
        hooks.ledgerOpened(ledger)

        let location = StoreLocation(root: configuration.root, store: store.directory)
        let labeller = ResultLabeller(ledger: ledger, defaultTolerance: configuration.tolerance)
        let (people, faceLogStart) = try groupPeople(ledger, configuration)
        let results = ResultsWriter(
            directory: configuration.results, format: configuration.resultFormat, labeller: labeller,
            tombstones: ledger, people: people)
        // Forgets cut short by a crash (theirs or ours) left tombstones with files: removed before the
        // store is scanned, so no forgotten original is ever taken for an orphan.
        finishForgets(ledger, configuration, results)
        let reconciler = Reconciler(ledger: ledger, store: store, location: location, results: results, logger: logger)
        let orphanFinals = try recordOrphans(
            reconciler, after: run, configuration, problems: problems, storeAway: storeAway)
        let pool = try startEncoders(configuration)

        let meter = ThroughputMeter()
        let hooks = self.hooks
        let stats = StatsWriter(path: configuration.statsFile, ledger: ledger, meter: meter, logger: logger) {
            document in
            hooks.statsWritten(document)
        }
        let settings = PipelineSettings(configuration)
        MemoryBudget.returnLargeBlocksToTheSystem()
        logger.info("memory budget for images", metadata: ["bytes": "\(settings.memoryBudget)"])
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
            watch: watch, documentsWereComplete: run.previousEndedCleanly == true && run.documentsComplete,
            people: people, faceLogStart: faceLogStart)
    }

    /// Groups the ledger's stored faces into people (`StoredPeople.loaded`): from the root's people
    /// snapshot where it serves (the faces it holds take their neighbours from it, the others are
    /// added one by one), else in one pass. The grouping is a function of the set of faces, so either
    /// way it is what the previous run had for the same faces.
    private func groupPeople(
        _ ledger: any Ledger, _ configuration: DaemonConfiguration
    ) throws(StartError) -> (PeopleTracker, UInt64) {
        hooks.startupWork("grouping the stored faces into people")
        defer { hooks.startupWork(nil) }
        let started = Date()
        do {
            let faceLog = try ledger.faceLogCount()
            let (people, origin) = try StoredPeople.loaded(
                from: ledger, filter: PeopleFilter(configuration),
                snapshot: PeopleSnapshotFile.read(root: configuration.root))
            var metadata: Logger.Metadata = [
                "faces": "\(people.grouping.count)", "people": "\(people.grouping.peopleCount)",
                "seconds": "\(Date().timeIntervalSince(started))",
            ]
            var snapshotCurrent = false
            switch origin {
            case .snapshot(let reused, let added, let dropped, let position):
                snapshotCurrent = added == 0 && dropped == 0
                metadata["from"] = "snapshot"
                metadata["reused"] = "\(reused)"
                metadata["added"] = "\(added)"
                metadata["dropped"] = "\(dropped)"
                metadata["snapshot_face_log"] = "\(position.faceLog)"
            case .onePass(let reason):
                metadata["from"] = "one pass"
                metadata["reason"] = "\(reason)"
            }
            logger.info("grouped the stored faces into people", metadata: metadata)
            return (PeopleTracker(people, snapshotCurrent: snapshotCurrent), faceLog)
        } catch {
            throw .setup("cannot group the stored faces into people: \(error)")
        }
    }

    /// Raises the soft limit on open files to the hard one (systemd's is 524288). A batch holds one
    /// descriptor per inbox folder it takes files from (up to `maxBatch`): a member who spreads a
    /// thousand files over a thousand folders must not starve the ledger of descriptors.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// Reads (or, the first time, writes) the markers of the store, results and db directories.
    /// Nothing is created where a marker is missing: a mount point whose file system is not mounted
    /// yet must stay empty. A db directory away fails the start (systemd starts it again); any other
    /// directory away pauses the daemon instead (the problems returned).
    private func establishIdentity(
        _ configuration: DaemonConfiguration
    ) throws(StartError) -> (DirectoryIdentity, [DirectoryIdentity.Problem]) {
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
            throw .setup("cannot mark the store, results and db directories: \(error)")
        }
        if problems.contains(where: { $0.directory.role == "db" }) {
            throw .setup("cannot start: \(DirectoryIdentity.describe(problems))")
        }
        return (identity, problems)
    }

    /// Creates the inbox (sticky, group-writable) and opens the store.
    private func createDirectories(_ configuration: DaemonConfiguration, storeAway: Bool) throws(StartError) -> Store {
        do {
            // Sticky: a member may remove or replace only the files they own (the packaged inbox is
            // 3770, see systemd/facewatch.tmpfiles).
            try DurableFile.createDirectories(configuration.inbox, permissions: 0o1775)
            InboxAccess.grantDaemonAccess(inbox: configuration.inbox, logger: logger)
            return try Store(directory: configuration.store, create: !storeAway)
        } catch {
            throw .setup("cannot create the directories: \(error)")
        }
    }

    /// Opens the ledger, refusing one that an interrupted export or import left unfinished.
    private func openLedger(_ configuration: DaemonConfiguration, rootID: String) throws(StartError) -> any Ledger {
        for exposed in ConfigFileSecrecy.warnings(for: configuration) { logger.warning("\(exposed)") }
        hooks.startupWork("opening the ledger")
        defer { hooks.startupWork(nil) }
        let ledger: any Ledger
        do {
            ledger = try LedgerOpener.open(configuration, storeIdentity: rootID)
        } catch {
            throw .setup("cannot open the ledger at \(configuration.ledgerLocation): \(error)")
        }
        // A copy cut short is not a ledger to serve: records, people or labels may be missing.
        let unfinishedCopy: String?
        do {
            unfinishedCopy = try ledger.unfinishedCopy()
        } catch {
            throw .setup("cannot read the ledger at \(ledger.location): \(error)")
        }
        if let unfinishedCopy {
            throw .setup(
                "the ledger at \(ledger.location) is an unfinished copy of \(unfinishedCopy) (a `facewatch ledger export` or `import` was interrupted): run the same command again to complete it"
            )
        }
        return ledger
    }

    /// Starts this run in the ledger, which settles the attempts the previous run left (crash
    /// attribution), and arms the crash marker.
    private func beginRun(_ ledger: any Ledger, _ configuration: DaemonConfiguration) throws(StartError) -> RunStart {
        let run: RunStart
        let previousDiedOfFault = CrashMarker.previousRunCrashed(root: configuration.root)
        KnownEncodeCharges.settle(root: configuration.root, previousDiedOfFault: previousDiedOfFault)
        do {
            run = try ledger.beginRun(previousDiedOfFault: previousDiedOfFault)
            CrashMarker.arm(root: configuration.root)
        } catch {
            throw .setup("cannot start a run in the ledger at \(ledger.location): \(error)")
        }
        if run.previousEndedCleanly == false {
            logger.notice(
                "the previous run stopped without a graceful shutdown",
                metadata: [
                    "cause": "\(previousDiedOfFault ? "fault" : "killed")", "this_run": "\(run.incarnation)",
                    "charged": "\(run.charged.count)", "suspects": "\(run.suspects.count)",
                ]
            )
        }
        for id in run.charged {
            let deaths = (try? ledger.deaths(id)) ?? Deaths()
            logger.warning(
                "charged a death: it was encoding alone when the previous run died",
                metadata: ["id": "\(id.lowercased)", "crashes": "\(deaths.crashes)", "kills": "\(deaths.kills)"]
            )
        }
        return run
    }

    /// Records the store's files that have no record, after an unclean stop; returns the records
    /// made final at once (their documents are written when the parts exist).
    ///
    /// The inbox is not watched yet, so the store does not change while it is scanned. Only an
    /// unclean stop (or a run that could not record a batch: it does not end cleanly) leaves store
    /// files without records, so after a graceful one the scan is skipped and start-up does not grow
    /// with the store.
    private func recordOrphans(
        _ reconciler: Reconciler, after run: RunStart, _ configuration: DaemonConfiguration,
        problems: [DirectoryIdentity.Problem], storeAway: Bool
    ) throws(StartError) -> [LedgerRecord] {
        guard run.previousEndedCleanly != true else { return [] }
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
        var report = Reconciler.Report()
        let finals: [LedgerRecord]
        do {
            finals = try reconciler.recordOrphans(report: &report)
        } catch {
            throw .setup("cannot reconcile the store with the ledger: \(error)")
        }
        if report.orphansRecorded > 0 {
            logger.notice(
                "recorded store files that had no record", metadata: ["count": "\(report.orphansRecorded)"])
        }
        return finals
    }

    /// Loads the models and starts the encoder pool.
    private func startEncoders(_ configuration: DaemonConfiguration) throws(StartError) -> EncoderPool {
        logger.debug("loading the models")
        do {
            let directory = try FaceModels.locate(explicit: configuration.models)
            // No filter cache: the service's home is its data root, which holds only what the daemon
            // keeps there; it decodes dlib's detector at each start (about 0.4 s, beside the model reads).
            let models = try FaceModels(directory: directory, options: configuration.encoder, filterCache: nil)
            let pool = try EncoderPool(
                models: models, workers: configuration.effectiveWorkers, limits: configuration.limits)
            logger.info(
                "models loaded", metadata: ["directory": "\(directory.path)", "workers": "\(pool.workerCount)"]
            )
            return pool
        } catch {
            throw .setup("\(error)")
        }
    }

    /// Writes the document of a record failed outside the pipeline (not a regular file, too large)
    /// and counts it.
    func publishImmediateFailure(
        _ record: LedgerRecord, results: ResultsWriter, meter: ThroughputMeter, stats: StatsWriter
    ) {
        do {
            try results.write(record)
        } catch {
            state.withLock { $0.documentsComplete = false }
            logger.error(
                "result document not written (rebuilt at next start): \(error)",
                metadata: ["id": "\(record.id.lowercased)"]
            )
        }
        let how: FinalResult.How = record.error?.code == .notARegularFile ? .notARegularFile : .refusedAtIntake
        let result = FinalResult(record: record, how: how, encodeSeconds: 0)
        Pipeline.log(result, logger)
        meter.record()
        stats.markDirty()
        hooks.finished(result)
    }
}
