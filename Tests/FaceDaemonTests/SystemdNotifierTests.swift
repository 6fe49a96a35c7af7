#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

@testable import FaceDaemon

/// The notify protocol against real `AF_UNIX` datagram sockets bound by the test, as systemd binds
/// its own: one at a path and one in the abstract namespace.
@Suite(.timeLimit(.minutes(1))) struct SystemdNotifierTests {
    @Test func readyWithStatusArrivesAtAPathSocket() throws {
        let receiver = try DatagramReceiver.atTemporaryPath()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.notifySocket])
        #expect(notifier.isEnabled)
        #expect(notifier.address == .path(receiver.notifySocket))

        try notifier.ready(status: "watching /inbox\nbacklog 0")
        let message = try receiver.receive()
        #expect(message.text == "READY=1\nSTATUS=watching /inbox backlog 0\n")
        // NotifyAccess=main: systemd accepts a message only from the main process, which it learns
        // from the datagram's credentials.
        #expect(message.senderPID == getpid())
    }

    @Test func watchdogArrivesAtAnAbstractSocket() throws {
        let receiver = try DatagramReceiver(abstractName: "facewatch-test-\(UUID().uuidString)")
        #expect(receiver.notifySocket.hasPrefix("@"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": receiver.notifySocket])
        #expect(notifier.address == .abstract(String(receiver.notifySocket.dropFirst())))

        try notifier.watchdog()
        let message = try receiver.receive()
        #expect(message.text == "WATCHDOG=1\n")
        #expect(message.senderPID == getpid())
    }

    @Test func reloadingCarriesTheMonotonicClock() throws {
        let receiver = try DatagramReceiver(abstractName: "facewatch-test-\(UUID().uuidString)")
        let notifier = SystemdNotifier(notifySocket: receiver.notifySocket)

        let before = SystemdNotifier.monotonicMicroseconds()
        try notifier.reloading(status: "reloading /etc/facewatch/facewatch.conf")
        let after = SystemdNotifier.monotonicMicroseconds()

        let lines = try receiver.receive().text.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "RELOADING=1")
        #expect(lines.last == "STATUS=reloading /etc/facewatch/facewatch.conf")
        let stamp = try #require(lines.first { $0.hasPrefix("MONOTONIC_USEC=") }.flatMap { UInt64($0.dropFirst(15)) })
        #expect(stamp >= before && stamp <= after)

        // The reading is CLOCK_MONOTONIC, the clock systemd compares it with; /proc/uptime counts
        // from the same boot, so they agree to within a second or so.
        let uptime = try String(contentsOfFile: "/proc/uptime", encoding: .utf8).split(separator: " ").first.flatMap {
            Double($0)
        }
        let uptimeSeconds = try #require(uptime)
        #expect(abs(Double(stamp) / 1e6 - uptimeSeconds) < 5)
    }

    @Test func everyMessageKind() throws {
        let receiver = try DatagramReceiver.atTemporaryPath()
        let notifier = SystemdNotifier(notifySocket: receiver.notifySocket)

        try notifier.stopping(status: "finishing 2 files")
        #expect(try receiver.receive().text == "STOPPING=1\nSTATUS=finishing 2 files\n")
        try notifier.send(.extendTimeout(.seconds(30)), .extendTimeout(.milliseconds(1500)))
        #expect(try receiver.receive().text == "EXTEND_TIMEOUT_USEC=30000000\nEXTEND_TIMEOUT_USEC=1500000\n")
        try notifier.status("3 files/min, backlog 12")
        #expect(try receiver.receive().text == "STATUS=3 files/min, backlog 12\n")
        try notifier.send(.reloading(monotonicMicroseconds: 17), .ready)
        #expect(try receiver.receive().text == "RELOADING=1\nMONOTONIC_USEC=17\nREADY=1\n")
        try notifier.send([])
        #expect(try receiver.pending() == nil)
    }

    @Test func withoutNotifySocketEverythingIsANoOp() throws {
        for environment in [[:], ["NOTIFY_SOCKET": ""]] as [[String: String]] {
            let notifier = SystemdNotifier(environment: environment)
            #expect(!notifier.isEnabled)
            #expect(notifier.ignoredSocket == nil)
            try notifier.ready(status: "nobody listens")
            try notifier.watchdog()
            try notifier.reloading()
            try notifier.stopping()
        }
        try SystemdNotifier.disabled.ready()
        #expect(!SystemdNotifier.disabled.isEnabled)
    }

    @Test(arguments: [
        "vsock:2:1234",
        "relative/path",
        "@",
        "/" + String(repeating: "x", count: 200),
        "@" + String(repeating: "x", count: 200),
    ])
    func unusableAddressesAreIgnoredAndReported(value: String) throws {
        let notifier = SystemdNotifier(notifySocket: value)
        #expect(!notifier.isEnabled)
        #expect(notifier.ignoredSocket == value)
        try notifier.ready()
    }

    @Test func longestPathThatFits() {
        let longest = "/" + String(repeating: "x", count: SystemdNotifier.maxAddressLength - 1)
        #expect(SystemdNotifier.parseAddress(longest) == .path(longest))
        #expect(SystemdNotifier.parseAddress(longest + "x") == nil)
        #expect(SystemdNotifier.maxAddressLength == 107)
    }

    @Test func aSocketNobodyListensOnIsAnError() throws {
        let path = "/tmp/facewatch-test-\(UUID().uuidString)/no-such-socket"
        let notifier = SystemdNotifier(notifySocket: path)
        let error = #expect(throws: SystemdNotifyError.self) { try notifier.ready() }
        #expect(error?.code == ENOENT)
        #expect(error?.socket == path)
        #expect(error?.description.contains(path) == true)
    }

    // MARK: - Watchdog

    @Test(
        arguments: [
            (["WATCHDOG_USEC": "10000000"], Duration.seconds(5)),
            (["WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "4242"], Duration.seconds(60)),
            (["WATCHDOG_USEC": "3", "WATCHDOG_PID": ""], Duration.microseconds(1)),
            (["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4243"], nil),
            (["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "not-a-pid"], nil),
            (["WATCHDOG_USEC": "0"], nil),
            (["WATCHDOG_USEC": "-5"], nil),
            (["WATCHDOG_USEC": "ten seconds"], nil),
            (["WATCHDOG_PID": "4242"], nil),
            ([:], nil),
        ] as [([String: String], Duration?)])
    func watchdogIntervalIsHalfOfWatchdogUsec(environment: [String: String], expected: Duration?) {
        #expect(SystemdWatchdog.interval(environment: environment, processID: 4242) == expected)
    }

    @Test func watchdogFromTheEnvironment() throws {
        let receiver = try DatagramReceiver(abstractName: "facewatch-test-\(UUID().uuidString)")
        let notifier = SystemdNotifier(notifySocket: receiver.notifySocket)
        let environment = ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "\(getpid())"]

        let watchdog = try #require(SystemdWatchdog(notifier: notifier, environment: environment) { true })
        #expect(watchdog.interval == .seconds(1))
        // No watchdog asked for, or meant for another process, or nowhere to send pings.
        #expect(SystemdWatchdog(notifier: notifier, environment: [:]) { true } == nil)
        #expect(
            SystemdWatchdog(notifier: notifier, environment: ["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"]) { true }
                == nil)
        #expect(SystemdWatchdog(notifier: .disabled, environment: environment) { true } == nil)
    }

    @Test func watchdogPingsOnlyWhileWorkersMakeProgress() throws {
        let receiver = try DatagramReceiver.atTemporaryPath()
        let progress = ProgressFlag()
        let watchdog = SystemdWatchdog(
            notifier: SystemdNotifier(notifySocket: receiver.notifySocket), interval: .seconds(1)
        ) { progress.value }

        progress.value = false
        #expect(watchdog.tick() == .withheld)
        #expect(try receiver.pending() == nil)

        progress.value = true
        #expect(watchdog.tick() == .pinged)
        #expect(try receiver.receive().text == "WATCHDOG=1\n")
        #expect(try receiver.pending() == nil)
    }

    @Test func watchdogTickReportsASendFailure() throws {
        let path = "/tmp/facewatch-test-\(UUID().uuidString)/gone"
        let watchdog = SystemdWatchdog(notifier: SystemdNotifier(notifySocket: path), interval: .seconds(1)) { true }
        guard case .failed(let error) = watchdog.tick() else {
            Issue.record("a ping to a missing socket did not fail")
            return
        }
        #expect(error.code == ENOENT)
    }

    @Test func watchdogRunsUntilCancelled() async throws {
        let receiver = try DatagramReceiver(abstractName: "facewatch-test-\(UUID().uuidString)")
        let checks = ProgressFlag()
        let watchdog = SystemdWatchdog(
            notifier: SystemdNotifier(notifySocket: receiver.notifySocket), interval: .milliseconds(20)
        ) {
            // Stuck on every other check: only half the checks ping.
            checks.count += 1
            return checks.count % 2 == 1
        }
        let ticks = TickLog()
        let task = Task { await watchdog.run { ticks.append($0) } }
        for _ in 0..<3 {
            #expect(try receiver.receive(timeoutSeconds: 30).text == "WATCHDOG=1\n")
        }
        task.cancel()
        await task.value
        let seen = ticks.all
        #expect(seen.count >= 5)
        #expect(seen.allSatisfy { $0 == .pinged || $0 == .withheld })
        #expect(seen.first == .pinged)
        // Pings and withheld ticks alternate, as the check said.
        for (index, tick) in seen.enumerated() {
            #expect(tick == (index % 2 == 0 ? .pinged : .withheld))
        }
        // `run` returned: every ping it sent is queued at the socket (a send completes before the
        // tick is reported), one per pinged tick, and nothing more.
        let pinged = seen.filter { $0 == .pinged }.count
        for _ in 3..<pinged {
            #expect(try receiver.pending()?.text == "WATCHDOG=1\n")
        }
        #expect(try receiver.pending() == nil)
    }
}

// MARK: - Helpers

/// A datagram socket bound like systemd's notify socket, receiving with the sender's credentials.
private final class DatagramReceiver {
    struct Message {
        var text: String
        var senderPID: pid_t?
    }

    let fd: Int32
    /// The value `$NOTIFY_SOCKET` would have.
    let notifySocket: String
    private let boundPath: String?

    /// Binds `notify` in a fresh directory under /tmp (short enough for `sun_path`); both are
    /// removed when the receiver goes away.
    static func atTemporaryPath() throws -> DatagramReceiver {
        var template = Array("/tmp/facewatch-test-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SocketError("mkdtemp", errno)
        }
        let path = String(cString: made) + "/notify"
        return try DatagramReceiver(notifySocket: path, sunPath: Array(path.utf8) + [0], boundPath: path)
    }

    convenience init(abstractName: String) throws {
        try self.init(notifySocket: "@" + abstractName, sunPath: [0] + Array(abstractName.utf8), boundPath: nil)
    }

    private init(notifySocket: String, sunPath: [UInt8], boundPath: String?) throws {
        self.notifySocket = notifySocket
        self.boundPath = boundPath
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket", errno) }
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            close(fd)
            throw SocketError("setsockopt SO_PASSCRED", errno)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: sunPath) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + sunPath.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw SocketError("bind \(notifySocket)", code)
        }
    }

    deinit {
        close(fd)
        if let boundPath {
            unlink(boundPath)
            rmdir((boundPath as NSString).deletingLastPathComponent)
        }
    }

    /// Waits for the next datagram; fails after `timeoutSeconds`.
    func receive(timeoutSeconds: Int = 10) throws -> Message {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeoutSeconds * 1000))
        guard ready > 0 else { throw SocketError("no datagram within \(timeoutSeconds) s", ETIMEDOUT) }
        guard let message = try pending() else {
            throw SocketError("poll said readable, recvmsg found nothing", EAGAIN)
        }
        return message
    }

    /// The next datagram if one is queued, without waiting.
    func pending() throws -> Message? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        // Room for one SCM_CREDENTIALS control message (cmsghdr + struct ucred, aligned).
        var control = [UInt8](repeating: 0, count: 64)
        let received: Int = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var header = msghdr()
                    header.msg_iov = vectorPointer
                    header.msg_iovlen = 1
                    header.msg_control = controlBytes.baseAddress
                    header.msg_controllen = controlBytes.count
                    return recvmsg(fd, &header, Int32(MSG_DONTWAIT))
                }
            }
        }
        if received < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw SocketError("recvmsg", errno)
        }
        let text = String(decoding: buffer[0..<received], as: UTF8.self)
        return Message(text: text, senderPID: Self.credentialsPID(control))
    }

    /// `SCM_CREDENTIALS` and `struct ucred` from <sys/socket.h>, which Swift's Glibc module leaves
    /// out (they need _GNU_SOURCE).
    private static let scmCredentials: Int32 = 2
    private struct Credentials {
        var pid: pid_t
        var uid: uid_t
        var gid: gid_t
    }

    /// The pid of an SCM_CREDENTIALS control message at the start of `control`.
    private static func credentialsPID(_ control: [UInt8]) -> pid_t? {
        control.withUnsafeBytes { bytes -> pid_t? in
            let header = bytes.loadUnaligned(as: cmsghdr.self)
            guard header.cmsg_level == SOL_SOCKET, header.cmsg_type == scmCredentials,
                header.cmsg_len >= MemoryLayout<cmsghdr>.size + MemoryLayout<Credentials>.size
            else { return nil }
            // CMSG_DATA: the header rounded up to the alignment of size_t.
            let dataOffset = (MemoryLayout<cmsghdr>.size + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1)
            return bytes.loadUnaligned(fromByteOffset: dataOffset, as: Credentials.self).pid
        }
    }
}

private struct SocketError: Error, CustomStringConvertible {
    var operation: String
    var code: Int32
    init(_ operation: String, _ code: Int32) {
        self.operation = operation
        self.code = code
    }
    var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// A flag and counter shared with a watchdog's progress check.
private final class ProgressFlag: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var _value = true
    private var _count = 0
    var value: Bool {
        get { lock.withLock { _value } }
        set { lock.withLock { _value = newValue } }
    }
    var count: Int {
        get { lock.withLock { _count } }
        set { lock.withLock { _count = newValue } }
    }
}

/// The ticks a running watchdog reported.
private final class TickLog: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var ticks: [SystemdWatchdogTick] = []
    func append(_ tick: SystemdWatchdogTick) { lock.withLock { ticks.append(tick) } }
    var all: [SystemdWatchdogTick] { lock.withLock { ticks } }
}
