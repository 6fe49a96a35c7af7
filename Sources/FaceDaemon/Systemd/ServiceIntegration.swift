#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `facewatch serve` as a service: the daemon plus what a supervisor and a monitoring system
/// expect around it, all connected through `DaemonHooks`.
///
/// - systemd's notify protocol over `$NOTIFY_SOCKET` (nothing is sent when it is unset):
///   `READY=1` once the models are loaded and the inbox is watched; `STATUS=` with the backlog and
///   the rate after each `stats.json` write; `RELOADING=1` (with `MONOTONIC_USEC=`) when SIGHUP
///   arrives, then `READY=1` once the new settings are in force or have been rejected;
///   `STOPPING=1` when a graceful stop begins.
/// - systemd's watchdog, when `$WATCHDOG_USEC` asks for one: a service of the daemon's group
///   (`WatchdogService`) sends `WATCHDOG=1` every half of it from readiness on, but only while the
///   workers make progress (`WorkerProgress`, with an encode counting as stuck after
///   `$WATCHDOG_USEC` without progress), so that systemd restarts a daemon whose workers hang.
/// - `metrics.prom` in the state root, next to `stats.json`, rewritten atomically right after each
///   `stats.json` write with the same counts (`ServiceMetrics`), and once more with
///   `facewatch_up 0` after the last stats of a graceful stop.
/// - the daemon's figures (`DaemonFigures`: pid, start, workers, busy time, rate, engine runs,
///   failures by code) published into the ledger with each `stats.json` write, and once more as
///   stopped, for `facewatch status`.
public final class ServiceIntegration: Sendable {
    /// The daemon being run.
    public let daemon: Daemon
    /// Where notifications go (disabled when `$NOTIFY_SOCKET` is unset).
    public let notifier: SystemdNotifier
    /// The metrics file.
    public let metricsPath: String
    private let core: Core
    private let watchdog: SystemdWatchdog?
    private let readiness: AsyncStream<Void>

    /// The daemon for `configuration`, with notification, watchdog and metrics as `environment`
    /// (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`) asks for. `hooks` sees what the daemon
    /// reports after the service's own handling (tests follow the daemon's life through it).
    public init(
        configuration: DaemonConfiguration, source: Daemon.Source, output: LogOutput,
        environment: [String: String] = ProcessInfo.processInfo.environment, hooks: DaemonHooks = DaemonHooks()
    ) {
        let logger = output.logger(label: "facewatch")
        let notifier = SystemdNotifier(environment: environment)
        let writer = MetricsWriter(directory: configuration.root)
        let (readiness, ready) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let core = Core(notifier: notifier, writer: writer, logger: logger, ready: ready, next: hooks)
        let daemon = Daemon(configuration: configuration, source: source, output: output, hooks: core.hooks)
        core.attach(daemon)
        self.daemon = daemon
        self.notifier = notifier
        self.metricsPath = writer.path
        self.core = core
        self.readiness = readiness
        watchdog = SystemdWatchdog(notifier: notifier, environment: environment) { [core] in core.isMakingProgress() }
        if let watchdog {
            // An encode counts as stuck after the whole watchdog timeout (twice the ping interval).
            core.setStuckAfter(2 * Pipeline.seconds(watchdog.interval))
        }
    }

    /// Runs the daemon until it stops (see `Daemon.run`), with the watchdog as one of its services.
    ///
    /// - Throws: what `Daemon.run` throws, after telling systemd why.
    public func run(handleSignals: Bool = true) async throws(Daemon.StartError) {
        let logger = core.logger
        if let ignored = notifier.ignoredSocket {
            logger.warning(
                "NOTIFY_SOCKET ignored: not a path or @abstract socket this daemon can use",
                metadata: ["value": "\(ignored)"]
            )
        }
        let services: [any Service] =
            watchdog.map { [WatchdogService(watchdog: $0, readiness: readiness, core: core)] } ?? []
        defer { core.finish() }
        do {
            try await daemon.run(handleSignals: handleSignals, services: services)
        } catch {
            core.send([.status("cannot start: \(error)")], what: "STATUS")
            throw error
        }
    }

