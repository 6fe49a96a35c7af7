import ArgumentParser
import FaceClient
import FaceDaemon
import FaceEncoding
import FaceImage
import FaceReport
import FaceRoot
import Foundation

/// `facewatch report [--since 24h] [-o DIR]`: the static HTML report of a root.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a static HTML report: totals, throughput, failures and recent images.",
        discussion: """
            Writes DIR/index.html (the totals `stats` prints, the throughput over the window and the \
            failures by code as inline SVG, the first gallery page), DIR/page-N.html (the other gallery \
            pages) and DIR/thumbs/ (a small JPEG per gallery image). Self-contained: no server, no \
            network, no script; open index.html in a browser. Each gallery image shows its boxes and \
            known people's names and links to its result JSON. The gallery holds the newest --gallery \
            images created in the window. Reads the ledger read-only (works while the daemon runs). \
            The daemon rewrites the same report itself with the setting `report = DIR`. Exit status: 0 \
            written, 1 no ledger or a file that cannot be written, 2 usage error.
            """
    )

    @OptionGroup var rootOptions: RootOptions

    @Option(help: "The window, back from now: a span such as 24h, 7d or 90m.")
    var since: String = "24h"

    @Option(
        name: [.short, .customLong("output")],
        help: "The report directory (default: the report setting, else ROOT/report).")
    var output: String?

    @Option(help: "Images in the gallery (the newest of the window), 48 per page.")
    var gallery: Int = ReportGenerator.Options().galleryLimit

    func validate() throws {
        if ValueParsing.seconds(since) == nil {
            throw ValidationError("--since: expected a span such as 24h, 7d or 90m, got \(since)")
        }
        if gallery < 0 { throw ValidationError("--gallery must be 0 or more") }
    }

    func run() throws {
        let configuration = try rootOptions.configuration()
        let queries = try rootOptions.queries()
        let directory =
            output ?? configuration.report ?? (configuration.root as NSString).appendingPathComponent("report")
        let location = StoreLocation(root: configuration.root, store: configuration.store)
        let generator = ReportGenerator(
            ledger: queries.ledger, root: configuration.root, resultsDirectory: configuration.results,
            limits: ImageLimits(maxBytes: configuration.maxBytes, maxPixels: configuration.maxPixels),
            options: ReportGenerator.Options(galleryLimit: gallery),
            people: { try queries.foundPeople().reportPeople(location: location) }
        ) { entry in
            location.locate(id: entry.id, recorded: entry.storePath)
        }
        do {
            let rate = try queries.stats().imagesPerMinute
            let summary = try generator.write(
                to: directory, since: ValueParsing.seconds(since) ?? 86_400, imagesPerMinute: rate)
            let index = (directory as NSString).appendingPathComponent("index.html")
            print(
                "\(index): \(summary.pages) page\(summary.pages == 1 ? "" : "s"), \(summary.galleryImages) images in the gallery, \(summary.thumbnailsMade) new thumbnails"
                    + (summary.thumbnailsFailed > 0 ? ", \(summary.thumbnailsFailed) without a picture" : ""))
        } catch {
            printError("facewatch: \(error)")
            throw ExitCode(1)
        }
    }
}
