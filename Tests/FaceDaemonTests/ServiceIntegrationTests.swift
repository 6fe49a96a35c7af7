import FaceCore
import FaceEncoding
import FaceLedger
import Foundation
import Synchronization
import FaceTestSupport
import FaceClient
import Testing

@testable import FaceDaemon

/// The pieces `facewatch serve` adds as a service: the watchdog's progress check, the metrics kept
/// consistent with the ledger, metrics.prom read back, and the pipeline switching encoder pools.
/// (The daemon with its notify socket runs in the end-to-end tests.)
@Suite struct WorkerProgressTests {
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

@Suite struct MetricsReadingTests {
    @Test func readsBackWhatTheWriterWrote() throws {
        var snapshot = MetricsSnapshot(up: true, startTime: Date(timeIntervalSince1970: 1_764_007_200.5))
        snapshot.filesIngested = 12
        snapshot.filesCompleted = 9
        snapshot.filesFailed = [.notAnImage: 2, .tooLarge: 1]
        snapshot.faces = 14
        for seconds in [0.2, 0.3, 1.5, 0.004] { snapshot.encodeSeconds.observe(seconds) }
        snapshot.backlog = 3
        snapshot.workers = 2
        snapshot.workerBusySeconds = 2.25
        let reading = MetricsReading(text: MetricsWriter.render(snapshot))
        #expect(reading.value("facewatch_up") == 1)
        #expect(reading.value("facewatch_start_time_seconds") == 1_764_007_200.5)
        #expect(reading.value("facewatch_files_ingested_total") == 12)
        #expect(reading.value("facewatch_files_failed_total", ["code": "not_an_image"]) == 2)
        #expect(reading.value("facewatch_files_failed_total", ["code": "crashed"]) == 0)
        #expect(reading.samples(named: "facewatch_files_failed_total").count == FailureCode.allCases.count)
        #expect(reading.value("facewatch_encode_seconds_bucket", ["le": "0.25"]) == 2)
        #expect(reading.value("facewatch_encode_seconds_bucket", ["le": "+Inf"]) == 4)
        #expect(reading.value("facewatch_encode_seconds_count") == 4)
        #expect(reading.value("facewatch_worker_busy_seconds_total") == 2.25)
        #expect(reading.value("facewatch_nothing") == nil)
    }

    @Test func escapedLabelsAndOddLines() {
        let reading = MetricsReading(text: """
            # HELP x a \\\\ help
            x{a="quote \\" and \\\\ and \\n",b="2"} 3.5
            broken{a="unterminated} 1
            y +Inf

            z NaN
            """)
        #expect(reading.value("x", ["a": "quote \" and \\ and \n", "b": "2"]) == 3.5)
        #expect(reading.value("y") == .infinity)
        #expect(reading.value("z")?.isNaN == true)
        #expect(reading.samples(named: "broken").isEmpty)
    }

    @Test func statusFiguresFromAFile() throws {
        let directory = ScratchDirectory("metrics-figures")
        defer { directory.remove() }
        var snapshot = MetricsSnapshot(up: true, startTime: Date().addingTimeInterval(-100))
        snapshot.filesFailed = [.notAnImage: 2, .corruptImage: 1]
        snapshot.workers = 2
        snapshot.workerBusySeconds = 50
        snapshot.encodeSeconds.observe(0.5)
        snapshot.encodeSeconds.observe(1.5)
        let writer = MetricsWriter(directory: directory.path)
        try writer.write(snapshot)
        let figures = try #require(ServiceFigures(metricsFile: writer.path))
        #expect(figures.failed == 3)
        #expect(figures.failuresByCode.map(\.code) == [.notAnImage, .corruptImage])
        #expect(abs((figures.busyFraction ?? 0) - 0.25) < 0.01)
        let lines = figures.lines(daemonRunning: true, ledgerFailed: 3)
        #expect(lines.contains { $0.hasPrefix("workers:  2, busy 25% ") })
        #expect(lines.contains("encoding: 1.00 s per file on average (2 files)"))
        #expect(lines.contains("failures: not_an_image 2, corrupt_image 1"))
        // Counts that do not add up to the ledger's are not shown; a stopped daemon has no workers.
        let stale = figures.lines(daemonRunning: false, ledgerFailed: 4)
        #expect(!stale.contains { $0.hasPrefix("failures:") || $0.hasPrefix("workers:") })
        #expect(ServiceFigures(metricsFile: directory.appending("missing.prom")) == nil)
    }
}

/// With real models: what the pipeline made final, counted as it happens and counted again from the
/// ledger, gives the same metrics; a new encoder pool takes over without dropping a job.
@Suite(.serialized, .enabled(if: testModelsDirectory != nil, "no models in <repo>/models: run `make models`"))
struct ServiceMetricsTests {
    static let models: FaceModels = try! FaceModels(directory: URL(fileURLWithPath: testModelsDirectory!))

