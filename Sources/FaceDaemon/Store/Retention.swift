import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging

/// Applies `keep_originals` and `keep_results` while the daemon runs.
///
/// Each pass walks the records in creation order up to the oldest time still kept (`forEachRecord`
/// stops there, so a pass costs the records past their time, not the ledger): records older than
/// `keep_results` are forgotten (`Forgetter`, reason `keep_results=…`); the originals of final
/// records older than `keep_originals` are removed and their results stay. A `created` record's
/// original is never removed (it is still to be encoded). Passes run every tenth of the shortest
/// period, between 1 s and 10 minutes, and once at start.
public struct Retention: Sendable {
    public let configuration: DaemonConfiguration
    let forgetter: Forgetter
    let logger: Logger
    /// The time now (tests give their own).
    let now: @Sendable () -> Date

    public init(
        configuration: DaemonConfiguration, ledger: any Ledger, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.forgetter = Forgetter(configuration: configuration, ledger: ledger, logger: logger)
        self.logger = logger
        self.now = now
    }

    /// Whether any period is set.
    public var isActive: Bool { configuration.keepOriginals != nil || configuration.keepResults != nil }

    /// The pause between passes.
    var interval: Duration {
        let shortest = [configuration.keepOriginals, configuration.keepResults].compactMap { $0 }.min() ?? 600
        return .milliseconds(Int64(min(max(shortest / 10, 1), 600) * 1000))
    }

    /// Until cancelled: a pass, then a pause.
    func run() async {
        guard isActive else { return }
        var originalsChecked: Date?
        while !Task.isCancelled {
            let checked = originalsChecked
            originalsChecked = await BlockingIO.run { self.pass(originalsCheckedBefore: checked) }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// One pass. Returns the time up to which originals are known removed (the next pass starts
    /// there; nil: from the beginning).
    @discardableResult
    public func pass(originalsCheckedBefore checked: Date? = nil) -> Date? {
        let now = self.now()
        if let keep = configuration.keepResults {
            let cutoff = now.addingTimeInterval(-keep)
            do {
                var expired: [UUID] = []
                try forgetter.ledger.forEachRecord(createdFrom: nil, to: cutoff) { expired.append($0.id) }
                if !expired.isEmpty {
                    let report = try forgetter.forget(
                        expired, reason: "keep_results=\(RetentionPeriod.describe(keep))", at: self.now)
                    for error in report.fileErrors { logger.error("cannot remove a forgotten image's file: \(error)") }
                }
            } catch {
                logger.error("cannot apply keep_results: \(error)")
            }
        }
        guard let keep = configuration.keepOriginals else { return nil }
        let cutoff = now.addingTimeInterval(-keep)
        var reachedBefore = checked
        do {
            let location = StoreLocation(root: configuration.root, store: configuration.store)
            var blocked = false
            try forgetter.ledger.forEachRecord(createdFrom: checked, to: cutoff) { record in
                // Still to be encoded: its original is kept until the record is final, and the next
                // pass starts no later than here.
                guard record.status != .created else {
                    blocked = true
                    return
                }
                let path = location.absolutePath(forRecorded: record.storePath)
                if unlink(path) == 0 {
                    logger.notice(
                        "removed an original past keep_originals",
                        metadata: ["id": "\(record.id.uuidString.lowercased())", "name": "\(record.source.name)"]
                    )
                } else if errno != ENOENT {
                    logger.error("cannot remove the original \(path): \(systemErrorText(errno))")
                    blocked = true
                }
                if !blocked { reachedBefore = record.createdAt }
            }
        } catch {
            logger.error("cannot apply keep_originals: \(error)")
        }
        return reachedBefore
    }
}
