import FaceCore
import FaceEncoding
import FaceLedger
import FaceRoot
import Foundation
import Synchronization
import FaceTestSupport
import FaceClient
import Testing

@testable import FaceDaemon

/// The pieces `facewatch serve` adds as a service: the watchdog's progress check, the metrics kept
/// consistent with the ledger, the figures published into the ledger for `facewatch status`, and
/// the pipeline switching encoder pools. (The daemon with its notify socket runs in the end-to-end
/// tests; its lifecycle in-process in `DaemonLifecycleTests`.)
@Suite(.timeLimit(.minutes(1))) struct WorkerProgressTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func idleIsProgress() {
        var progress = WorkerProgress(stuckAfter: 10)
        func check(_ activity: PipelineActivity?, now: Date) -> Bool { progress.check(activity, now: now) }
        #expect(check(PipelineActivity(encoding: 0, oldestEncodingStart: nil, finished: 0), now: start))
        #expect(check(PipelineActivity(encoding: 0, oldestEncodingStart: nil, finished: 0), now: start + 3600))
    }

    @Test func beforeThePipelineRunsIsProgress() {
        var progress = WorkerProgress(stuckAfter: 10)
        func check(_ activity: PipelineActivity?, now: Date) -> Bool { progress.check(activity, now: now) }
        #expect(check(nil, now: start))
    }

    @Test func anEncodeRunningPastTheLimitWithNothingFinishingIsStuck() {
        var progress = WorkerProgress(stuckAfter: 10)
        func check(_ activity: PipelineActivity?, now: Date) -> Bool { progress.check(activity, now: now) }
        let busy = PipelineActivity(encoding: 1, oldestEncodingStart: start, finished: 5)
        #expect(check(busy, now: start + 1))
        #expect(check(busy, now: start + 9.9))
        #expect(!check(busy, now: start + 10))
        #expect(!check(busy, now: start + 60))
        // It finishes: idle again.
        #expect(check(PipelineActivity(encoding: 0, oldestEncodingStart: nil, finished: 6), now: start + 61))
    }

    @Test func filesFinishingAroundASlowOneIsProgress() {
        var progress = WorkerProgress(stuckAfter: 10)
        func check(_ activity: PipelineActivity?, now: Date) -> Bool { progress.check(activity, now: now) }
        #expect(check(PipelineActivity(encoding: 2, oldestEncodingStart: start, finished: 5), now: start + 11) == false)
        // Another worker finished files since the last check: work flows.
        #expect(check(PipelineActivity(encoding: 2, oldestEncodingStart: start, finished: 9), now: start + 12))
        // Nothing more finished: the slow one blocks everything now.
        #expect(!check(PipelineActivity(encoding: 2, oldestEncodingStart: start, finished: 9), now: start + 13))
    }
}

