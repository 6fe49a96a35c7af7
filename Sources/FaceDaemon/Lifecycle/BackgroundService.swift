import FaceRoot
import Foundation
import ServiceLifecycle
import Synchronization

/// Work beside the daemon's parts that the daemon does not depend on: checking the result documents
/// after a start, the ledger's upkeep, retention and compaction, the HTML report. Each runs as a service of the
/// daemon's group, listed after `IngestService`, so a graceful shutdown tells it first: it is
/// cancelled and the group waits for its current step (one retention pass, one compaction, one
/// report, one record of the documents check) before it stops the inbox. Ending early (a check that is done, a setting
/// that is off) does not stop the daemon.
struct BackgroundService: Service {
    /// The name the group's log uses.
    let name: String
    let work: @Sendable () async -> Void

    func run() async {
        await cancelWhenGracefulShutdown { await work() }
    }
}

extension Daemon {
    /// The background services of a daemon with `parts` and `configuration`.
    func backgroundServices(_ parts: Parts, _ configuration: DaemonConfiguration) -> [any Service] {
        var services = [
            BackgroundService(name: "DocumentsCheck") { await self.documentsCheck(parts) },
            BackgroundService(name: "Maintenance") { await Maintenance.run(ledger: parts.ledger, logger: self.logger) },
            BackgroundService(name: "PeopleRelabel") {
                await PeopleRelabel(
                    tracker: parts.people, ledger: parts.ledger, results: parts.results, watch: parts.watch,
                    logger: self.logger, faceLogStart: parts.faceLogStart, root: configuration.root,
                    checkDocumentsAtStart: parts.documentsWereComplete
                ).run()
            },
        ]
        services += forgetServices(parts.ledger, configuration)
        if let directory = configuration.report {
            services.append(
                BackgroundService(name: "ReportRefresher") {
                    await ReportRefresher.run(
                        directory: directory, configuration: configuration, ledger: parts.ledger, meter: parts.meter,
                        people: parts.people, logger: self.logger)
                })
        }
        return services
    }

    /// After READY (reading every document must not delay it) and while the results directory is
    /// there (not into an empty mount point), the documents check (`checkDocuments`); it stops at
    /// the next record when the task is cancelled.
    private func documentsCheck(_ parts: Parts) async {
        await waitUntilReady()
        await parts.watch.waitUntilWorking()
        guard !Task.isCancelled else { return }
        let cancelled = CancellationFlag()
        await withTaskCancellationHandler {
            await checkDocuments(parts) { cancelled.isRaised }
        } onCancel: {
            cancelled.raise()
        }
    }
}

/// A task's cancellation, readable from the Dispatch thread its blocking work runs on (where
/// `Task.isCancelled` knows no task).
private final class CancellationFlag: Sendable {
    private let raised = Atomic(false)

    var isRaised: Bool { raised.load(ordering: .relaxed) }

    func raise() { raised.store(true, ordering: .relaxed) }
}
