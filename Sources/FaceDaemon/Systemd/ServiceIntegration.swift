#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceCore
import FaceLedger
import Foundation
import Logging
import Synchronization

/// `facewatch serve` as a service: the daemon plus what a supervisor and a monitoring system
/// expect around it, all connected through `DaemonHooks`.
///
/// - systemd's notify protocol over `$NOTIFY_SOCKET` (nothing is sent when it is unset):
///   `READY=1` once the models are loaded and the inbox is watched; `STATUS=` with the backlog and
///   the rate after each `stats.json` write; `RELOADING=1` (with `MONOTONIC_USEC=`) when SIGHUP
///   arrives, then `READY=1` once the new settings are in force or have been rejected;
///   `STOPPING=1` when a graceful stop begins.
/// - systemd's watchdog, when `$WATCHDOG_USEC` asks for one: `WATCHDOG=1` every half of it, but
///   only while the workers make progress (`WorkerProgress`, with an encode counting as stuck
///   after `$WATCHDOG_USEC` without progress), so that systemd restarts a daemon whose workers hang.
/// - `metrics.prom` in the state root, next to `stats.json`, rewritten atomically right after each
///   `stats.json` write with the same counts (`ServiceMetrics`), and once more with
///   `facewatch_up 0` after the daemon stopped.
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
    /// (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`) asks for.
    public init(
        configuration: DaemonConfiguration, source: Daemon.Source, output: LogOutput,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        let logger = output.logger(label: "facewatch")
        let notifier = SystemdNotifier(environment: environment)
        let writer = MetricsWriter(directory: configuration.root)
        let (readiness, ready) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let core = Core(notifier: notifier, writer: writer, logger: logger, ready: ready)
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

    /// Runs the daemon until it stops (see `Daemon.run`), with the watchdog fed from readiness on,
    /// then writes the final metrics. Throws what `Daemon.run` throws, after telling systemd why.
    public func run(handleSignals: Bool = true) async throws(Daemon.StartError) {
        let logger = core.logger
        if let ignored = notifier.ignoredSocket {
            logger.warning("NOTIFY_SOCKET ignored: not a path or @abstract socket this daemon can use \(LogField.pair("value", ignored))")
        }
        let watchdogTask: Task<Void, Never>? = watchdog.map { watchdog in
            Task { [readiness, core] in
                var ready = readiness.makeAsyncIterator()
                guard await ready.next() != nil else { return }
                logger.info("systemd watchdog on \(LogField.pair("interval", Self.describe(watchdog.interval)))")
                await watchdog.run { tick in core.report(tick) }
            }
        }
        defer {
            watchdogTask?.cancel()
            core.finish()
        }
        do {
            try await daemon.run(handleSignals: handleSignals)
        } catch {
            core.send([.status("cannot start: \(error)")], what: "STATUS")
            throw error
        }
        core.writeFinalMetrics()
    }

    static func describe(_ duration: Duration) -> String {
        String(format: "%.3gs", Pipeline.seconds(duration))
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
        private let daemon = Mutex<Daemon?>(nil)
        private let state = Mutex(State())
        /// Held while `metrics.prom` is written, so that writes from two threads land in order.
        private let metricsLock = Mutex(())
        private let progress = Mutex(WorkerProgress(stuckAfter: .infinity))

        private struct State {
            var lastStats: StatsDocument?
            var lastWrittenAt: Date?
            var wroteFinal = false
            var becameReady = false
            var notifyFailing = false
            var watchdogWithheld = false
        }

        init(notifier: SystemdNotifier, writer: MetricsWriter, logger: Logger, ready: AsyncStream<Void>.Continuation) {
            self.notifier = notifier
            self.writer = writer
            self.logger = logger
            self.ready = ready
        }

        func attach(_ daemon: Daemon) {
            self.daemon.withLock { $0 = daemon }
        }

        var hooks: DaemonHooks {
            var hooks = DaemonHooks()
            hooks.ledgerOpened = { [self] ledger in loadBaseline(ledger) }
            hooks.ready = { [self] status in
                state.withLock { $0.becameReady = true }
                send([.ready, .status(status)], what: "READY")
                ready.yield()
            }
            hooks.statsWritten = { [self] stats in statsWritten(stats) }
            hooks.finished = { [self] result in metrics.record(result) }
            hooks.stopping = { [self] in
                send([.stopping, .status("stopping: finishing the files being encoded")], what: "STOPPING")
            }
            hooks.reloading = { [self] in
                send([.reloadingNow, .status("reloading the configuration")], what: "RELOADING")
            }
            hooks.reloaded = { [self] outcome in
                switch outcome {
                case .success(let configuration):
                    send([.ready, .status("reloaded: \(configuration.effectiveWorkers) workers, log level \(configuration.logLevel.rawValue)")], what: "READY")
                case .failure(let error):
                    send([.ready, .status("reload failed, running configuration kept: \(error)")], what: "READY")
                }
            }
            return hooks
        }

        // MARK: Metrics

        private func loadBaseline(_ ledger: Ledger) {
            let start = ContinuousClock.now
            do {
                let records = try metrics.loadBaseline(from: ledger)
                logger.debug("metrics counted the ledger \(LogField.pair("records", String(records))) \(LogField.pair("seconds", String(format: "%.3f", Pipeline.seconds(ContinuousClock.now - start))))")
            } catch {
                logger.error("cannot count the ledger's failures and encode times for metrics.prom (they count from this start only): \(error)")
            }
        }

        private func statsWritten(_ stats: StatsDocument) {
            state.withLock { $0.lastStats = stats }
            writeMetrics(stats, up: true)
            send([.status(Self.statusLine(stats))], what: "STATUS")
        }

        /// `metrics.prom` for `stats`; skipped if a newer document was written already.
        private func writeMetrics(_ stats: StatsDocument, up: Bool) {
            let activity = daemon.withLock { $0 }?.activity
            let workers = daemon.withLock { $0 }?.configuration.effectiveWorkers ?? 0
            let snapshot = metrics.snapshot(
                stats: stats, workers: up ? workers : 0, workerBusySeconds: activity?.workerBusySeconds ?? 0, up: up)
            metricsLock.withLock { _ in
                let newer = state.withLock { state -> Bool in
                    if state.wroteFinal { return false }
                    if let last = state.lastWrittenAt, last > stats.updatedAt { return false }
                    state.lastWrittenAt = stats.updatedAt
                    if !up { state.wroteFinal = true }
                    return true
                }
                guard newer else { return }
                do {
                    try writer.write(snapshot)
                } catch {
                    logger.error("metrics not written: \(error)")
                }
            }
        }

        /// After a graceful stop: the last counts, `facewatch_up 0`.
        func writeFinalMetrics() {
            guard let stats = state.withLock({ $0.becameReady ? $0.lastStats : nil }) else { return }
            writeMetrics(stats, up: false)
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
                let age = activity?.oldestEncodingStart.map { String(format: "%.0fs", Date().timeIntervalSince($0)) } ?? "?"
                logger.warning("workers make no progress: watchdog not fed (systemd restarts the daemon if this lasts) \(LogField.pair("encoding", String(activity?.encoding ?? 0))) \(LogField.pair("oldest", age))")
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
