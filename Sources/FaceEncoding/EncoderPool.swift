import FaceCore
import FaceImage
import Foundation

/// N face engines on Dispatch, one per worker; jobs beyond N wait in a FIFO queue.
///
/// Idle workers lend their core: the pool keeps their number in a `DetectionHelpers` budget its
/// engines borrow from, so one image on an otherwise idle pool is detected by several threads, and a
/// full queue (no idle worker) runs one thread per image, as before.
///
/// Each worker is a serial `DispatchQueue` that owns its `FaceEngine` (engines are not thread-safe).
/// A job is given to an idle worker at once or queued; when a worker finishes it takes the oldest
/// queued job. No thread ever blocks waiting for a job, and the async API suspends its caller
/// (a continuation) instead of blocking it.
public final class EncoderPool: Sendable {
    /// The failure a job gets when `shutdown()` came before the job started. It says nothing about the
    /// image: callers must not record it as the image's result (compare with `==`).
    public static let stoppedFailure = Failure(.ioError, "not encoded: the encoder pool was shut down")

    /// The models every engine was made from.
    public let models: FaceModels
    /// The limits `encode(fileAt:)` and `encode(bytes:)` use when none are given.
    public let limits: ImageLimits

    private let workers: [Worker]
    private let scheduler: Scheduler

    /// The number of engines, each on its own serial queue.
    public var workerCount: Int { workers.count }

    /// Creates `workers` engines (default: the number of active processor cores). A detection may
    /// borrow the cores of idle workers; `cores` (default and minimum: `workers`) is how many cores the
    /// pool may use in all, so a pool made with fewer engines than cores (one file to encode needs one
    /// engine) still lends the other cores to that file's detection.
    public init(
        models: FaceModels,
        workers: Int = ProcessInfo.processInfo.activeProcessorCount,
        limits: ImageLimits = ImageLimits(),
        cores: Int? = nil
    ) throws(ModelError) {
        _ = blasLimitedToOneThread
        let count = max(1, workers)
        // Every worker starts idle, and the cores beyond the engines are spare from the start. Without
        // a budget (memory ran out) engines use one thread each.
        let helpers = DetectionHelpers(available: max(count, cores ?? count))
        var made: [Worker] = []
        made.reserveCapacity(count)
        for index in 0..<count {
            let engine = try FaceEngine(models: models)
            engine.detectionHelpers = helpers
            made.append(Worker(index: index, engine: engine))
        }
        self.models = models
        self.limits = limits
        self.workers = made
        self.scheduler = Scheduler(idle: Array(made.indices), helpers: helpers)
    }

    /// Reads, decodes and encodes the file at `path` on a worker (see `FaceEngine.encode(fileAt:limits:)`).
    public func encode(fileAt path: String, limits: ImageLimits? = nil) async -> Result<EncodedImage, Failure> {
        let limits = limits ?? self.limits
        return await perform { engine in engine.encode(fileAt: path, limits: limits) } ?? .failure(Self.stoppedFailure)
    }

    /// Decodes and encodes `bytes` on a worker (see `FaceEngine.encode(bytes:limits:)`).
    public func encode(bytes: [UInt8], limits: ImageLimits? = nil) async -> Result<EncodedImage, Failure> {
        let limits = limits ?? self.limits
        return await perform { engine in engine.encode(bytes: bytes, limits: limits) } ?? .failure(Self.stoppedFailure)
    }

    /// Runs `body` with a worker's engine, on that worker's queue, when a worker is free (jobs start in
    /// the order they were submitted). Returns nil without running `body` if the pool was shut down
    /// before the job started. `body` may also do the job's other blocking work (reading, hashing),
    /// which then runs in parallel on the workers and not on Swift's cooperative threads.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (FaceEngine) -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            submit(
                Job(
                    run: { engine in continuation.resume(returning: body(engine)) },
                    cancel: { continuation.resume(returning: nil) }))
        }
    }

    /// Stops the pool: jobs that have not started get `nil` from `perform` (`stoppedFailure` from
    /// `encode`), later jobs too; waits (blocking the calling thread) until running jobs finish.
    public func shutdown() {
        let dropped = scheduler.stop()
        for job in dropped { job.cancel() }
        scheduler.running.wait()
    }

    private func submit(_ job: Job) {
        switch scheduler.enqueue(job) {
        case .start(let index): start(job, on: workers[index])
        case .queued: break
        case .rejected: job.cancel()
        }
    }

    private func start(_ job: Job, on worker: Worker) {
        worker.queue.async { [self] in
            var next: Job? = job
            // Take queued jobs on this same worker until none is left, then become idle.
            while let current = next {
                current.run(worker.engine)
                scheduler.running.leave()
                next = scheduler.finished(worker: worker.index)
            }
        }
    }
}

/// A unit of work: `run` on a worker, or `cancel` when the pool stops first. Exactly one of them is
/// called, exactly once.
private struct Job: Sendable {
    let run: @Sendable (FaceEngine) -> Void
    let cancel: @Sendable () -> Void
}

/// One worker: a serial queue and the engine only that queue touches.
private final class Worker: @unchecked Sendable {
    // @unchecked Sendable: `engine` is not Sendable, but it is only used inside blocks running on
    // `queue`, which is serial, so at most one thread uses it at a time.
    let index: Int
    let queue: DispatchQueue
    let engine: FaceEngine

    init(index: Int, engine: FaceEngine) {
        self.index = index
        self.engine = engine
        self.queue = DispatchQueue(label: "facewatch.encoder.\(index)", qos: .userInitiated)
    }
}

/// Which workers are idle and which jobs wait, under one lock.
private final class Scheduler: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is read and written only while `lock` is held.
    enum Decision {
        case start(Int)
        case queued
        case rejected
    }

    /// Entered when a job is handed to a worker (started or queued), left when it has run.
    let running = DispatchGroup()

    private let lock = NSLock()
    private var idle: [Int]
    private var waiting: [Job] = []
    private var head = 0
    private var stopped = false
    /// Follows `idle.count`: the threads a running detection may borrow.
    private let helpers: DetectionHelpers?

    init(idle: [Int], helpers: DetectionHelpers?) {
        self.idle = idle.reversed()  // popLast hands out worker 0 first
        self.helpers = helpers
    }

    func enqueue(_ job: Job) -> Decision {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return .rejected }
        if let index = idle.popLast() {
            helpers?.add(-1)
            running.enter()
            return .start(index)
        }
        waiting.append(job)
        return .queued
    }

    /// Called by a worker after a job: the next queued job for it (already counted as running), or nil
    /// when it becomes idle.
    func finished(worker index: Int) -> Job? {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped, head < waiting.count else {
            idle.append(index)
            helpers?.add(1)
            return nil
        }
        let job = waiting[head]
        head += 1
        if head > 1024, head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        running.enter()
        return job
    }

    /// Refuses new jobs and returns the queued ones, which will not run.
    func stop() -> [Job] {
        lock.lock()
        defer { lock.unlock() }
        stopped = true
        let dropped = Array(waiting[head...])
        waiting.removeAll()
        head = 0
        return dropped
    }
}
