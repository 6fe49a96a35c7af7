#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What one watchdog tick did.
public enum SystemdWatchdogTick: Sendable, Equatable {
    /// `WATCHDOG=1` was sent.
    case pinged
    /// The progress check said the workers are stuck: nothing was sent, so systemd's watchdog will
    /// fire if this lasts `WatchdogSec=`.
    case withheld
    /// Sending failed.
    case failed(SystemdNotifyError)
}

/// Keeps systemd's watchdog (`WatchdogSec=`) fed while the daemon's workers make progress.
///
/// Every `interval` (half of `$WATCHDOG_USEC`, see `interval(environment:processID:)`) it asks
/// `isMakingProgress` and sends `WATCHDOG=1` only when the answer is yes. The daemon supplies the
/// check; a useful one answers yes when no file is being encoded, or when some encode finished since
/// the previous check, or when the oldest running encode started recently enough. A daemon whose
/// workers hang thus stops pinging and systemd restarts it.
public struct SystemdWatchdog: Sendable {
    /// Where the pings go.
    public let notifier: SystemdNotifier
    /// Time between two checks.
    public let interval: Duration
    private let isMakingProgress: @Sendable () -> Bool

    /// A watchdog that checks every `interval`.
    public init(notifier: SystemdNotifier, interval: Duration, isMakingProgress: @escaping @Sendable () -> Bool) {
        self.notifier = notifier
        self.interval = interval
        self.isMakingProgress = isMakingProgress
    }

    /// The watchdog systemd asked for through `$WATCHDOG_USEC` (and `$WATCHDOG_PID`), or nil when it
    /// asked for none, or when notifications are off.
    public init?(
        notifier: SystemdNotifier,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        processID: Int32 = getpid(),
        isMakingProgress: @escaping @Sendable () -> Bool
    ) {
        guard notifier.isEnabled, let interval = Self.interval(environment: environment, processID: processID) else {
            return nil
        }
        self.init(notifier: notifier, interval: interval, isMakingProgress: isMakingProgress)
    }

    /// How often to ping: half of `$WATCHDOG_USEC`, as `sd_watchdog_enabled(3)` advises. Nil when
    /// `$WATCHDOG_USEC` is unset, zero or not a number, or when `$WATCHDOG_PID` is set to another
    /// process (the watchdog is then meant for someone else).
    public static func interval(environment: [String: String], processID: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let pidText = environment["WATCHDOG_PID"], !pidText.isEmpty {
            guard let pid = Int32(pidText), pid == processID else { return nil }
        }
        return .microseconds(usec / 2)
    }

    /// Checks progress once and pings if there is some.
    @discardableResult
    public func tick() -> SystemdWatchdogTick {
        guard isMakingProgress() else { return .withheld }
        do {
            try notifier.watchdog()
            return .pinged
        } catch {
            return .failed(error)
        }
    }

    /// Ticks now and then every `interval` until the surrounding task is cancelled. `report` sees
    /// every tick (to log when pings are withheld or fail).
    public func run(report: @Sendable (SystemdWatchdogTick) -> Void = { _ in }) async {
        while !Task.isCancelled {
            report(tick())
            do {
                try await Task.sleep(for: interval)
            } catch {
                return  // cancelled
            }
        }
    }
}
