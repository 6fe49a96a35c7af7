import ArgumentParser
import Foundation
import Testing

@testable import facewatch

/// `match` and `people`: options, defaults, help and usage errors.
extension CommandParsingTests {
    @Test func matchReadsTheQueryLimitToleranceAndJSON() throws {
        let command = try parse(
            ["match", "photo.jpg", "--limit", "3", "--tolerance", "0.5", "--json", "--root", "/r"],
            as: MatchCommand.self)
        #expect(command.query == "photo.jpg")
        #expect(command.limit == 3)
        #expect(command.tolerance == 0.5)
        #expect(command.json)
        #expect(command.rootOptions.root == "/r")
        let plain = try parse(["match", "0f5e1f35-6b55-4a50-9d0b-4b1f1d6d2d3c"], as: MatchCommand.self)
        #expect(plain.limit == 5 && plain.tolerance == nil && !plain.json)
        // A UUID (that is not a file here) names a stored result; anything else is a file.
        #expect(plain.resultID == UUID(uuidString: "0f5e1f35-6b55-4a50-9d0b-4b1f1d6d2d3c"))
        #expect(command.resultID == nil)
    }

    @Test func matchUsageErrors() {
        expectUsageError(["match"], saying: "Missing expected argument '<query>'")
        expectUsageError(["match", "a.jpg", "--limit", "0"], saying: "--limit must be at least 1")
        expectUsageError(["match", "a.jpg", "--limit", "many"], saying: "--limit")
        expectUsageError(["match", "a.jpg", "--tolerance=-1"], saying: "--tolerance must be a number >= 0")
        expectUsageError(["match", "a.jpg", "b.jpg"], saying: "Unexpected argument 'b.jpg'")
    }

    @Test func peopleReadsJSONRebuildAndTheRoot() throws {
        let command = try parse(["people", "--json", "--root", "/r"], as: PeopleCommand.self)
        #expect(command.json && command.rootOptions.root == "/r" && !command.rebuild)
        #expect(try !parse(["people"], as: PeopleCommand.self).json)
        #expect(try parse(["people", "--rebuild"], as: PeopleCommand.self).rebuild)
        expectUsageError(["people", "extra"], saying: "Unexpected argument 'extra'")
    }

    @Test func nameReadsThePersonAndTheName() throws {
        let command = try parse(["name", "3fa9c2e1", "eileen", "--root", "/r"], as: NameCommand.self)
        #expect(command.person == "3fa9c2e1" && command.name == "eileen" && command.rootOptions.root == "/r")
        expectUsageError(["name", "3fa9c2e1"], saying: "Missing expected argument '<name>'")
        expectUsageError(["name"], saying: "Missing expected argument '<person>'")
        expectUsageError(["name", "a", "b", "c"], saying: "Unexpected argument 'c'")
    }

    @Test(arguments: ["match", "people", "name"])
    func peopleCommandsHaveHelp(name: String) throws {
        let text = try help(name)
        #expect(text.contains("USAGE: facewatch \(name)"), "\(text)")
        #expect(text.contains("known") || text.contains("closest"), "\(text)")
        if name == "people" { #expect(text.contains("--rebuild") && text.contains("cluster_"), "\(text)") }
        if name == "name" { #expect(text.contains("<person> <name>") && text.contains("known/NAME/"), "\(text)") }
    }
}
