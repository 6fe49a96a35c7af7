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

    /// What changes while the daemon runs, under one lock.
    struct State {
        /// The configuration in force (a reload changes it).
        var configuration: DaemonConfiguration
        /// The running pipeline (nil before it runs).
        var pipeline: Pipeline?
        /// The watch over the root's directories (nil before the daemon runs).
        var watch: RootWatch?
        /// The group of the running daemon, for a stop request to shut down.
        var group: ServiceGroup?
        /// Whether every final record's document is known to be written: the previous run said so,
        /// or this run's check finished; cleared when a document cannot be written (see `endRun`).
        var documentsComplete = false
        /// Set when a batch moved into the store could not be recorded (see `endRun`).
        var unrecordedFiles = false
        /// Pools replaced by a reload, finishing their files before they stop.
        var retiring: [Task<Void, Never>] = []
    }

    private let initial: DaemonConfiguration
    let source: Source
    let output: LogOutput
    let logger: Logger
    let hooks: DaemonHooks
    private let requests: AsyncStream<ControlService.Request>
    private let request: AsyncStream<ControlService.Request>.Continuation
    let state: Mutex<State>
    /// Yields once the daemon has said it is ready (the documents check waits for it).
    let readiness = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

    /// A daemon for `configuration` (read from `source`), logging through `output`.
    public init(
        configuration: DaemonConfiguration, source: Source, output: LogOutput, hooks: DaemonHooks = DaemonHooks()
    ) {
        initial = configuration
        self.source = source
        self.output = output
        self.hooks = hooks
        logger = output.logger(label: "facewatch")
        state = Mutex(State(configuration: configuration))
        (requests, request) = AsyncStream.makeStream(of: ControlService.Request.self, bufferingPolicy: .unbounded)
    }

    /// The configuration in force (changes with a reload).
    public var configuration: DaemonConfiguration { state.withLock { $0.configuration } }

    /// What the pipeline is doing (nil before it runs): the seam for a watchdog's progress check.
    public var activity: PipelineActivity? { state.withLock { $0.pipeline }?.activity }

    /// The memory budget in use (nil before the pipeline runs).
    public var memoryUse: MemoryBudget.Use? { state.withLock { $0.pipeline }?.memoryUse }

    /// Why the daemon takes and encodes no files now (nil while it works or before it runs).
    public var pausedReason: String? { state.withLock { $0.watch }?.pausedReason }

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
            "starting",
            metadata: [
                "pid": "\(getpid())", "root": "\(configuration.root)", "version": "\(FacewatchVersion.current)",
                "blas": "\(BLASKernel.current ?? "not OpenBLAS")",
            ]
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
        state.withLock {
            $0.pipeline = parts.pipeline
            $0.watch = parts.watch
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
            ] + backgroundServices(parts, configuration)
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: members.map {
                    // A part of the daemon that ends on its own (none should) stops the others
                    // gracefully too; background work may be done before the daemon is.
                    let background = $0 as? BackgroundService
                    return ServiceGroupConfiguration.ServiceConfiguration(
                        service: $0, successTerminationBehavior: background == nil ? .gracefullyShutdownGroup : .ignore,
                        failureTerminationBehavior: .gracefullyShutdownGroup,
                        serviceName: background?.name ?? String(describing: type(of: $0)))
                },
                logger: logger))
        state.withLock { $0.group = serviceGroup }
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("the daemon's services ended with an error: \(error)")
        }
        state.withLock { $0.group = nil }
        let final = try? parts.ledger.stats()
        logger.info(
            "stopped", metadata: ["total": "\(final?.total ?? 0)", "backlog": "\(final?.counts[.created] ?? 0)"]
        )
    }
}