/// The daemon's figures in the ledger's `meta`, and `facewatch status` built from them.
@Suite(.timeLimit(.minutes(1))) struct DaemonFiguresTests {
    static func figures(running: Bool = true, now: Date = Date()) -> DaemonFigures {
        DaemonFigures(
            running: running, pid: 4242, startedAt: now.addingTimeInterval(-100), updatedAt: now, workers: 2,
            workerBusySeconds: 50, imagesPerMinute: 12.5, encodes: 2, encodeSeconds: 2,
            failedByCode: [.notAnImage: 2, .corruptImage: 1, .tooLarge: 0], memoryBudget: 1_500_000_000,
            memoryReserved: 900_000_000, waitingForMemory: 2,
            paused: "the store directory /r/store has no .facewatch-root marker (not mounted, or moved away?)")
    }

    @Test func publishedFiguresReadBackFromAReadOnlyLedger() throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        #expect(try root.ledger.daemonFigures() == nil)
        let published = Self.figures(now: Date(timeIntervalSince1970: 1_764_007_200.25))
        try root.ledger.publish(published)
        let readOnly = try LMDBLedger(directory: root.ledger.directory, options: LMDBLedger.Options(readOnly: true))
        let back = try #require(try readOnly.daemonFigures())
        #expect(back == published)
        // Codes with no failure are not stored.
        #expect(back.failedByCode == [.notAnImage: 2, .corruptImage: 1])
        #expect(throws: LedgerError.self) { try readOnly.publish(published) }
        // Publishing replaces; the counters are untouched.
        let before = try root.ledger.stats()
        var stopped = published
        stopped.running = false
        stopped.workers = 0
        try root.ledger.publish(stopped)
        #expect(try readOnly.daemonFigures() == stopped)
        #expect(try root.ledger.stats() == before)
    }

    @Test func statusLinesFromTheFigures() throws {
        let now = Date()
        let counts = StatsDocument(
            total: 10, created: 0, completed: 7, failed: 3, faces: 4, averageEncoding: [], imagesPerMinute: 12.5,
            updatedAt: now)
        let report = StatusReport(
            root: "/r", daemonPID: 4242, stats: counts, recentFailures: [], figures: Self.figures(now: now))
        let lines = report.text(now: now).split(separator: "\n").map(String.init)
        #expect(lines.contains("rate:     12.5 images/min (stats.json updated 0s ago)"))
        #expect(
            lines.contains { $0.hasPrefix("workers:  2, busy 25% of the time since the start 100s ago") }, "\(lines)")
        #expect(lines.contains("encoding: 1.00 s per file on average (2 files)"))
        #expect(lines.contains("failures: not_an_image 2, corrupt_image 1"))
        #expect(
            lines.contains("memory:   900 MB of a 1500 MB budget reserved by images being encoded, 2 waiting for it"),
            "\(lines)")
        #expect(lines.contains { $0.hasPrefix("paused:   taking and encoding no files: the store directory") })
        let json = report.json.pretty()
        #expect(json.contains("\"workers\": 2") && json.contains("\"not_an_image\": 2"), "\(json)")
        #expect(json.contains("\"memory_reserved_bytes\": 900000000"), "\(json)")

        // Counts that do not add up to the ledger's are not shown; a stopped daemon has no workers.
        var later = counts
        later.failed = 4
        let stale = StatusReport(
            root: "/r", daemonPID: nil, stats: later, recentFailures: [],
            figures: Self.figures(running: false, now: now))
        let staleLines = stale.text(now: now).split(separator: "\n")
        #expect(!staleLines.contains { $0.hasPrefix("failures:") || $0.hasPrefix("workers:") })
        #expect(staleLines.contains { $0.hasPrefix("encoding: ") })
        // No daemon ever published: the ledger's counts only.
        let bare = StatusReport(root: "/r", daemonPID: nil, stats: counts, recentFailures: [], figures: nil).text(
            now: now)
        #expect(bare.contains("rate:     12.5 images/min\n"))
        #expect(!bare.contains("workers:") && !bare.contains("encoding:"))
    }
}

/// With real models: what the pipeline made final, counted as it happens and counted again from the
/// ledger, gives the same metrics; a new encoder pool takes over without dropping a job.
@Suite(
    .serialized, .timeLimit(.minutes(3)),
    .enabled(if: testModelsDirectory != nil, "no models in <repo>/models: run `make models`"))
struct ServiceMetricsTests {
    static let models: FaceModels = try! FaceModels(directory: URL(fileURLWithPath: testModelsDirectory!))

    final class Finals: Sendable {
        let results = Mutex<[FinalResult]>([])
        func append(_ result: FinalResult) { results.withLock { $0.append(result) } }
        var all: [FinalResult] { results.withLock { $0 } }
    }

    func run(_ pipeline: Pipeline, _ ledger: LMDBLedger, until done: @Sendable () throws -> Bool) async throws {
        let task = Task { await pipeline.run() }
        pipeline.wake()
        try await eventually(timeout: .seconds(60), interval: .milliseconds(5)) { try done() }
        await pipeline.stop()
        _ = await pipeline.drain(timeout: 10)
        await task.value
    }

    @Test func countedLiveOrFromTheLedgerTheMetricsAgreeWithStats() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        // Something final before the daemon "starts": the baseline must count it.
        let early = try root.ingestor.ingest([root.drop("early.txt", Array("text".utf8))]).created[0]
        try root.ledger.beginAttempt(early.id)
        _ = try root.ledger.fail(early.id, Failure(.notAnImage, "not an image"), completedAt: Date(), duration: 0.002)

        let started = Date()
        let live = ServiceMetrics(startTime: started)
        #expect(try live.loadBaseline(from: root.ledger) == 1)  // the engine ran for it (0.002 s)
        let pngs = (0..<6).map { root.drop("p\($0).png", TinyPNG.make(width: 24, height: 24, seed: 700 + $0)) }
        _ = try root.ingestor.ingest(
            pngs + [
                root.drop("text.jpg", Array("not an image".utf8)),
                root.drop("empty.png", []),
                root.drop("bomb.png", TinyPNG.header(width: 100_000, height: 100_000)),
            ])
        let pool = try EncoderPool(models: Self.models, workers: 2)
        defer { pool.shutdown() }
        func makePipeline() -> Pipeline {
            Pipeline(
                ledger: root.ledger, pool: pool, location: root.location, results: root.results,
                settings: PipelineSettings(maxInFlight: 4), logger: root.logger
            ) { live.record($0) }
        }
        let ledger = root.ledger
        let pipeline = makePipeline()
        try await run(pipeline, ledger) { try ledger.stats().counts[.created] == 0 }
        // Content seen before, once the first copy is completed: deduplicated, no engine run.
        _ = try root.ingestor.ingest([root.drop("again.png", TinyPNG.make(width: 24, height: 24, seed: 700))])
        try await run(makePipeline(), ledger) { try ledger.stats().counts[.created] == 0 }

