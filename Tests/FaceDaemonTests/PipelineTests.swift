import FaceCore
import FaceEncoding
import FaceLedger
import Foundation
import Synchronization
import FaceTestSupport
import Testing

@testable import FaceDaemon

/// The pipeline on a real ledger, store and encoder pool (real dlib models from `<repo>/models`).
@Suite(
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: testModelsDirectory != nil, "no models in <repo>/models: run `make models`"))
struct PipelineTests {
    static let pool: EncoderPool = {
        let models = try! FaceModels(directory: URL(fileURLWithPath: testModelsDirectory!))
        return try! EncoderPool(models: models, workers: 2)
    }()

    /// Collects what `onFinal` reports.
    final class Finals: Sendable {
        let results = Mutex<[FinalResult]>([])
        func append(_ result: FinalResult) { results.withLock { $0.append(result) } }
        var all: [FinalResult] { results.withLock { $0 } }
    }

    func makePipeline(_ root: TestRoot, settings: PipelineSettings, finals: Finals) -> Pipeline {
        Pipeline(
            ledger: root.ledger, pool: Self.pool, location: root.location, results: root.results,
            settings: settings, logger: root.logger
        ) { finals.append($0) }
    }

    /// Runs the pipeline until the queue is empty (or 60 s), then stops it.
    func runUntilIdle(_ pipeline: Pipeline, _ ledger: LMDBLedger, watch: (@Sendable () async -> Void)? = nil)
        async throws
    {
        let task = Task { await pipeline.run() }
        pipeline.wake()
        try await eventually(timeout: .seconds(60), interval: .milliseconds(5)) {
            await watch?()
            return try ledger.stats().counts[.created] ?? 0 == 0
        }
        await pipeline.stop()
        _ = await pipeline.drain(timeout: 10)
        await task.value
        #expect(try ledger.stats().counts[.created] == 0)
    }

    @Test func encodesQueuedRecordsAndWritesTheirDocuments() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let outcome = try root.ingestor.ingest([
            root.drop("tiny.png", TinyPNG.make(width: 16, height: 16, seed: 1)),
            root.drop("text.jpg", Array("not an image at all".utf8)),
            root.drop("empty.png", []),
            root.drop("bomb.png", TinyPNG.header(width: 100_000, height: 100_000)),
        ])
        let ids = outcome.created.map(\.id)
        let finals = Finals()
        let pipeline = makePipeline(root, settings: PipelineSettings(maxInFlight: 4), finals: finals)
        try await runUntilIdle(pipeline, root.ledger)

        let records = try ids.map { try #require(try root.ledger.record($0)) }
        #expect(records[0].status == .completed)
        #expect(records[0].faces.isEmpty)
        #expect(records[0].image == ImageInfo(format: .png, width: 16, height: 16))
        #expect(records[0].attempts == 1)
        #expect(records[1].error?.code == .notAnImage)
        #expect(records[2].error?.code == .emptyFile)
        #expect(records[3].error?.code == .tooManyPixels)
        for record in records {
            let document = try #require(ResultsWriter.read(id: record.id, in: root.results.directory))
            #expect(document.json == record.resultDocument().json)  // JSON keeps milliseconds
        }
        #expect(finals.all.count == 4)
        #expect(finals.all.allSatisfy { $0.how == .encoded })
    }

    @Test func identicalContentReusesTheFacesUnlessDedupIsOff() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let png = TinyPNG.make(width: 8, height: 8, seed: 9)
        let first = try root.ingestor.ingest([root.drop("one.png", png)]).created[0]
        let finals = Finals()
        try await runUntilIdle(
            makePipeline(root, settings: PipelineSettings(maxInFlight: 2), finals: finals), root.ledger)
        let second = try root.ingestor.ingest([root.drop("two.png", png)]).created[0]
        try await runUntilIdle(
            makePipeline(root, settings: PipelineSettings(maxInFlight: 2), finals: finals), root.ledger)
        let third = try root.ingestor.ingest([root.drop("three.png", png)]).created[0]
        try await runUntilIdle(
            makePipeline(root, settings: PipelineSettings(maxInFlight: 2, dedup: false), finals: finals), root.ledger)

