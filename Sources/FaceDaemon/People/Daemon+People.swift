import FaceLedger
import FaceRoot

extension Daemon {
    /// The known-people service of a starting daemon: it uses the results writer's labeller, so the
    /// relabel and every other document write share the per-result locks.
    func peopleService(_ parts: Parts, _ configuration: DaemonConfiguration) -> PeopleService {
        PeopleService(
            ledger: parts.ledger,
            labeller: parts.results.labeller
                ?? ResultLabeller(ledger: parts.ledger, defaultTolerance: configuration.tolerance),
            results: parts.results, watch: parts.watch, root: configuration.root, pipeline: parts.pipeline,
            known: configuration.known,
            tolerance: configuration.tolerance, limits: configuration.limits,
            settle: .milliseconds(configuration.settleMilliseconds), logger: logger)
    }
}
