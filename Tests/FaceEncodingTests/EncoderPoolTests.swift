import FaceCore
import FaceImage
import FaceTestSupport
import Foundation
import Synchronization
import Testing
@testable import FaceEncoding

/// Counts jobs running at the same time.
private final class ConcurrencyMeter: @unchecked Sendable {
    // @unchecked Sendable: every field is only touched while `lock` is held.
    private let lock = NSLock()
    private var running = 0
    private(set) var peak = 0
    private(set) var started: [Int] = []
    private(set) var finished: [Int] = []

    func begin(_ id: Int) {
        lock.withLock {
            running += 1
            peak = max(peak, running)
            started.append(id)
        }
    }

    func end(_ id: Int) {
        lock.withLock {
            running -= 1
            finished.append(id)
        }
    }

    var snapshot: (started: [Int], finished: [Int], peak: Int) {
        lock.withLock { (started, finished, peak) }
    }
}

@Suite(.timeLimit(.minutes(10))) struct EncoderPoolTests {
    @Test func runsWorkerCountJobsAtOnceAndReturnsEveryResult() async throws {
        let pool = try EncoderPool(models: try EngineTestSupport.defaultModels.get(), workers: 2)
        #expect(pool.workerCount == 2)
        let meter = ConcurrencyMeter()
        let jobs = 8
        let results = await withTaskGroup(of: (Int, Int?).self) { group in
            for id in 0..<jobs {
                group.addTask {
                    let value = await pool.perform { _ in
                        meter.begin(id)
                        // Each job holds its worker until two jobs have run at once (an event, with
                        // a deadline), so the peak counted below does not depend on timing.
                        _ = eventuallyBlocking(timeout: .seconds(10), interval: .milliseconds(1)) {
                            meter.snapshot.peak >= 2
                        }
                        meter.end(id)
                        return id * 10
                    }
                    return (id, value)
                }
            }
            var collected: [Int: Int?] = [:]
            for await (id, value) in group { collected[id] = value }
            return collected
        }
        #expect(results.count == jobs)
        for id in 0..<jobs { #expect(results[id] == .some(id * 10)) }
        let snapshot = meter.snapshot
        #expect(snapshot.peak == 2, "at most and at least 2 jobs ran at once (\(snapshot.peak))")
        #expect(Set(snapshot.finished) == Set(0..<jobs))
        pool.shutdown()
    }

    @Test func concurrentEncodesMatchASingleEngine() async throws {
        let models = try EngineTestSupport.defaultModels.get()
        let astronaut = try EngineTestSupport.testImage("astronaut.png")
        let twoFaces = try EngineTestSupport.testImage("two_faces.png")
        let blank = TinyPNG.make(width: 64, height: 48) { _, _ in (200, 200, 200) }
        let inputs: [[UInt8]] = [astronaut, twoFaces, blank, Array("nope".utf8), astronaut, twoFaces]

        let single = try FaceEngine(models: models)
        let expected = inputs.map { single.encode(bytes: $0, limits: ImageLimits()).map(\.faces) }

        let pool = try EncoderPool(models: models, workers: 3)
        let results = await withTaskGroup(of: (Int, Result<EncodedImage, Failure>).self) { group in
            for (index, bytes) in inputs.enumerated() {
                group.addTask { (index, await pool.encode(bytes: bytes)) }
            }
            var collected: [Int: Result<EncodedImage, Failure>] = [:]
            for await (index, result) in group { collected[index] = result }
            return collected
        }
        #expect(results.count == inputs.count)
        for index in inputs.indices {
            let faces = try #require(results[index]).map(\.faces)
            #expect(faces == expected[index], "input \(index)")
        }
        #expect((try? expected[1].get().count) == 2)
        pool.shutdown()
    }

    @Test func shutdownWaitsForRunningJobsAndDropsQueuedOnes() async throws {
        let pool = try EncoderPool(models: try EngineTestSupport.defaultModels.get(), workers: 1)
        let meter = ConcurrencyMeter()
        // The running job holds its worker until released, so the second job must wait in the queue
        // however slowly this machine schedules the test.
        let release = DispatchSemaphore(value: 0)
        let running = Task {
            await pool.perform { _ in
                meter.begin(1)
                release.wait()
                meter.end(1)
                return 1
            }
        }
        #expect(await eventually(timeout: .seconds(60)) { !meter.snapshot.started.isEmpty })
        let queued = Task {
            await pool.perform { _ in
                meter.begin(2)
                meter.end(2)
                return 2
            }
        }
        // Not synchronisation: the outcome is the same whether the second job is still on its way
        // (refused by the stopped pool) or already queued (dropped by shutdown); the pause only makes
        // the queued case, the one worth covering, the likely one.
        try await Task.sleep(for: .milliseconds(100))

        // shutdown() blocks, so it runs on its own thread. It drops the queued job first (the
        // second job gets nil), then waits for the running one: release that only once the drop
        // was seen, and note what had finished when shutdown returned.
        let returned = DispatchSemaphore(value: 0)
        let finishedAtReturn = Mutex<[Int]?>(nil)
        Thread.detachNewThread {
            pool.shutdown()
            finishedAtReturn.withLock { $0 = meter.snapshot.finished }
            returned.signal()
        }
        #expect(await queued.value == nil)
        #expect(finishedAtReturn.withLock { $0 } == nil, "shutdown returned while a job was running")
        release.signal()
        #expect(returned.wait(timeout: .now() + 60) == .success)
        #expect(finishedAtReturn.withLock { $0 } == [1], "shutdown returned before the running job finished")
        #expect(await running.value == 1)
        #expect(meter.snapshot.started == [1])
        #expect(await pool.perform { _ in 3 } == nil)
        let refused = await pool.encode(bytes: [1, 2, 3])
        #expect(refused.map { _ in 0 } == .failure(EncoderPool.stoppedFailure))
    }
}