        let how = Dictionary(uniqueKeysWithValues: finals.all.map { ($0.record.id, $0.how) })
        #expect(how[first.id] == .encoded)
        #expect(how[second.id] == .deduplicated)
        #expect(how[third.id] == .encoded)
        let reused = try #require(try root.ledger.record(second.id))
        #expect(reused.status == .completed)
        #expect(reused.attempts == 0)  // the network never ran
        #expect(reused.image == (try root.ledger.record(first.id))?.image)
        #expect(reused.source.name == "two.png")
        #expect(try root.ledger.record(third.id)?.attempts == 1)
    }

    /// A stored file missing while its store is away is not failed: it waits out its backoff on the
    /// pipeline's clock and is taken again when that clock has passed it (a test clock: no margin).
    @Test func aFileMissingWhileTheStoreIsAwayIsRetriedWhenTheClockPassesItsBackoff() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let (identity, problems) = try DirectoryIdentity.establish([.init(role: "store", path: root.store.directory)])
        try #require(problems.isEmpty)
        let watch = RootWatch(identity: identity)
        let record = try root.ingestor.ingest([root.drop("away.png", TinyPNG.make(seed: 11))]).created[0]
        // The store goes away (as a file system unmounted under it would) before the watch has read it.
        let away = root.directory.appending("store.away")
        try FileManager.default.moveItem(atPath: root.store.directory, toPath: away)
        let clock = TestClock()
        let finals = Finals()
        let pipeline = Pipeline(
            ledger: root.ledger, pool: Self.pool, location: root.location, results: root.results,
            settings: PipelineSettings(maxInFlight: 2), logger: root.logger, watch: watch, clock: clock
        ) { finals.append($0) }
        let running = Task { await pipeline.run() }
        pipeline.wake()
        // The read fails with ENOENT, the watch finds the store away: the record waits out a backoff.
        #expect(await eventually { clock.sleeperCount == 1 && watch.pausedReason != nil })
        try FileManager.default.moveItem(atPath: away, toPath: root.store.directory)
        #expect(watch.recheck() == nil)
        pipeline.wake()
        #expect(await pipeline.inFlightCount == 0)
        #expect(try root.ledger.record(record.id)?.status == .created)
        #expect(finals.all.isEmpty)

        clock.advance(by: .seconds(TransientRetry.delay(retry: 1)))
        // Reported after its final commit and its document.
        #expect(await eventually(timeout: .seconds(60)) { finals.all.map(\.record.id) == [record.id] })
        #expect(try root.ledger.record(record.id)?.status == .completed)
        await pipeline.stop()
        #expect(await pipeline.drain(timeout: 10) == 0)
        await running.value
    }

    @Test func aRecordThatCrashedTheProcessThreeTimesIsFailedWithoutEncoding() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let record = try root.ingestor.ingest([root.drop("poison.png", TinyPNG.make(seed: 10))]).created[0]
        // Three runs that died while it was encoding alone; the fourth start settles the last death.
        for _ in 0..<3 {
            let run = try root.ledger.beginRun(previousDiedOfFault: true)
            try root.ledger.beginAttempt(record.id, incarnation: run.incarnation, solo: true)
        }
        #expect(try root.ledger.beginRun(previousDiedOfFault: true).charged == [record.id])
        #expect(try root.ledger.deaths(record.id) == Deaths(crashes: 3))
        let finals = Finals()
        try await runUntilIdle(
            makePipeline(root, settings: PipelineSettings(maxInFlight: 2), finals: finals), root.ledger)
        let final = try #require(try root.ledger.record(record.id))
        #expect(final.status == .failed)
        #expect(final.error?.code == .crashed)
        #expect(final.attempts == 3)
        #expect(finals.all.map(\.how) == [.crashed])
        #expect(ResultsWriter.read(id: record.id, in: root.results.directory)?.error?.code == .crashed)
        #expect(try root.ledger.deaths(record.id) == Deaths())  // a final record keeps no attribution state
    }

    @Test func deathsBesideOtherFilesChargeNothingAndSuspectsRunAlone() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let created = try root.ingestor.ingest((0..<3).map { root.drop("s\($0).png", TinyPNG.make(seed: 20 + $0)) })
            .created
        // Three runs died while the three files were encoding side by side.
        for _ in 0..<3 {
            let run = try root.ledger.beginRun(previousDiedOfFault: true)
            for record in created { try root.ledger.beginAttempt(record.id, incarnation: run.incarnation, solo: false) }
        }
        let start = try root.ledger.beginRun(previousDiedOfFault: true)
        #expect(start.charged.isEmpty)
        #expect(Set(start.suspects) == Set(created.map(\.id)))
        let finals = Finals()
        let pipeline = makePipeline(root, settings: PipelineSettings(maxInFlight: 3), finals: finals)
        let mostAtOnce = Mutex(0)
        try await runUntilIdle(pipeline, root.ledger) {
            let encoding = pipeline.activity.encoding
            mostAtOnce.withLock { $0 = max($0, encoding) }
        }
        #expect(mostAtOnce.withLock { $0 } <= 1, "suspects ran side by side")
        for record in created {
            let final = try #require(try root.ledger.record(record.id))
            #expect(final.status == .completed, "an innocent file was failed: \(final.error?.message ?? "")")
        }
        #expect(try root.ledger.suspects(limit: 10).isEmpty)
    }

    @Test func aCreatedRecordWhoseStoredEntryIsASymlinkIsFailedUnopened() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let id = UUID()
        let target = root.directory.appending("elsewhere.png")
        write(TinyPNG.make(seed: 11), to: target)
        let stored = root.store.path(for: id, ext: "png")
        try FileManager.default.createDirectory(
            atPath: root.store.shardDirectory(for: id), withIntermediateDirectories: true)
        #expect(symlink(target, stored) == 0)
        try root.ledger.insertCreated(
            LedgerRecord(
                id: id, source: SourceInfo(name: "link.png", bytes: 0, sha256: SHA256.hex([])),
                storePath: root.location.recordedPath(for: stored), createdAt: Date()))
        let finals = Finals()
        try await runUntilIdle(
            makePipeline(root, settings: PipelineSettings(maxInFlight: 2), finals: finals), root.ledger)
        let record = try #require(try root.ledger.record(id))
        #expect(record.error?.code == .notARegularFile)
        #expect(record.attempts == 0)
        #expect(finals.all.map(\.how) == [.notARegularFile])
    }

    @Test func neverHoldsMoreThanMaxInFlightRecords() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let batch = (0..<40).map { root.drop("f\($0).png", TinyPNG.make(width: 32, height: 32, seed: 100 + $0)) }
        _ = try root.ingestor.ingest(batch)
        let finals = Finals()
        let pipeline = makePipeline(root, settings: PipelineSettings(maxInFlight: 3), finals: finals)
        let peak = Mutex(0)
        try await runUntilIdle(pipeline, root.ledger) {
            let now = await pipeline.inFlightCount
            peak.withLock { $0 = max($0, now) }
        }
        #expect(peak.withLock { $0 } <= 3)
        #expect(peak.withLock { $0 } >= 1)
        #expect(finals.all.count == 40)
        #expect(Set(finals.all.map(\.record.id)).count == 40)
        // Oldest first: the queue's order.
        #expect(try root.ledger.stats().counts[.completed] == 40)
    }

    @Test func stopLeavesUnstartedRecordsCreated() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        _ = try root.ingestor.ingest(
            (0..<30).map { root.drop("s\($0).png", TinyPNG.make(width: 64, height: 64, seed: 300 + $0)) })
        let finals = Finals()
        let pipeline = makePipeline(root, settings: PipelineSettings(maxInFlight: 2), finals: finals)
        let task = Task { await pipeline.run() }
        pipeline.wake()
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count >= 3 })
        await pipeline.stop()
        let left = await pipeline.drain(timeout: 10)
        await task.value
        #expect(left == 0)
        let stats = try root.ledger.stats()
        #expect(stats.counts[.completed]! == finals.all.count)
        #expect(stats.counts[.created]! == 30 - finals.all.count)
        #expect(stats.counts[.created]! > 0)
        // Every record is either final with a document, or still queued: none half-done.
        try root.ledger.forEachRecord { record in
            if record.status == .created {
                #expect(ResultsWriter.read(id: record.id, in: root.results.directory) == nil)
            } else {
                #expect(ResultsWriter.read(id: record.id, in: root.results.directory) != nil)
            }
        }
    }

    /// A pipeline of 4 in flight, running, whose one queue read found the queue empty: its end is
    /// known. Woken before it runs, so that its first look is its only read (a wake after that look
    /// would read again).
    func runningOnAnEmptyQueue(_ root: TestRoot, finals: Finals) async -> (Pipeline, Task<Void, Never>) {
        let pipeline = makePipeline(root, settings: PipelineSettings(maxInFlight: 4), finals: finals)
        pipeline.wake()
        let task = Task { await pipeline.run() }
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { pipeline.queueReadCount == 1 })
        return (pipeline, task)
    }

    /// The intake's records join the read-ahead unread only when the last queue read reached the
    /// queue's end and no read returned between their commit and their offer, and only up to one
    /// read's worth; otherwise the queue is read (and they are taken from it).
    @Test func offeredRecordsAreTakenUnreadOnlyWhenNoReadCameBetweenAndTheyFit() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let finals = Finals()
        let (pipeline, task) = await runningOnAnEmptyQueue(root, finals: finals)
        var seed = 500
        func ingest(_ count: Int) throws -> [LedgerRecord] {
            let batch = (0..<count).map { index in
                seed += 1
                return root.drop("o\(seed).png", TinyPNG.make(width: 16, height: 16, seed: seed))
            }
            return try root.ingestor.ingest(batch).created
        }

        // Offered with the count taken before their commit: no read.
        var before = pipeline.queueReadCount
        pipeline.offer(try ingest(3), readsBefore: before)
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count == 3 })
        #expect(pipeline.queueReadCount == 1)

        // A read may have returned after their commit (the count moved): the queue is read.
        before = pipeline.queueReadCount
        pipeline.offer(try ingest(2), readsBefore: before - 1)
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count == 5 })
        #expect(pipeline.queueReadCount == 2)

        // More than one read's worth stays in the ledger's queue: read, not held.
        before = pipeline.queueReadCount
        let many = Pipeline.readAheadBatch + 1
        pipeline.offer(try ingest(many), readsBefore: before)
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count == 5 + many })
        #expect(pipeline.queueReadCount > before)

        await pipeline.stop()
        _ = await pipeline.drain(timeout: 10)
        await task.value
        #expect(Set(finals.all.map(\.record.id)).count == 5 + many)
        #expect(try root.ledger.stats().counts[.completed] == 5 + many)
    }

    /// Records the intake offers before their commit (`IntakeCommit`): their workers read their
    /// files and wait for the commit before claiming; a record it did not commit is left alone,
    /// nothing written; an offer turned down before the commit has the queue read again once the
    /// commit is settled, when a read made before it could not see them.
    @Test func recordsOfferedBeforeTheirCommitWaitForIt() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let finals = Finals()
        let (pipeline, task) = await runningOnAnEmptyQueue(root, finals: finals)
        let stored = try root.ingestor.ingest(
            (0..<3).map { root.drop("e\($0).png", TinyPNG.make(width: 16, height: 16, seed: 700 + $0)) }
        ).created
        pipeline.offer(stored, readsBefore: pipeline.queueReadCount)
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count == 3 })
        // Records of those stored files under new ids, not in the ledger until the test commits them.
        func uncommitted(_ count: Int) -> [LedgerRecord] {
            (0..<count).map { index in
                let file = stored[index % stored.count]
                return LedgerRecord(
                    id: UUID(), source: file.source, storePath: file.storePath, createdAt: file.createdAt,
                    image: file.image)
            }
        }

        // Offered, then committed: the workers wait, and claim once the commit is settled. (As
        // many records as the pool has workers: each waits on one.)
        let waiting = uncommitted(2)
        let first = IntakeCommit(wake: { pipeline.wake() })
        pipeline.offer(waiting, readsBefore: pipeline.queueReadCount, commit: first)
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { first.waitCount == 2 })
        try root.ledger.insertCreated(waiting)
        first.settle(committed: Set(waiting.map(\.id)))
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count == 5 })

        // Offered, and the commit failed: nothing is claimed or written, and the pipeline goes on.
        let lost = uncommitted(2)
        let second = IntakeCommit(wake: { pipeline.wake() })
        pipeline.offer(lost, readsBefore: pipeline.queueReadCount, commit: second)
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { second.waitCount == 2 })
        second.settle(committed: [])
        #expect(
            await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { await pipeline.inFlightCount == 0 })
        for record in lost {
            #expect(try root.ledger.record(record.id) == nil)
            #expect(!FileManager.default.fileExists(atPath: root.results.path(for: record.id)))
        }

        // Turned down (a read may have come between): the read made before the commit misses them,
        // and the commit's settling has the queue read again.
        let late = uncommitted(2)
        let third = IntakeCommit(wake: { pipeline.wake() })
        let reads = pipeline.queueReadCount
        pipeline.offer(late, readsBefore: reads - 1, commit: third)
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { pipeline.queueReadCount > reads })
        #expect(await pipeline.inFlightCount == 0)
        try root.ledger.insertCreated(late)
        third.settle(committed: Set(late.map(\.id)))
        #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(2)) { finals.all.count == 7 })

        await pipeline.stop()
        _ = await pipeline.drain(timeout: 10)
        await task.value
        #expect(try root.ledger.stats().counts[.completed] == 7)
        #expect(third.waitCount == 0, "taken from the queue's read, not from the offer")
    }
}
