import FaceLedger
import FaceRoot
import Foundation

/// Points in the daemon's life where something outside it may want to act: systemd notification
/// (READY=1, STATUS=, STOPPING=1, RELOADING=1), a metrics file, a watchdog. Every hook defaults to
/// doing nothing; hooks are called from any thread and must not block for long.
public struct DaemonHooks: Sendable {
    /// The ledger is open and nothing has been changed in it yet (no orphan recorded, no file taken,
    /// no record made final): the moment to read totals that later `finished` calls add to. Called
    /// once, synchronously, during startup; a slow hook delays readiness.
    public var ledgerOpened: @Sendable (_ ledger: any Ledger) -> Void = { _ in }
    /// The models are loaded, the inbox is watched and the pipeline runs. The text is a status line.
    public var ready: @Sendable (_ status: String) -> Void = { _ in }
    /// `stats.json` was just written with these values (at most once a second, and at shutdown).
    public var statsWritten: @Sendable (_ stats: StatsDocument) -> Void = { _ in }
    /// Files were committed as `created` by the ingestor.
    public var ingested: @Sendable (_ count: Int) -> Void = { _ in }
    /// A record reached its final status and its document was written.
    public var finished: @Sendable (_ result: FinalResult) -> Void = { _ in }
    /// A graceful shutdown begins (a signal or `requestStop()`).
    public var stopping: @Sendable () -> Void = {}
    /// A step of the shutdown is done; they come in the order of `ShutdownStep`'s cases.
    public var shutdownStep: @Sendable (_ step: ShutdownStep) -> Void = { _ in }
    /// A reload begins (SIGHUP or `requestReload()`).
    public var reloading: @Sendable () -> Void = {}
    /// A reload ended: the new configuration in force (a new worker count included: jobs go to the
    /// new workers, the previous ones finish theirs), or why the old one was kept.
    public var reloaded: @Sendable (_ outcome: Result<DaemonConfiguration, ConfigurationError>) -> Void = { _ in }

    /// The daemon stopped taking and encoding files, and why (a root directory whose identity marker
    /// is missing or foreign: see `DirectoryIdentity`); nil when it resumed.
    public var paused: @Sendable (_ reason: String?) -> Void = { _ in }
    /// A start-up step that may take long begins (its description), or the last one ended (nil):
    /// a supervisor should extend its start timeout meanwhile.
    public var startupWork: @Sendable (_ step: String?) -> Void = { _ in }
    /// Hooks that do nothing.
    public init() {}
}

/// The steps of a graceful shutdown, in the order they happen (`DaemonHooks.shutdownStep`).
public enum ShutdownStep: Sendable, Equatable {
    /// The inbox is no longer watched and hands out no more files.
    case inboxStopped
    /// The batch being ingested when the inbox stopped is committed; nothing more is ingested.
    case ingestFinished
    /// The pipeline takes no more records and the wait for those being encoded ended; how many were
    /// still encoding (they stay `created` and are taken again at the next start).
    case pipelineDrained(stillEncoding: Int)
    /// The last `stats.json` is written, from the committed counters.
    case statsFlushed
    /// The root lock is released (also after a start that failed once the lock was taken).
    case lockReleased
}
