import ArgumentParser
import FaceClient
import FaceDaemon

/// `facewatch ledger export|import`: moves a root's ledger between backends.
struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Move a root's ledger to another ledger (LMDB or PostgreSQL) and back, or compact it.",
        discussion: """
            Every record is copied as it is (queued ones stay queued), with the known people and the \
            labels; then the copy is checked against the source: counts, faces, encoding sums and every \
            record. The target must be empty. Stop every daemon of the root first. Not copied: a \
            daemon's live state (runs, attempts in progress, deaths charged, intake intents).
            """,
        subcommands: [LedgerExportCommand.self, LedgerImportCommand.self, LedgerCompactCommand.self]
    )
}

/// `facewatch ledger export TARGET`.
struct LedgerExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Copy the root's ledger into the empty ledger TARGET, then check the copy."
    )

    @OptionGroup var rootOptions: RootOptions

    @Argument(help: "The target: an LMDB directory or a postgres:// URL.")
    var target: String

    func run() throws {
        let configuration = try rootOptions.configuration()
        do {
            let report = try LedgerTransfer.export(configuration, to: target)
            print(LedgerCommand.summary(report, to: target))
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `facewatch ledger import SOURCE`.
struct LedgerImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Copy the ledger SOURCE into the root's empty ledger, then check the copy."
    )

    @OptionGroup var rootOptions: RootOptions

    @Argument(help: "The source: an LMDB directory or a postgres:// URL.")
    var source: String

    func run() throws {
        let configuration = try rootOptions.configuration()
        do {
            let report = try LedgerTransfer.import(configuration, from: source)
            print(LedgerCommand.summary(report, to: "the root's ledger"))
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `facewatch ledger compact`.
struct LedgerCompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Rewrite the root's ledger so that no forgotten image's bytes remain in its files.",
        discussion: """
            LMDB: the live pages are copied into a new data.mdb that replaces the old one (rename); the face \
            table (a cache) is removed. Stop the daemon first: compact refuses while it holds the root. \
            PostgreSQL: VACUUM (FULL, ANALYZE) of every ledger table (the role must own them); see \
            docs/forget.md for what that does and does not reach (WAL, backups, replicas).
            """
    )

    @OptionGroup var rootOptions: RootOptions

    func run() throws {
        let configuration = try rootOptions.configuration()
        do {
            let outcome = try Forgetting.compact(configuration)
            if let before = outcome.bytesBefore, let after = outcome.bytesAfter {
                print("compacted \(configuration.database)/data.mdb: \(before) -> \(after) bytes")
            } else {
                print("vacuumed every table of \(configuration.ledgerLocation) (VACUUM FULL)")
            }
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}

extension LedgerCommand {
    static func summary(_ report: LedgerTransfer.Report, to target: String) -> String {
        "copied \(report.records) records (\(report.queued) queued), \(report.knownPictures) known pictures and "
            + "the labels of \(report.labels) results to \(target); checked: counts, faces, people and every record "
            + "equal, encoding sums within \(report.sumDifference) (relative)"
    }
}
