#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FaceCore
import Foundation

/// One message of systemd's notify protocol (`sd_notify(3)`), sent by a `Type=notify` service.
public enum SystemdNotification: Sendable, Equatable {
    /// `READY=1`: startup (or a reload) is finished; the service is up.
    case ready
    /// `STATUS=…`: a one-line status shown by `systemctl status`. Newlines are replaced by spaces.
    case status(String)
    /// `WATCHDOG=1`: the service is alive; keeps systemd's watchdog (`WatchdogSec=`) from firing.
    case watchdog
    /// `STOPPING=1`: the service is shutting down.
    case stopping
    /// `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC, microseconds), which systemd 253 and
    /// later want with it. Send `.ready` when the reload is done.
    case reloading(monotonicMicroseconds: UInt64)
    /// `EXTEND_TIMEOUT_USEC=…`: asks for this much more time from now before the start or stop
    /// timeout fires, for a startup or shutdown that is slow but progressing.
    case extendTimeout(Duration)

    /// `RELOADING=1` stamped with the current CLOCK_MONOTONIC time.
    public static var reloadingNow: SystemdNotification {
        .reloading(monotonicMicroseconds: SystemdNotifier.monotonicMicroseconds())
    }

    /// The `KEY=value` lines of this message.
    public var lines: [String] {
        switch self {
        case .ready: return ["READY=1"]
        case .status(let text):
            let oneLine = text.map { $0.isNewline ? " " : String($0) }.joined()
            return ["STATUS=\(oneLine)"]
        case .watchdog: return ["WATCHDOG=1"]
        case .stopping: return ["STOPPING=1"]
        case .reloading(let usec): return ["RELOADING=1", "MONOTONIC_USEC=\(usec)"]
        case .extendTimeout(let duration): return ["EXTEND_TIMEOUT_USEC=\(SystemdNotifier.microseconds(duration))"]
        }
    }
}

/// A notification could not be sent (the socket is gone, or the manager is not listening).
public struct SystemdNotifyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The system call that failed.
    public var operation: String
    /// Its `errno`.
    public var code: Int32
    /// The `NOTIFY_SOCKET` value the message was for.
    public var socket: String

    public init(operation: String, code: Int32, socket: String) {
        self.operation = operation
        self.code = code
        self.socket = socket
    }

    public var description: String {
        "cannot notify systemd at \(socket): \(operation): \(systemErrorText(code))"
    }
}

/// Speaks systemd's notify protocol directly, without libsystemd: each message is one datagram sent
/// to the `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a file system path, or an abstract socket
/// written with a leading `@`). When `$NOTIFY_SOCKET` is unset — the daemon runs in a terminal, a
/// test or another supervisor — every send is a no-op.
///
/// A value type holding only the address: safe to copy and share between tasks and threads.
public struct SystemdNotifier: Sendable {
    /// Where notifications go.
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        /// A socket bound to this file system path.
        case path(String)
        /// An abstract socket (Linux) with this name, given without the `@`.
        case abstract(String)

