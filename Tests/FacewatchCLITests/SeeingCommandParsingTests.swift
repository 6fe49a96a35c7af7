import ArgumentParser
import FaceReport
import Testing

@testable import facewatch

/// `annotate` and `report` as the parser reads them: options, defaults, help, usage errors.
@Suite(.timeLimit(.minutes(2)))
struct SeeingCommandParsingTests {
    let parsing = CommandParsingTests()

    @Test(arguments: ["annotate", "report"])
    func helpShowsTheAbstractTheUsageAndTheExitStatus(name: String) throws {
        let command = try #require(Facewatch.commands.first { $0.configuration.commandName == name })
        let text = try parsing.help(name)
        #expect(text.contains("USAGE: facewatch \(name)"), "\(text)")
        #expect(text.contains(command.configuration.abstract), "\(text)")
        #expect(text.contains("Exit status"), "\(name) --help does not say its exit status")
    }

    @Test func annotateOptions() throws {
        let command = try parsing.parse(
            ["annotate", "photo.jpg", "-o", "out.png", "--root", "/r", "--models", "/m"], as: AnnotateCommand.self)
        #expect(command.image == "photo.jpg" && command.output == "out.png" && command.models == "/m")
        #expect(command.rootOptions.root == "/r")
        let long = try parsing.parse(["annotate", "x", "--output", "y.jpg"], as: AnnotateCommand.self)
        #expect(long.output == "y.jpg")
        #expect(PictureFormat.forFileName("y.JPG") == .jpeg && PictureFormat.forFileName("a.Png") == .png)
        parsing.expectUsageError(["annotate"], saying: "Missing expected argument '<image>'")
        parsing.expectUsageError(["annotate", "x", "--no-such-option"], saying: "Unknown option '--no-such-option'")
    }

    @Test func reportOptionsAndDefaults() throws {
        let defaults = try parsing.parse(["report"], as: ReportCommand.self)
        #expect(defaults.since == "24h" && defaults.output == nil && defaults.gallery == 960)
        let command = try parsing.parse(
            ["report", "--since", "7d", "-o", "/tmp/r", "--gallery", "10"], as: ReportCommand.self)
        #expect(command.since == "7d" && command.output == "/tmp/r" && command.gallery == 10)
        parsing.expectUsageError(["report", "--since", "soon"], saying: "--since: expected a span")
        parsing.expectUsageError(["report", "--gallery=-1"], saying: "--gallery must be 0 or more")
        parsing.expectUsageError(["report", "extra"], saying: "Unexpected argument 'extra'")
    }
}