        let stats = StatsDocument(stats: try root.ledger.stats(), imagesPerMinute: 0)
        #expect(stats.total == 11)
        let fromLedger = ServiceMetrics(startTime: started)
        // Its engine runs: every record but the deduplicated copy (from the ledger's tallies).
        #expect(try fromLedger.loadBaseline(from: root.ledger) == 10)
        let busy = pipeline.activity.workerBusySeconds
        #expect(busy > 0)
        var expositions: [Exposition] = []
        for metrics in [live, fromLedger] {
            metrics.update(stats: stats, workers: 2, workerBusySeconds: busy)
            let exposition = try Exposition(parsing: String(decoding: metrics.exposition(), as: UTF8.self))
            #expect(exposition.value("facewatch_files_ingested_total") == 11)
            #expect(exposition.value("facewatch_files_completed_total") == Double(stats.completed))
            #expect(stats.completed == 7)
            #expect(metrics.failedByCode.values.reduce(0, +) == stats.failed)
            #expect(metrics.failedByCode == [.notAnImage: 2, .emptyFile: 1, .tooManyPixels: 1])
            for (code, count) in metrics.failedByCode {
                #expect(exposition.value("facewatch_files_failed_total", ["code": code.rawValue]) == Double(count))
            }
            // Every engine run, failures included; the deduplicated copy did not run the engine.
            #expect(metrics.engineRuns.count == 10)
            #expect(exposition.value("facewatch_encode_seconds_count") == 10)
            #expect(exposition.value("facewatch_backlog") == 0)
            expositions.append(exposition)
        }
        // Live and from the ledger: the same observations (summed in another order).
        let buckets = expositions.map { $0.samples.filter { $0.name == "facewatch_encode_seconds_bucket" } }
        #expect(buckets[0].map(\.value) == buckets[1].map(\.value))
        #expect(
            abs(
                (expositions[0].value("facewatch_encode_seconds_sum") ?? 0)
                    - (expositions[1].value("facewatch_encode_seconds_sum") ?? -1)) < 1e-9)
    }

    @Test func aNewPoolTakesTheNextJobsWhileThePreviousOneFinishesItsOwn() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let count = 24
        _ = try root.ingestor.ingest(
            (0..<count).map { root.drop("f\($0).png", TinyPNG.make(width: 96, height: 96, seed: 900 + $0)) })
        let first = try EncoderPool(models: Self.models, workers: 2)
        let second = try EncoderPool(models: Self.models, workers: 1)
        defer { second.shutdown() }
        let finals = Finals()
        let pipeline = Pipeline(
            ledger: root.ledger, pool: first, location: root.location, results: root.results,
            settings: PipelineSettings(maxInFlight: 4), logger: root.logger
        ) { finals.append($0) }
        let task = Task { await pipeline.run() }
        pipeline.wake()
        await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count >= 4 }
        try #require(finals.all.count >= 4, "the first pool finished nothing within 60 s")

        let previous = await pipeline.usePool(second)
        #expect(previous === first)
        #expect(await pipeline.encoderPool === second)
        await pipeline.waitForJobs(on: first)
        // Every job the first pool had is done: shutting it down drops nothing.
        first.shutdown()
        let doneWhenRetired = finals.all.count
        #expect(doneWhenRetired < count, "everything finished before the switch: the test proves little")

        let ledger = root.ledger
        try await eventually(timeout: .seconds(60), interval: .milliseconds(5)) {
            try ledger.stats().counts[.created] ?? 0 == 0
        }
        await pipeline.stop()
        _ = await pipeline.drain(timeout: 10)
        await task.value
        #expect(finals.all.count == count)
        #expect(Set(finals.all.map(\.record.id)).count == count)
        try root.ledger.forEachRecord { record in
            #expect(record.status == .completed)
            #expect(record.attempts == 1, "a job was dropped and taken again")
        }
    }
}
