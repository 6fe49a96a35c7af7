#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import ServiceLifecycle
import UnixSignals

/// The daemon's controls, first in its service group so that they stop last: stop and reload
/// requests from `Daemon.requestStop()` and `requestReload()`, and, when the daemon handles signals,
/// SIGTERM and SIGINT (stop) and SIGHUP (reload) from a `UnixSignalsSequence`.
///
/// The first stop begins the group's graceful shutdown; a second SIGTERM or SIGINT while it runs
/// exits at once (status 1): the operator does not want to wait. Everything committed is safe, and
/// files being encoded are taken again at the next start. Reloads run one at a time, in order, and
/// are ignored once a stop began.
struct ControlService: Service {
    /// What `Daemon.requestStop()` and `requestReload()` ask for.
    enum Request: Sendable {
        case stop(String)
        case reload
    }

    let daemon: Daemon
    let parts: Daemon.Parts
    let requests: AsyncStream<Request>
    /// Trapped by `Daemon.run` before the start, or nil when the daemon leaves signals alone.
    let signals: UnixSignalsSequence?

    func run() async {
        let (merged, merge) = AsyncStream.makeStream(of: Request.self, bufferingPolicy: .unbounded)
        let (daemon, parts, requests, signals) = (self.daemon, self.parts, self.requests, self.signals)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await request in requests { merge.yield(request) }
                }
                if let signals {
                    group.addTask {
                        var stops = 0
                        for await signal in signals {
                            if signal == .sighup {
                                merge.yield(.reload)
                                continue
                            }
                            stops += 1
                            if stops == 1 {
                                merge.yield(.stop(signal.description))
                            } else {
                                daemon.logger.warning("second \(signal): exiting now")
                                // Asked to stop: what is in flight is charged nothing at the next start.
                                daemon.endRun(parts)
                                exit(1)
                            }
                        }
                    }
                }
                var stopping = false
                for await request in merged {
                    switch request {
                    case .stop(let reason):
                        guard !stopping else { continue }
                        stopping = true
                        await daemon.beginStop(reason: reason)
                    case .reload:
                        guard !stopping else {
                            daemon.logger.info("reload ignored: the daemon is stopping")
                            continue
                        }
                        await daemon.reload(parts)
                    }
                }
            }
        }
    }
}
