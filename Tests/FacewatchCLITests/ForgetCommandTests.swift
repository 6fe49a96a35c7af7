import ArgumentParser
import Foundation
import Testing

@testable import facewatch

/// `facewatch forget` and `facewatch ledger compact` as the parser reads them.
@Suite struct ForgetCommandTests {
    func parse(_ arguments: [String]) throws -> ForgetCommand {
        try #require(try Facewatch.parseAsRoot(arguments) as? ForgetCommand)
    }

    func usageMessage(_ arguments: [String]) -> String? {
        do {
            _ = try Facewatch.parseAsRoot(arguments)
            return nil
        } catch {
            #expect(Facewatch.exitCode(for: error) == .validationFailure)
            return Facewatch.fullMessage(for: error)
        }
    }

    @Test func criteriaAddUp() throws {
        let id = UUID().uuidString.lowercased()
        let command = try parse([
            "forget", id, "--name", "party/*", "--name", "*.png", "--before", "2026-01-01", "--person", "eileen",
            "--dry-run", "--root", "/r",
        ])
        #expect(command.ids == [id] && command.names == ["party/*", "*.png"] && command.people == ["eileen"])
        #expect(command.before == "2026-01-01" && command.dryRun && !command.quiet)
        #expect(try Facewatch.parseAsRoot(["ledger", "compact", "--root", "/r"]) is LedgerCompactCommand)
    }

    @Test func nothingNamedOrBadValuesAreUsageErrors() {
        #expect(usageMessage(["forget"])?.contains("name what to forget") == true)
        #expect(usageMessage(["forget", "not-a-uuid"])?.contains("not a UUID") == true)
        #expect(usageMessage(["forget", "--before", "someday"])?.contains("--before") == true)
        // --faces-only names a known person's faces, nothing else.
        #expect(usageMessage(["forget", "--faces-only"])?.contains("--faces-only goes with --person only") == true)
        #expect(
            usageMessage(["forget", "--faces-only", "--person", "ann", "--name", "*.jpg"])?.contains(
                "--faces-only goes with --person only") == true)
        #expect(usageMessage(["forget", "--faces-only", "--person", "ann"]) == nil)
        // A found person's id selects photos; its faces alone are not forgotten by id.
        #expect(usageMessage(["forget", "--person", "3fa9c2e1b0d4a7c8"]) == nil)
        #expect(
            usageMessage(["forget", "--faces-only", "--person", "3fa9c2e1b0d4a7c8"])?.contains(
                "not a found person's id") == true)
    }
}
