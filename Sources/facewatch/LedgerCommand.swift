import ArgumentParser
import FaceClient
import FaceDaemon
import FaceRoot
import Foundation

/// `facewatch ledger export|import`: moves a root's ledger between backends.
struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Move a root's ledger to another ledger (LMDB or PostgreSQL) and back, or compact it.",
        discussion: """
            Every record is copied as it is (queued ones stay queued), with the known people and the \
            labels; then the copy is checked against the source: counts, faces, encoding sums and every \
            record. The target must be empty; until the check passes it is marked unfinished (no daemon \
            starts on it), and running the same command again resumes an interrupted copy. Stop every \
            daemon of the root first. Not copied: a \
            daemon's live state (runs, attempts in progress, deaths charged, intake intents).

            Keep a PostgreSQL password off the command line (where `ps` shows it): leave the URL \
            out and set $\(LedgerCommand.urlVariable), or give the URL without its password and put \
            the password in PGPASSWORD, ~/.pgpass or the file of the URL's passfile= parameter.
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

    @Argument(help: "The target: an LMDB directory or a postgres:// URL (default: $FACEWATCH_LEDGER_URL).")
    var target: String?

    func run() throws {
        let configuration = try rootOptions.configuration()
        let target = try LedgerCommand.location(target)
        do {
            let report = try LedgerTransfer.export(configuration, to: target)
            print(LedgerCommand.summary(report, to: LedgerCommand.shown(target)))
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

    @Argument(help: "The source: an LMDB directory or a postgres:// URL (default: $FACEWATCH_LEDGER_URL).")
    var source: String?

    func run() throws {
        let configuration = try rootOptions.configuration()
        let source = try LedgerCommand.location(source)
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
            table (a cache) is removed. Stop the daemon first: compact refuses while it holds the root; a \
            running daemon compacts its ledger by itself after forgets (compact_every, and at its start). \
            PostgreSQL: VACUUM (FULL, ANALYZE) of every ledger table (the role must own them); see \
            docs/forget.md for what that does and does not reach (WAL, backups, replicas).
            """
    )

    @OptionGroup var rootOptions: RootOptions

    func run() throws {
        let configuration = try rootOptions.configuration()
        do {
            let outcome = try Forgetting.compact(
                configuration, documents: ResultsWriter.documentWriter(for: configuration),
                store: DirectoryIdentity.storeID(of: configuration))
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
    /// The environment variable that names the other ledger when the command line does not.
    static let urlVariable = "FACEWATCH_LEDGER_URL"

    /// The other ledger: `given`, else `$FACEWATCH_LEDGER_URL`. A password written in a URL on the
    /// command line is warned about (every user can read a command line).
    static func location(_ given: String?) throws -> String {
        if let given {
            if LedgerOpener.holdsPassword(given) {
                printError(
                    "facewatch: warning: the password in this URL is visible to every user (ps); use \(urlVariable), PGPASSWORD or ~/.pgpass"
                )
            }
            return given
        }
        guard let value = ProcessInfo.processInfo.environment[urlVariable], !value.isEmpty else {
            printError("facewatch: name the other ledger: an argument, or \(urlVariable)")
            throw ExitCode(2)
        }
        return value
    }

    /// `location` as messages show it: a URL without its password.
    static func shown(_ location: String) -> String {
        LedgerOpener.shown(location)
    }

    static func summary(_ report: LedgerTransfer.Report, to target: String) -> String {
        "copied \(report.records) records (\(report.queued) queued), \(report.knownPictures) known pictures and "
            + "the labels of \(report.labels) results, \(report.tombstones) forgotten images' tombstones to \(target); checked: counts, faces, people and every record "
            + "equal, encoding sums within \(report.sumDifference) (relative)"
    }
}
