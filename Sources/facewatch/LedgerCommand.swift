import ArgumentParser
import FaceClient

/// `facewatch ledger export|import`: moves a root's ledger between backends.
struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Move a root's ledger to another ledger (LMDB or PostgreSQL) and back.",
        discussion: """
            Every record is copied as it is (queued ones stay queued), with the known people and the \
            labels; then the copy is checked against the source: counts, faces, encoding sums and every \
            record. The target must be empty. Stop every daemon of the root first. Not copied: a \
            daemon's live state (runs, attempts in progress, deaths charged, intake intents).
            """,
        subcommands: [LedgerExportCommand.self, LedgerImportCommand.self]
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

extension LedgerCommand {
    static func summary(_ report: LedgerTransfer.Report, to target: String) -> String {
        "copied \(report.records) records (\(report.queued) queued), \(report.knownPictures) known pictures and "
            + "the labels of \(report.labels) results to \(target); checked: counts, faces, people and every record "
            + "equal, encoding sums within \(report.sumDifference) (relative)"
    }
}