    static func describe(_ duration: Duration) -> String {
        String(format: "%.3gs", Pipeline.seconds(duration))
    }
}

/// systemd's watchdog as a service of the daemon's group: from readiness to the end of the
/// shutdown (it is stopped after the last stats, so the drain is covered).
private struct WatchdogService: Service {
    let watchdog: SystemdWatchdog
    let readiness: AsyncStream<Void>
    let core: ServiceIntegration.Core

    func run() async {
        let (watchdog, readiness, core) = (self.watchdog, self.readiness, self.core)
        await cancelWhenGracefulShutdown {
            var ready = readiness.makeAsyncIterator()
            guard await ready.next() != nil else { return }
            core.logger.info(
                "systemd watchdog on", metadata: ["interval": "\(ServiceIntegration.describe(watchdog.interval))"])
            await watchdog.run { tick in core.report(tick) }
        }
    }
}

extension ServiceIntegration {
    /// What the hooks share: called from any thread, so every mutable value is behind a lock.
    fileprivate final class Core: Sendable {
        let notifier: SystemdNotifier
        let writer: MetricsWriter
        let logger: Logger
        let metrics = ServiceMetrics()
        private let ready: AsyncStream<Void>.Continuation
        private let next: DaemonHooks
        private let daemon = Mutex<Daemon?>(nil)
        private let ledger = Mutex<(any Ledger)?>(nil)
        private let state = Mutex(State())
        /// Held while the metrics and figures are written, so that writes from two threads land in order.
        private let publishing = Mutex(())
        private let progress = Mutex(WorkerProgress(stuckAfter: .infinity))

        private struct State {
            var lastStats: StatsDocument?
            var lastWrittenAt: Date?
            var wroteFinal = false
            var becameReady = false
            var notifyFailing = false
            var figuresFailing = false
            var watchdogWithheld = false
            /// Why the daemon is paused (`DaemonHooks.paused`), nil while it works.
            var paused: String?
            /// Sends `EXTEND_TIMEOUT_USEC` while a long start-up step runs.
            var startupHeartbeat: Task<Void, Never>?
        }

        init(
            notifier: SystemdNotifier, writer: MetricsWriter, logger: Logger, ready: AsyncStream<Void>.Continuation,
            next: DaemonHooks
        ) {
            self.notifier = notifier
            self.writer = writer
            self.logger = logger
            self.ready = ready
            self.next = next
        }

        func attach(_ daemon: Daemon) {
            self.daemon.withLock { $0 = daemon }
        }

        var hooks: DaemonHooks {
            let next = self.next
            var hooks = DaemonHooks()
            hooks.ledgerOpened = { [self] ledger in
                loadBaseline(ledger)
                next.ledgerOpened(ledger)
            }
            hooks.ready = { [self] status in
                state.withLock { $0.becameReady = true }
                let paused = state.withLock { $0.paused }
                send([.ready, .status(paused.map { "paused: \($0); \(status)" } ?? status)], what: "READY")
                ready.yield()
                next.ready(status)
            }
            hooks.statsWritten = { [self] stats in
                statsWritten(stats)
                next.statsWritten(stats)
            }
            hooks.ingested = next.ingested
            hooks.finished = { [self] result in
                metrics.record(result)
                next.finished(result)
            }
            hooks.stopping = { [self] in
                send([.stopping, .status("stopping: finishing the files being encoded")], what: "STOPPING")
                next.stopping()
            }
            hooks.shutdownStep = { [self] step in
                // The last stats are written: the metrics and figures say the daemon is down, before
                // the lock is released (a new daemon may start writing them then).
                if step == .statsFlushed { publishFinal() }
                next.shutdownStep(step)
            }
            hooks.paused = { [self] reason in
                // The figures for `facewatch status` follow with the next stats write (the daemon
                // marks the stats changed).
                state.withLock { $0.paused = reason }
                send([.status(statusLine())], what: "STATUS")
                next.paused(reason)
            }
            hooks.startupWork = { [self] step in
                startupWork(step)
                next.startupWork(step)
            }
            hooks.reloading = { [self] in
                send([.reloadingNow, .status("reloading the configuration")], what: "RELOADING")
                next.reloading()
            }
            hooks.reloaded = { [self] outcome in
                switch outcome {
                case .success(let configuration):
                    send(
                        [
                            .ready,
                            .status(
                                "reloaded: \(configuration.effectiveWorkers) workers, log level \(configuration.logLevel.rawValue)"
                            ),
                        ], what: "READY")
                case .failure(let error):
                    send([.ready, .status("reload failed, running configuration kept: \(error)")], what: "READY")
                }
                next.reloaded(outcome)
            }
            return hooks
        }

        // MARK: Metrics

        private func loadBaseline(_ ledger: any Ledger) {
            self.ledger.withLock { $0 = ledger }
            let start = ContinuousClock.now
            do {
                let runs = try metrics.loadBaseline(from: ledger)
                logger.debug(
                    "metrics took the ledger's tallies",
                    metadata: [
                        "engine_runs": "\(runs)",
                        "seconds": "\(String(format: "%.3f", Pipeline.seconds(ContinuousClock.now - start)))",
                    ]
                )
            } catch {
                logger.error(
                    "cannot count the ledger's failures and encode times for metrics.prom (they count from this start only): \(error)"
                )
            }
        }

        private func statsWritten(_ stats: StatsDocument) {
            state.withLock { $0.lastStats = stats }
            publish(stats, up: true)
            send([.status(statusLine())], what: "STATUS")
        }

        /// `metrics.prom` and the ledger's daemon figures for `stats`; skipped if a newer document
        /// was published already, and after the final one.
        private func publish(_ stats: StatsDocument, up: Bool) {
            let daemon = self.daemon.withLock { $0 }
            let busy = daemon?.activity?.workerBusySeconds ?? 0
            let workers = up ? (daemon?.configuration.effectiveWorkers ?? 0) : 0
            let memory = daemon?.memoryUse
            publishing.withLock { _ in
                let newer = state.withLock { state -> Bool in
                    if state.wroteFinal { return false }
                    if let last = state.lastWrittenAt, last > stats.updatedAt { return false }
                    state.lastWrittenAt = stats.updatedAt
                    if !up { state.wroteFinal = true }
                    return true
                }
                guard newer else { return }
                metrics.update(stats: stats, workers: workers, workerBusySeconds: busy, up: up)
                metrics.update(memory: up ? memory : nil, paused: up && state.withLock { $0.paused != nil })
                if stats.writtenToRoot {
                    do {
                        try writer.write(metrics)
                    } catch {
                        logger.error("metrics not written: \(error)")
                    }
                }
                publishFigures(stats, workers: workers, workerBusySeconds: busy, memory: memory, up: up)
            }
        }

        /// The figures `facewatch status` shows, into the ledger (a small write, at most once a
        /// second); a failure is logged once per series.
        private func publishFigures(
            _ stats: StatsDocument, workers: Int, workerBusySeconds: Double, memory: MemoryBudget.Use?, up: Bool
        ) {
            guard let ledger = ledger.withLock({ $0 }) else { return }
            let runs = metrics.engineRuns
            let figures = DaemonFigures(
                running: up, pid: getpid(), startedAt: metrics.startTime, updatedAt: stats.updatedAt, workers: workers,
                workerBusySeconds: workerBusySeconds, imagesPerMinute: up ? stats.imagesPerMinute : 0,
                encodes: runs.count, encodeSeconds: runs.seconds, failedByCode: metrics.failedByCode,
                memoryBudget: memory?.budget ?? 0, memoryReserved: up ? (memory?.reserved ?? 0) : 0,
                waitingForMemory: up ? (memory?.waiting ?? 0) : 0, paused: up ? state.withLock { $0.paused } : nil)
            var failure: LedgerError?
            do {
                try ledger.publish(figures)
            } catch {
                failure = error
            }
            let wasFailing = state.withLock { state in
                defer { state.figuresFailing = failure != nil }
                return state.figuresFailing
            }
            if let failure, !wasFailing {
                logger.error(
                    "daemon figures not published to the ledger (facewatch status shows older ones): \(failure)")
            }
        }

        /// After the last stats of a graceful stop: the last counts, `facewatch_up 0`, figures as stopped.
        func publishFinal() {
            guard let stats = state.withLock({ $0.becameReady ? $0.lastStats : nil }) else { return }
            publish(stats, up: false)
        }

        func finish() {
            ready.finish()
        }

        /// `STATUS=` after a stats write: backlog, rate, totals.
        static func statusLine(_ stats: StatsDocument) -> String {
            String(
                format: "backlog %d, %.1f images/min; %d completed, %d failed, %d faces",
                stats.created, stats.imagesPerMinute, stats.completed, stats.failed, stats.faces)
        }

        /// `STATUS=` now: why the daemon is paused, if it is, then the last stats' line.
        func statusLine() -> String {
            let (paused, stats) = state.withLock { ($0.paused, $0.lastStats) }
            let line = stats.map(Self.statusLine) ?? "starting"
            guard let paused else { return line }
            return "paused: \(paused); \(line)"
        }

        /// While a long start-up step runs, asks systemd for 30 s more every 10 s
        /// (`EXTEND_TIMEOUT_USEC`), with the step as `STATUS=`; stops when `step` is nil.
        func startupWork(_ step: String?) {
            let previous = state.withLock { state in
                defer { state.startupHeartbeat = nil }
                return state.startupHeartbeat
            }
            previous?.cancel()
            guard let step, notifier.isEnabled else { return }
            // The first one at once: a step may end before a task would have run.
            send([.extendTimeout(.seconds(30)), .status(step)], what: "EXTEND_TIMEOUT_USEC")
            let heartbeat = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(10))
                    guard !Task.isCancelled else { return }
                    send([.extendTimeout(.seconds(30)), .status(step)], what: "EXTEND_TIMEOUT_USEC")
                }
            }
            state.withLock { $0.startupHeartbeat = heartbeat }
        }

        // MARK: systemd

        func setStuckAfter(_ seconds: TimeInterval) {
            progress.withLock { $0 = WorkerProgress(stuckAfter: seconds) }
        }

        /// The watchdog's check: see `WorkerProgress`.
        func isMakingProgress() -> Bool {
            let activity = daemon.withLock { $0 }?.activity
            return progress.withLock { $0.check(activity) }
        }

        /// Sends, logging the first failure of a series and the recovery (not every message).
        func send(_ messages: [SystemdNotification], what: String) {
            guard notifier.isEnabled else { return }
            let failure: SystemdNotifyError?
            do {
                try notifier.send(messages)
                failure = nil
            } catch {
                failure = error
            }
            let (wasFailing, isFailing) = state.withLock { state in
                let was = state.notifyFailing
                state.notifyFailing = failure != nil
                return (was, state.notifyFailing)
            }
            if let failure, !wasFailing {
                logger.warning("\(what) not sent: \(failure)")
            } else if wasFailing && !isFailing {
                logger.notice("systemd notifications are sent again")
            }
            if failure == nil, what != "STATUS" {
                logger.debug("told systemd \(messages.flatMap(\.lines).first ?? what)")
            }
        }

        /// Logs the watchdog's changes of state (not every tick).
        func report(_ tick: SystemdWatchdogTick) {
            let withheld = tick == .withheld
            let was = state.withLock { state in
                let was = state.watchdogWithheld
                state.watchdogWithheld = withheld
                return was
            }
            switch tick {
            case .withheld where !was:
                let activity = daemon.withLock { $0 }?.activity
                let age =
                    activity?.oldestEncodingStart.map { String(format: "%.0fs", Date().timeIntervalSince($0)) } ?? "?"
                logger.warning(
                    "workers make no progress: watchdog not fed (systemd restarts the daemon if this lasts)",
                    metadata: ["encoding": "\(activity?.encoding ?? 0)", "oldest": "\(age)"]
                )
            case .pinged where was:
                logger.notice("workers make progress again: watchdog fed")
            case .failed(let error):
                logger.warning("WATCHDOG not sent: \(error)")
            default:
                break
            }
        }
    }
}