    final class Finals: Sendable {
        let results = Mutex<[FinalResult]>([])
        func append(_ result: FinalResult) { results.withLock { $0.append(result) } }
        var all: [FinalResult] { results.withLock { $0 } }
    }

    func run(_ pipeline: Pipeline, _ ledger: Ledger, until done: @Sendable () throws -> Bool) async throws {
        let task = Task { await pipeline.run() }
        pipeline.wake()
        let deadline = ContinuousClock.now + .seconds(60)
        while try !done(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
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
        #expect(try live.loadBaseline(from: root.ledger) == 1)
        let pngs = (0..<6).map { root.drop("p\($0).png", TinyPNG.make(width: 24, height: 24, seed: 700 + $0)) }
        _ = try root.ingestor.ingest(pngs + [
            root.drop("text.jpg", Array("not an image".utf8)),
            root.drop("empty.png", []),
            root.drop("bomb.png", TinyPNG.header(width: 100_000, height: 100_000)),
        ])
        let pool = try EncoderPool(models: Self.models, workers: 2)
        defer { pool.shutdown() }
        func makePipeline() -> Pipeline {
            Pipeline(
                ledger: root.ledger, pool: pool, location: root.location, results: root.results,
                settings: PipelineSettings(maxInFlight: 4), logger: root.logger) { live.record($0) }
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
        #expect(try fromLedger.loadBaseline(from: root.ledger) == 11)
        let busy = pipeline.activity.workerBusySeconds
        #expect(busy > 0)
        for metrics in [live, fromLedger] {
            let snapshot = metrics.snapshot(stats: stats, workers: 2, workerBusySeconds: busy)
            #expect(snapshot.filesIngested == 11)
            #expect(snapshot.filesCompleted == UInt64(stats.completed))
            #expect(snapshot.filesCompleted == 7)
            #expect(snapshot.filesFailed.values.reduce(0, +) == UInt64(stats.failed))
            #expect(snapshot.filesFailed == [.notAnImage: 2, .emptyFile: 1, .tooManyPixels: 1])
            // Every engine run, failures included; the deduplicated copy did not run the engine.
            #expect(snapshot.encodeSeconds.count == 10)
            #expect(snapshot.backlog == 0)
        }
        // Live and from the ledger: the same observations (summed in another order).
        var a = live.snapshot(stats: stats, workers: 2, workerBusySeconds: busy)
        var b = fromLedger.snapshot(stats: stats, workers: 2, workerBusySeconds: busy)
        #expect(a.encodeSeconds.bucketCounts == b.encodeSeconds.bucketCounts)
        #expect(abs(a.encodeSeconds.sum - b.encodeSeconds.sum) < 1e-9)
        a.encodeSeconds = MetricsHistogram()
        b.encodeSeconds = MetricsHistogram()
        #expect(a == b)
    }

    @Test func aNewPoolTakesTheNextJobsWhileThePreviousOneFinishesItsOwn() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let count = 24
        _ = try root.ingestor.ingest((0..<count).map { root.drop("f\($0).png", TinyPNG.make(width: 96, height: 96, seed: 900 + $0)) })
        let first = try EncoderPool(models: Self.models, workers: 2)
        let second = try EncoderPool(models: Self.models, workers: 1)
        defer { second.shutdown() }
        let finals = Finals()
        let pipeline = Pipeline(
            ledger: root.ledger, pool: first, location: root.location, results: root.results,
            settings: PipelineSettings(maxInFlight: 4), logger: root.logger) { finals.append($0) }
        let task = Task { await pipeline.run() }
        pipeline.wake()
        while finals.all.count < 4 { try await Task.sleep(for: .milliseconds(2)) }

        let previous = await pipeline.usePool(second)
        #expect(previous === first)
        #expect(await pipeline.encoderPool === second)
        await pipeline.waitForJobs(on: first)
        // Every job the first pool had is done: shutting it down drops nothing.
        first.shutdown()
        let doneWhenRetired = finals.all.count
        #expect(doneWhenRetired < count, "everything finished before the switch: the test proves little")

        let ledger = root.ledger
        let deadline = ContinuousClock.now + .seconds(60)
        while try ledger.stats().counts[.created] ?? 0 > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
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
