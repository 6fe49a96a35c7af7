import FaceRoot
import ServiceLifecycle

// The parts of a running daemon as services of its `ServiceGroup` (see `Daemon`). The group starts
// them together and, at a graceful shutdown, tells them one at a time in the reverse order of
// `Daemon.run`'s list, waiting for each to return before telling the next: hence the stop order
// ingest, pipeline, stats.

/// The inbox feeding the ledger: says `ready` when it runs, and at shutdown stops the inbox and
/// returns once the batch being ingested is committed.
struct IngestService: Service {
    let daemon: Daemon
    let parts: Daemon.Parts
    let feed: InboxFeed

    func run() async {
        let (hooks, feed) = (daemon.hooks, self.feed)
        // Before the handler: a stop already requested runs it at once, and READY=1 must not
        // follow STOPPING=1.
        await daemon.announceReady(parts)
        await withGracefulShutdownHandler {
            await daemon.ingestLoop(feed, parts)
        } onGracefulShutdown: {
            hooks.stopping()
            feed.stop()
            hooks.shutdownStep(.inboxStopped)
        }
        hooks.shutdownStep(.ingestFinished)
    }
}

/// The encoding pipeline: runs until the shutdown, then stops taking records and waits up to the
/// shutdown timeout for the files being encoded (`Daemon.drain`).
struct PipelineService: Service {
    let daemon: Daemon
    let parts: Daemon.Parts

    func run() async {
        let pipeline = parts.pipeline
        // Not a child of this task: when the drain's deadline passes, the files still encoding are
        // left to finish (or to be taken again at the next start) while the stop goes on.
        let running = Task { await pipeline.run() }
        // Throws only when the group cancels instead of shutting down: stop all the same.
        try? await gracefulShutdown()
        await pipeline.stop()
        let left = await daemon.drain(pipeline)
        if left == 0 { await running.value }
        daemon.hooks.shutdownStep(.pipelineDrained(stillEncoding: left))
    }
}

/// `stats.json` once a second while something changed, and the last one, from the committed
/// counters, once the pipeline has drained.
struct StatsService: Service {
    let daemon: Daemon
    let parts: Daemon.Parts

    func run() async {
        let stats = parts.stats
        await cancelWhenGracefulShutdown { await stats.run() }
        let owed = await parts.pipeline.owedDocumentCount
        await BlockingIO.run {
            _ = stats.flush(force: true)
            // The run ended gracefully: the files still encoding (drain timeout) are charged nothing.
            daemon.endRun(parts, documentsOwed: owed)
        }
        daemon.hooks.shutdownStep(.statsFlushed)
    }
}
