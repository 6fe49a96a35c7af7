import FaceEncoding
import FaceImage
import FaceLedger
import FaceReport
import FaceRoot
import Foundation
import Logging

/// The `report = DIR` setting: rewrites the static HTML report (`FaceReport.ReportGenerator`) at
/// most once a minute, when the ledger's counts changed since the last report (and at least every
/// ten minutes, so the window slides). Runs on the blocking queues, beside the encoders: a report
/// decodes only the images new to its gallery.
enum ReportRefresher {
    /// The shortest time between two reports.
    static let interval: Duration = .seconds(60)
    /// A report older than this is rewritten even when nothing changed.
    static let maximumAge: TimeInterval = 600
    /// The window the daemon's report covers.
    static let window: TimeInterval = 86_400

    /// Until cancelled: writes a report now, then checks once a minute.
    static func run(
        directory: String, configuration: DaemonConfiguration, ledger: any Ledger, meter: ThroughputMeter,
        people: PeopleTracker, logger: Logger
    ) async {
        let location = StoreLocation(root: configuration.root, store: configuration.store)
        let generator = ReportGenerator(
            ledger: ledger, root: configuration.root, resultsDirectory: configuration.results,
            limits: ImageLimits(maxBytes: configuration.maxBytes, maxPixels: configuration.maxPixels),
            people: { try FoundPeople.of(people.snapshot, in: ledger).reportPeople(location: location) }
        ) { entry in
            location.locate(id: entry.id, recorded: entry.storePath)
        }
        var last: (stats: LedgerStats, at: Date)?
        while !Task.isCancelled {
            let previous = last
            // Thumbnails are decoded beside the records, never beside a suspect running alone.
            await DecodeGate.shared.enter(.beside)
            last = await BlockingIO.run { () -> (stats: LedgerStats, at: Date)? in
                let now = Date()
                guard let stats = try? ledger.stats() else { return previous }
                if let previous, previous.stats == stats, now.timeIntervalSince(previous.at) < maximumAge {
                    return previous
                }
                do {
                    let summary = try generator.write(
                        to: directory, since: window, imagesPerMinute: meter.perMinute(at: now), now: now)
                    logger.debug(
                        "report written",
                        metadata: [
                            "directory": "\(directory)", "gallery": "\(summary.galleryImages)",
                            "thumbnails_made": "\(summary.thumbnailsMade)",
                        ]
                    )
                    return (stats, now)
                } catch {
                    logger.warning("report not written to \(directory): \(error)")
                    return previous
                }
            }
            await DecodeGate.shared.leave(.beside)
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}

extension FoundPeople {
    /// The people as the report's People page shows them, each best face's original found in `location`.
    public func reportPeople(location: StoreLocation) -> [ReportPerson] {
        people.map { person in
            ReportPerson(
                id: person.id, name: person.name, faces: person.faces, photos: person.photoIDs,
                bestResult: person.best.record, bestFace: person.best.face, bestLocation: person.best.location,
                bestImagePath: location.locate(id: person.best.record, recorded: person.best.storePath))
        }
    }
}
