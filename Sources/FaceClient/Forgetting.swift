import FaceCore
import FaceRoot
import FaceLedger
import Foundation

/// `facewatch forget` and `facewatch ledger compact`: the writing side of forgetting, run by whoever
/// may write the ledger (the service user, or root).
///
/// Both take `MaintenanceLock` on an LMDB ledger: forgets share it (several may run, beside a
/// daemon: LMDB's writer lock orders their transactions), a compaction holds it alone, so no forget
/// writes into the `data.mdb` a compaction is replacing.
public enum Forgetting {
    /// Forgets what `selection` names (after removing the files of earlier forgets cut short).
    /// `store`: this root's id, so that with a shared ledger only this host's store's files are
    /// removed here (the other hosts' daemons remove theirs).
    ///
    /// - Throws: `ClientError` when the ledger cannot be opened for writing, read or written.
    public static func forget(
        _ configuration: DaemonConfiguration, _ selection: ForgetSelection, reason: String, dryRun: Bool = false,
        documents: Forgetter.DocumentWriter? = nil, store: String? = nil
    ) throws(ClientError) -> (selected: [UUID], report: Forgetter.Report) {
        let lock = try configuration.ledgerIsShared ? nil : MaintenanceLock(client: configuration, exclusive: false)
        defer { lock?.release() }
        let ledger = try openWritable(configuration, store: store)
        let forgetter = Forgetter(configuration: configuration, ledger: ledger, documents: documents)
        do {
            let selected = try selection.resolve(in: ledger)
            if dryRun { return (selected, Forgetter.Report()) }
            try forgetter.sweep()
            return (selected, try forgetter.forget(selected, reason: reason))
        } catch {
            throw ClientError("cannot forget: \(error)")
        }
    }

    /// Forgets the faces of each of `people` (known people's names) in the results whose labels name
    /// them, keeping the photos and their other faces (`Forgetter.forgetFaces`), after finishing what
    /// earlier forgets left pending. `documents` rewrites a result's document.
    ///
    /// - Throws: `ClientError` when the ledger cannot be opened for writing, read or written.
    public static func forgetFaces(
        _ configuration: DaemonConfiguration, of people: [String], reason: String, dryRun: Bool = false,
        documents: @escaping Forgetter.DocumentWriter, store: String? = nil
    ) throws(ClientError) -> (selected: [UUID], report: Forgetter.FacesReport) {
        let lock = try configuration.ledgerIsShared ? nil : MaintenanceLock(client: configuration, exclusive: false)
        defer { lock?.release() }
        let ledger = try openWritable(configuration, store: store)
        let forgetter = Forgetter(configuration: configuration, ledger: ledger, documents: documents)
        do {
            var selected: [UUID] = []
            var report = Forgetter.FacesReport()
            if !dryRun { try forgetter.sweep() }
            for person in people {
                let ids = try ForgetSelection(people: [person]).resolve(in: ledger)
                selected += ids
                if dryRun { continue }
                let done = try forgetter.forgetFaces(ids, of: person, reason: reason)
                report.changed += done.changed
                report.untouched += done.untouched
                report.unknown += done.unknown
                report.fileErrors += done.fileErrors
            }
            return (selected, report)
        } catch {
            throw ClientError("cannot forget: \(error)")
        }
    }

    /// Compacts the root's ledger (`LedgerCompactor`) after finishing the file removals and document
    /// rewrites of earlier forgets. LMDB: refused while a daemon holds the root or a forget runs.
    ///
    /// - Throws: `ClientError` when the root is busy or the compaction fails.
    public static func compact(
        _ configuration: DaemonConfiguration, documents: Forgetter.DocumentWriter? = nil, store: String? = nil
    ) throws(ClientError) -> LedgerCompactor.Outcome {
        if configuration.ledgerIsShared {
            let ledger = try openWritable(configuration, store: store)
            do {
                try Forgetter(configuration: configuration, ledger: ledger, documents: documents).sweep()
                let generation = try ledger.forgetGenerations().forgotten
                try LedgerCompactor.vacuum(ledger)
                try ledger.markCompacted(through: generation)
            } catch {
                throw ClientError("cannot compact the ledger at \(configuration.ledgerLocation): \(error)")
            }
            return LedgerCompactor.Outcome()
        }
        let rootLock: RootLock
        do {
            rootLock = try RootLock(root: configuration.root)
        } catch {
            throw ClientError(
                "cannot compact while a daemon runs on \(configuration.root): the daemon compacts the ledger itself after forgets (compact_every, and at its start); or stop it first (\(error))"
            )
        }
        defer { rootLock.release() }
        let lock = try MaintenanceLock(client: configuration, exclusive: true)
        defer { lock.release() }
        // The ledger is opened (and closed) before the copy: one environment per process.
        let before: LedgerStats
        let generation: UInt64
        do {
            let ledger = try openWritable(configuration, store: store)
            try Forgetter(configuration: configuration, ledger: ledger, documents: documents).sweep()
            before = try ledger.stats()
            generation = try ledger.forgetGenerations().forgotten
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError("cannot compact the ledger at \(configuration.ledgerLocation): \(error)")
        }
        do {
            let outcome = try LedgerCompactor.compactLMDB(configuration)
            let after = try LedgerOpener.open(configuration, readOnly: true).stats()
            guard after == before else {
                throw ClientError("the compacted ledger's counters differ from the original's: \(before) / \(after)")
            }
            try LedgerOpener.open(configuration).markCompacted(through: generation)
            return outcome
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError("cannot compact the ledger at \(configuration.ledgerLocation): \(error)")
        }
    }

    /// The root's ledger for writing; `store` (the root's id, `DirectoryIdentity.storeID`) lets a
    /// shared ledger tell this host's store's forgotten files from other hosts'.
    private static func openWritable(_ configuration: DaemonConfiguration, store: String?) throws(ClientError)
        -> any Ledger
    {
        do {
            return try LedgerOpener.open(configuration, storeIdentity: store)
        } catch {
            throw ClientError(
                "cannot open the ledger at \(configuration.ledgerLocation) for writing (run as the service user or root): \(error)"
            )
        }
    }
}

extension MaintenanceLock {
    /// `MaintenanceLock(configuration, exclusive:)`, its failure told as a `ClientError`.
    convenience init(client configuration: DaemonConfiguration, exclusive: Bool) throws(ClientError) {
        do {
            try self.init(configuration, exclusive: exclusive)
        } catch {
            switch error {
            case .cannotOpen(let text): throw ClientError("\(text) (run as the service user or root)")
            case .busy(let path):
                throw ClientError(
                    exclusive
                        ? "a forget is running on this ledger (\(path)); try again when it is done"
                        : "the ledger is being compacted (\(path)); try again when it is done")
            }
        }
    }
}

extension Queries {
    /// The tombstone of a forgotten image, or nil.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public func tombstone(_ id: UUID) throws(ClientError) -> Tombstone? {
        do {
            return try ledger.tombstone(id)
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }
}
