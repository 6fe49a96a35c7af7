import FaceEncoding
import FaceRoot
import Foundation
import Logging

// SIGHUP or `requestReload()`: the config file read again and applied to the running daemon.

extension PipelineSettings {
    /// The pipeline's settings in `configuration`.
    init(_ configuration: DaemonConfiguration) {
        self.init(
            maxInFlight: configuration.effectiveInFlight, dedup: configuration.dedup, limits: configuration.limits,
            memoryBudget: configuration.effectiveMemoryBudget, upsample: configuration.encoder.upsample,
            detector: configuration.encoder.detector, keepLandmarks: configuration.resultLandmarks)
    }
}

extension Daemon {
    /// Re-reads the config file and applies every reloadable setting; logs the others as needing a
    /// restart. An invalid file is logged and the running configuration kept.
    func reload(_ parts: Parts) async {
        hooks.reloading()
        let old = configuration
        let new: DaemonConfiguration
        do {
            new = try DaemonConfiguration.resolve(configFile: source.configFile, flags: source.flags)
        } catch {
            logger.error("reload failed, keeping the running configuration: \(error)")
            hooks.reloaded(.failure(error))
            return
        }
        // Every reloadable setting but the worker count applies at once; a new worker count
        // needs a new encoder pool, which may fail to start.
        var applied = old
        for setting in Setting.all where setting.reloadable && setting.key != "workers" {
            setting.transfer(new, &applied)
        }
        output.level = applied.logLevel
        if new.effectiveWorkers == old.effectiveWorkers {
            applied.workers = new.workers
        } else if await resizePool(parts, to: new.effectiveWorkers) {
            applied.workers = new.workers
        }
        parts.pipeline.update(PipelineSettings(applied))
        state.withLock { $0.configuration = applied }
        // stats.json and what follows it (metrics) show the new settings at the next tick.
        parts.stats.markDirty()
        let changed = Setting.all.filter { $0.describe(old) != $0.describe(new) }
        let needRestart = changed.filter { !$0.reloadable }.map(\.key)
        logger.notice("reloaded", metadata: ["changed": "\(changed.map(\.key).joined(separator: ","))"])
        if !needRestart.isEmpty {
            logger.warning("these settings take effect at the next start: \(needRestart.joined(separator: ", "))")
        }
        hooks.reloaded(.success(applied))
    }

    /// Starts a pool of `count` workers and sends every later job to it; the previous pool finishes
    /// the files it has, then stops (in the background). False, with the old pool still in use, when
    /// the new engines cannot be made.
    private func resizePool(_ parts: Parts, to count: Int) async -> Bool {
        let pipeline = parts.pipeline
        let current = await pipeline.encoderPool
        let models = current.models
        let made = await BlockingIO.runCatching { () throws(ModelError) in
            try EncoderPool(models: models, workers: count, limits: current.limits)
        }
        let pool: EncoderPool
        switch made {
        case .success(let made):
            pool = made
        case .failure(let error):
            logger.error("cannot start \(count) encoder workers, keeping \(current.workerCount): \(error)")
            return false
        }
        let previous = await pipeline.usePool(pool)
        logger.notice(
            "encoder workers changed", metadata: ["from": "\(previous.workerCount)", "to": "\(pool.workerCount)"]
        )
        let logger = self.logger
        let retirement = Task {
            await pipeline.waitForJobs(on: previous)
            await BlockingIO.run { previous.shutdown() }
            logger.info(
                "previous encoder workers finished their files and stopped",
                metadata: ["workers": "\(previous.workerCount)"]
            )
        }
        state.withLock { $0.retiring.append(retirement) }
        return true
    }
}
