#if canImport(Glibc)
import Glibc
#endif
import FaceClient
import FaceCore
import FaceLedger
import FaceRoot
import FaceTestSupport
import Foundation
import Synchronization
import Testing

@testable import FaceDaemon

/// The daemon in-process on a temporary root, with real models, LMDB and inotify, followed through
/// its hooks: it becomes ready, and a graceful stop runs its services' shutdown in order while a
/// file is being encoded, which is committed before the stats are flushed and the lock released.
@Suite(
    .serialized, .timeLimit(.minutes(3)),
    .enabled(if: testModelsDirectory != nil, "no models in <repo>/models: run `make models`"))
struct DaemonLifecycleTests {
    /// What the daemon reported, in order.
    enum Event: Sendable, Equatable {
        case ready
        case ingested
        case finished(name: String, status: ResultStatus)
        case stopping
        case step(ShutdownStep)
    }

    /// Every event seen, and waits on them with a deadline.
    final class EventLog: Sendable {
        private let events = Mutex<[Event]>([])
        private let arrivals: AsyncStream<Void>
        private let arrival: AsyncStream<Void>.Continuation

        init() {
            (arrivals, arrival) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        }

        func append(_ event: Event) {
            events.withLock { $0.append(event) }
            arrival.yield()
        }

        var all: [Event] { events.withLock { $0 } }

        /// The hooks that record into this log.
        var hooks: DaemonHooks {
            var hooks = DaemonHooks()
            hooks.ready = { _ in self.append(.ready) }
            hooks.ingested = { _ in self.append(.ingested) }
            hooks.finished = { self.append(.finished(name: $0.record.source.name, status: $0.record.status)) }
            hooks.stopping = { self.append(.stopping) }
            hooks.shutdownStep = { self.append(.step($0)) }
            return hooks
        }

        /// Returns once an event satisfies `condition`, or throws after `timeout`.
        func wait(for what: String, timeout: Duration, until condition: @escaping @Sendable (Event) -> Bool)
            async throws
        {
            let arrivals = self.arrivals
            let found: Bool = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    var iterator = arrivals.makeAsyncIterator()
                    while !self.all.contains(where: condition) {
                        guard await iterator.next() != nil else { return false }
                    }
                    return true
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if !found { throw WaitTimeout(what: what, timeout: timeout, seen: all) }
        }
    }

    struct WaitTimeout: Error, CustomStringConvertible {
        var what: String
        var timeout: Duration
        var seen: [Event]
        var description: String { "no \(what) within \(timeout); seen: \(seen)" }
    }

    /// A daemon on a fresh root: one worker, slow detection (upsampled twice), a long drain, logs
    /// into ROOT/../daemon.log.
    static func makeService(_ directory: ScratchDirectory, events: EventLog) throws -> ServiceIntegration {
        let root = directory.appending("root")
        let flags: DaemonConfiguration.Flags = [
            "root": root, "models": testModelsDirectory!, "workers": "1", "shutdown_timeout": "120s", "settle_ms": "50",
            "upsample": "2",
        ]
        let configuration = try DaemonConfiguration.resolve(file: nil, flags: flags, environment: [:])
        let log = open(directory.appending("daemon.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        try #require(log >= 0)
        return ServiceIntegration(
            configuration: configuration, source: Daemon.Source(configFile: nil, flags: flags),
            output: LogOutput(level: .debug, descriptor: log), environment: [:], hooks: events.hooks)
    }

    /// Moves `bytes` into the inbox under `name` in one rename, as a well-behaved writer does.
    static func drop(_ bytes: [UInt8], as name: String, root: String) throws {
        let staging = root + "/.staging-" + name
        write(bytes, to: staging)
        try #require(rename(staging, root + "/inbox/" + name) == 0)
    }

    @Test func gracefulShutdownStopsInOrderAndCommitsTheFileBeingEncoded() async throws {
        let directory = ScratchDirectory("facewatch-lifecycle")
        defer { directory.remove() }
        let events = EventLog()
        let service = try Self.makeService(directory, events: events)
        let root = service.daemon.configuration.root
        let running = Task { try await service.run(handleSignals: false) }

        try await events.wait(for: "ready", timeout: .seconds(60)) { $0 == .ready }
        #expect(RootLock.holder(root: root) == getpid())

        // Large enough (noise, a megapixel upsampled twice: 16 megapixels of detection, a second or
        // more) that its encode is still running when the stop comes.
        try Self.drop(TinyPNG.make(width: 1000, height: 1000, seed: 42), as: "big.png", root: root)
        try await events.wait(for: "ingest", timeout: .seconds(30)) { $0 == .ingested }
        _ = await eventually(timeout: .seconds(30), interval: .milliseconds(2)) {
            (service.daemon.activity?.encoding ?? 0) > 0
                || events.all.contains {
                    if case .finished = $0 { true } else { false }
                }
        }
        try #require(service.daemon.activity?.encoding == 1, "the file was not on a worker: \(events.all)")

        service.daemon.requestStop(reason: "test")
        try await running.value

        let seen = events.all
        let expected: [Event] = [
            .stopping, .step(.inboxStopped), .step(.ingestFinished), .finished(name: "big.png", status: .completed),
            .step(.pipelineDrained(stillEncoding: 0)), .step(.statsFlushed), .step(.lockReleased),
        ]
        #expect(Array(seen.drop { $0 != .stopping }) == expected, "\(seen)")

        // Committed, published, and the root is free.
        let ledger = try LMDBLedger(
            directory: URL(fileURLWithPath: root + "/db"), options: LMDBLedger.Options(readOnly: true))
        let stats = try ledger.stats()
        #expect(stats.total == 1 && stats.counts[.completed] == 1)
        #expect(RootLock.holder(root: root) == nil)
        let stored = try #require(StatsDocument.read(path: root + "/stats.json"))
        #expect(stored.completed == 1 && stored.created == 0)
        let figures = try #require(try ledger.daemonFigures())
        #expect(!figures.running && figures.pid == getpid() && figures.encodes == 1)
        let metrics = try Exposition(parsing: String(contentsOfFile: root + "/metrics.prom", encoding: .utf8))
        #expect(metrics.value("facewatch_up") == 0)
        #expect(metrics.value("facewatch_files_completed_total") == 1)
        let log = try String(contentsOfFile: directory.appending("daemon.log"), encoding: .utf8)
        #expect(log.contains("stopping reason=test"), "\(log)")
    }

    @Test func aStopRequestedBeforeTheStartStopsOnceReadyAndStatusReadsTheLedger() async throws {
        let directory = ScratchDirectory("facewatch-lifecycle-early")
        defer { directory.remove() }
        let events = EventLog()
        let service = try Self.makeService(directory, events: events)
        let root = service.daemon.configuration.root
        service.daemon.requestStop(reason: "early")
        try await service.run(handleSignals: false)
        #expect(events.all.first == .ready)
        #expect(events.all.last == .step(.lockReleased))
        #expect(events.all.contains(.step(.pipelineDrained(stillEncoding: 0))))

        // `facewatch status` after the stop: no daemon, the figures of the one that ran.
        let configuration = try DaemonConfiguration.resolve(file: nil, flags: ["root": root], environment: [:])
        let report = try Queries(configuration: configuration).status()
        #expect(report.daemonPID == nil)
        #expect(report.figures?.running == false)
        #expect(report.figures?.pid == getpid())
        #expect(report.stats.imagesPerMinute == 0)
        let text = report.text()
        #expect(text.contains("daemon:   not running") && !text.contains("workers:"), "\(text)")
    }
}
