import FaceCore
import FaceLedger
import FaceRoot
import Foundation

/// The read-only side used by `result`, `stats`, `average` and `status`: they open the ledger
/// read-only (LMDB readers never block the daemon's writer) and work whether or not a daemon runs.
public struct Queries: Sendable {
    /// The paths of the root being asked about.
    public let configuration: DaemonConfiguration
    /// The ledger, opened read-only.
    public let ledger: any Ledger

    /// Opens the ledger of `configuration` read-only.
    public init(configuration: DaemonConfiguration) throws(ClientError) {
        self.configuration = configuration
        do {
            ledger = try LedgerOpener.open(configuration, readOnly: true)
        } catch  where error.code == .notFound {
            throw ClientError(
                "no facewatch ledger at \(configuration.ledgerLocation) (has `facewatch serve` run on \(configuration.root)?)"
            )
        } catch {
            throw ClientError("cannot open the ledger at \(configuration.ledgerLocation): \(error)")
        }
    }

    // MARK: - result

    /// The document of image `id` from the ledger, or nil if the ledger has no such image.
    public func result(_ id: UUID) throws(ClientError) -> ResultDocument? {
        do {
            guard let record = try ledger.record(id) else { return nil }
            // Faces name the known people as the result document does (the stored labels).
            return record.labelledDocument(record.carriesMatches ? try ledger.labels(id) : nil)
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }

    // MARK: - stats

    /// The stats document from the ledger's counters. The rate is the one the running daemon last
    /// published into the ledger (`DaemonFigures`), when a daemon holds the root and published it
    /// in the last two minutes (0 otherwise: nothing is being processed).
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public func stats(now: Date = Date()) throws(ClientError) -> StatsDocument {
        try stats(
            figures: try daemonFigures(), daemonRunning: RootLock.holder(root: configuration.root) != nil, now: now)
    }

    private func stats(figures: DaemonFigures?, daemonRunning: Bool, now: Date) throws(ClientError) -> StatsDocument {
        let counters: LedgerStats
        do {
            counters = try ledger.stats()
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
        var rate = 0.0
        if daemonRunning, let figures, figures.running, now.timeIntervalSince(figures.updatedAt) < 120 {
            rate = figures.imagesPerMinute
        }
        var document = StatsDocument(stats: counters, imagesPerMinute: rate, updatedAt: now)
        document.facesByPerson = (try? people().facesByPerson) ?? [:]
        return document
    }

    /// What the last daemon on this root published about itself, nil if none did, or if it wrote a
    /// format this build cannot read (a newer facewatch): the counts still answer.
    private func daemonFigures() throws(ClientError) -> DaemonFigures? {
        do {
            return try ledger.daemonFigures()
        } catch  where error.code == .corrupt {
            return nil
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }

    // MARK: - average

    /// The true mean of every face encoding of completed images created in `[from, to)` (all time
    /// when both are nil): O(1) for all time, one streaming pass over the window otherwise.
    public func average(from: Date?, to: Date?) throws(ClientError) -> AverageDocument {
        do {
            let average = try ledger.average(from: from, to: to)
            return AverageDocument(
                from: from, to: to, images: average.images, faces: average.faces, mean: average.mean ?? [])
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
    }

    // MARK: - status

    /// Backlog, totals, rate, the daemon's pid and figures, the latest failures: all from the
    /// ledger (the daemon publishes its figures there) and the root lock.
    ///
    /// - Throws: `ClientError` when the ledger cannot be read.
    public func status(recentFailures: Int = 5, lookBack: TimeInterval = 86_400, now: Date = Date()) throws(ClientError)
        -> StatusReport
    {
        let pid = RootLock.holder(root: configuration.root)
        let figures = try daemonFigures()
        let stats = try self.stats(figures: figures, daemonRunning: pid != nil, now: now)
        var failures: [ResultDocument] = []
        do {
            // The latest failures among records created in the look-back window, in constant memory.
            try ledger.forEachRecord(createdFrom: now.addingTimeInterval(-lookBack), to: nil) { record in
                guard record.status == .failed else { return }
                failures.append(record.resultDocument())
                if failures.count > recentFailures { failures.removeFirst() }
            }
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
        var report = StatusReport(
            root: configuration.root, daemonPID: pid, stats: stats, recentFailures: failures.reversed(),
            figures: figures)
        do {
            report.refusals = try ledger.refusals()
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
        report.people = try? people()
        return report
    }
}

/// The output of `facewatch average`.
public struct AverageDocument: Sendable, Equatable {
    /// The window's start, or nil for no lower bound.
    public var from: Date?
    /// The window's end (exclusive), or nil for no upper bound.
    public var to: Date?
    /// Completed images created in the window (with or without faces).
    public var images: Int
    /// Faces averaged.
    public var faces: Int
    /// The component-wise mean, or empty when no face was found.
    public var mean: [Double]

    public init(from: Date?, to: Date?, images: Int, faces: Int, mean: [Double]) {
        self.from = from
        self.to = to
        self.images = images
        self.faces = faces
        self.mean = mean
    }

    /// `{"from", "to", "images", "faces", "average_encoding"}`, keys in that order.
    public var json: JSONValue {
        .object([
            ("from", from.map { .string(Timestamp.format($0)) } ?? .null),
            ("to", to.map { .string(Timestamp.format($0)) } ?? .null),
            ("images", .int(Int64(images))),
            ("faces", .int(Int64(faces))),
            ("average_encoding", .array(mean.map { .double($0) })),
        ])
    }
}
