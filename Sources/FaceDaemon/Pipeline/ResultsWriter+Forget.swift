import FaceLedger
import FaceRoot
import Foundation

extension ResultsWriter {
    /// How a forget run outside the daemon (`facewatch forget --faces-only`, `ledger compact`)
    /// rewrites a result's document: as the daemon writes it, matches included.
    public static func documentWriter(for configuration: DaemonConfiguration) -> Forgetter.DocumentWriter {
        let directory = configuration.results
        let format = configuration.resultFormat
        let tolerance = configuration.tolerance
        return { record, ledger in
            let labeller = ResultLabeller(ledger: ledger, defaultTolerance: tolerance)
            try ResultsWriter(directory: directory, format: format, labeller: labeller, tombstones: ledger).write(
                record)
        }
    }
}
