import FaceCore
import FaceLedger
import FaceRoot
import Foundation

/// `facewatch people --rebuild`: every stored face grouped again in one pass, and every document
/// whose faces' `person` differs from that grouping written again.
public enum PeopleRebuild {
    /// What a rebuild did.
    public struct Report: Sendable, Equatable {
        public var faces = 0
        public var people = 0
        /// Documents of results with faces, checked.
        public var checked = 0
        /// Documents written again (their `person`s differed, or they were missing).
        public var rewritten = 0
    }

    /// Rebuilds the people of `configuration`'s root. The daemon must not be running on this root: it
    /// keeps its own grouping and writes the same documents (it brings them in line with the ledger's
    /// faces at each start anyway).
    ///
    /// - Throws: `RebuildRefused` when the daemon runs on the root, `LedgerError` when
    ///   the ledger cannot be opened or read, `FileSystemError` when a document cannot be written.
    public static func run(_ configuration: DaemonConfiguration) throws -> Report {
        if let pid = RootLock.holder(root: configuration.root) {
            throw RebuildRefused(
                message:
                    "facewatch serve (pid \(pid)) runs on \(configuration.root): it brings its people in line with the stored faces when it starts (restart it), or stop it first"
            )
        }
        let ledger = try LedgerOpener.open(configuration)
        let people = try StoredPeople.rebuilt(from: ledger, filter: PeopleFilter(configuration))
        var report = Report(faces: people.grouping.count, people: people.grouping.peopleCount)
        let tracker = PeopleTracker(people)
        let results = ResultsWriter(
            directory: configuration.results, format: configuration.resultFormat,
            labeller: ResultLabeller(ledger: ledger, defaultTolerance: configuration.tolerance), tombstones: ledger,
            people: tracker)
        for id in people.recordKeys.keys.sorted(by: { $0.uuidString < $1.uuidString }) {
            guard let record = try ledger.record(id) else { continue }
            report.checked += 1
            guard !results.isCurrent(record) else { continue }
            try results.write(record)
            report.rewritten += 1
        }
        return report
    }

    /// The daemon runs on the root.
    public struct RebuildRefused: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