        public var description: String {
            switch self {
            case .path(let path): return path
            case .abstract(let name): return "@" + name
            }
        }
    }

    /// The longest name `sockaddr_un.sun_path` holds, without the terminating NUL (path) or the
    /// leading NUL (abstract socket).
    static let maxAddressLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// The address to send to, or nil when notifications are off.
    public let address: Address?

    /// The `$NOTIFY_SOCKET` value when it was set but is not an address this notifier can use (for
    /// example a `vsock:` address, or a path longer than `sun_path`); nil otherwise. Worth a log line.
    public let ignoredSocket: String?

    /// Reads `$NOTIFY_SOCKET` from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(notifySocket: environment["NOTIFY_SOCKET"])
    }

    /// Uses `notifySocket` as the value of `$NOTIFY_SOCKET`; nil or empty turns notifications off.
    public init(notifySocket: String?) {
        guard let value = notifySocket, !value.isEmpty else {
            address = nil
            ignoredSocket = nil
            return
        }
        address = Self.parseAddress(value)
        ignoredSocket = address == nil ? value : nil
    }

    /// A notifier that never sends anything.
    public static let disabled = SystemdNotifier(notifySocket: nil)

    /// Whether messages are actually sent.
    public var isEnabled: Bool { address != nil }

    /// Parses a `$NOTIFY_SOCKET` value: `/path` or `@abstract-name`. Anything else is nil.
    public static func parseAddress(_ value: String) -> Address? {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, !bytes.contains(0) else { return nil }
        switch first {
        case UInt8(ascii: "/"):
            return bytes.count <= maxAddressLength ? .path(value) : nil
        case UInt8(ascii: "@"):
            return bytes.count >= 2 && bytes.count - 1 <= maxAddressLength ? .abstract(String(value.dropFirst())) : nil
        default:
            return nil
        }
    }

    /// Sends the messages as one datagram. Does nothing when notifications are off.
    public func send(_ notifications: [SystemdNotification]) throws(SystemdNotifyError) {
        guard let address, !notifications.isEmpty else { return }
        let text = notifications.flatMap(\.lines).joined(separator: "\n") + "\n"
        try Self.sendDatagram(Array(text.utf8), to: address)
    }

    /// Sends the messages as one datagram. Does nothing when notifications are off.
    public func send(_ notifications: SystemdNotification...) throws(SystemdNotifyError) {
        try send(notifications)
    }

    /// `READY=1`, with a status line if given. Send it once the service does its job: models
    /// loaded, inbox watched. Also ends a reload.
    public func ready(status: String? = nil) throws(SystemdNotifyError) {
        try send([.ready] + (status.map { [.status($0)] } ?? []))
    }

    /// `STATUS=…`.
    public func status(_ text: String) throws(SystemdNotifyError) {
        try send(.status(text))
    }

    /// `WATCHDOG=1`.
    public func watchdog() throws(SystemdNotifyError) {
        try send(.watchdog)
    }

    /// `STOPPING=1`, with a status line if given.
    public func stopping(status: String? = nil) throws(SystemdNotifyError) {
        try send([.stopping] + (status.map { [.status($0)] } ?? []))
    }

    /// `RELOADING=1` and `MONOTONIC_USEC=` now, with a status line if given. Call `ready` when the
    /// new configuration is in effect (or has been rejected and the old one kept).
    public func reloading(status: String? = nil) throws(SystemdNotifyError) {
        try send([.reloadingNow] + (status.map { [.status($0)] } ?? []))
    }

    // MARK: - Plumbing

    /// CLOCK_MONOTONIC now, in microseconds (what `MONOTONIC_USEC=` carries).
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// Whole microseconds in a (non-negative) duration.
    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000)
    }

    private static func sendDatagram(_ payload: [UInt8], to address: Address) throws(SystemdNotifyError) {
        func failure(_ operation: String, _ code: Int32 = errno) -> SystemdNotifyError {
            SystemdNotifyError(operation: operation, code: code, socket: address.description)
        }
        #if canImport(Darwin)
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #else
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard fd >= 0 else { throw failure("socket") }
        defer { close(fd) }

        // A manager that stopped reading must not hang the daemon: give up after a few seconds.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? MemoryLayout<sa_family_t>.size
        let nameLength: Int = withUnsafeMutableBytes(of: &storage.sun_path) { path in
            switch address {
            case .path(let name):
                let bytes = Array(name.utf8)
                path.copyBytes(from: bytes)
                path[bytes.count] = 0
                return bytes.count + 1
            case .abstract(let name):
                let bytes = Array(name.utf8)
                path[0] = 0
                UnsafeMutableRawBufferPointer(rebasing: path[1...]).copyBytes(from: bytes)
                return bytes.count + 1  // the leading NUL, no trailing one: the length ends the name
            }
        }
        let addressLength = socklen_t(pathOffset + nameLength)

        #if canImport(Darwin)
        let flags: Int32 = 0
        #else
        let flags = Int32(MSG_NOSIGNAL)
        #endif
        while true {
            let sent = withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    payload.withUnsafeBytes { bytes in
                        sendto(fd, bytes.baseAddress, bytes.count, flags, socketAddress, addressLength)
                    }
                }
            }
            if sent == payload.count { return }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 { throw failure("sendto") }
            throw failure("sendto (short datagram)", EMSGSIZE)
        }
    }
}
