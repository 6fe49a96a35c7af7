import FaceCore
import FaceLedger
import FaceRoot
import Foundation
import Logging
import Synchronization

/// Keeps `stats.json` up to date: rewritten atomically at most once a second while something changed
/// (or the rate moved), and once more at shutdown. The values come from the ledger's O(1) counters
/// and a `ThroughputMeter`; the file is a view, never read back by the daemon.
public final class StatsWriter: Sendable {
    /// The file written.
    public let path: String
    private let ledger: any Ledger
    private let meter: ThroughputMeter
    private let logger: Logger
    private let onWrite: @Sendable (StatsDocument) -> Void
    private let state = Mutex(State())

    private struct State {
        var dirty = true
        var lastWritten: StatsDocument?
    }

    /// A writer of `path` from `ledger`'s counters and `meter`'s rate. `onWrite` sees every document
    /// written (the seam for a metrics file or a status line).
    public init(
        path: String, ledger: any Ledger, meter: ThroughputMeter, logger: Logger,
        onWrite: @escaping @Sendable (StatsDocument) -> Void = { _ in }
    ) {
        self.path = path
        self.ledger = ledger
        self.meter = meter
        self.logger = logger
        self.onWrite = onWrite
    }

    /// Notes that the counters changed; the next tick rewrites the file.
    public func markDirty() {
        state.withLock { $0.dirty = true }
    }

    /// The document as it would be written now.
    public func currentDocument(now: Date = Date()) throws(LedgerError) -> StatsDocument {
        var document = StatsDocument(
            stats: try ledger.stats(), imagesPerMinute: meter.perMinute(at: now), updatedAt: now)
        document.facesByPerson = try ledger.personCounts().filter { $0.value.faces > 0 }.mapValues(\.faces)
        return document
    }

    /// Writes the file if something changed since the last write (or if `force`). Returns the
    /// document written, or nil when nothing was written.
    @discardableResult
    public func flush(force: Bool = false, now: Date = Date()) -> StatsDocument? {
        let (dirty, last) = state.withLock { state in
            let dirty = state.dirty
            state.dirty = false
            return (dirty, state.lastWritten)
        }
        var document: StatsDocument
        do {
            document = try currentDocument(now: now)
        } catch {
            logger.error("stats not written: \(error)")
            markDirty()
            return nil
        }
        let rateMoved = last.map { abs($0.imagesPerMinute - document.imagesPerMinute) >= 0.05 } ?? true
        guard force || dirty || rateMoved else { return nil }
        // On a shared ledger one daemon at a time writes the root's files (an advisory lock).
        do {
            document.writtenToRoot = try ledger.holdsPublisherRole()
        } catch {
            logger.error("stats not written: \(error)")
            markDirty()
            return nil
        }
        if document.writtenToRoot {
            do {
                try DurableFile.writeAtomically(document.json.pretty() + "\n", to: path)
            } catch {
                logger.error("stats not written: \(error)")
                markDirty()
                return nil
            }
        }
        state.withLock { $0.lastWritten = document }
        onWrite(document)
        return document
    }

    /// Flushes every `interval` of `clock` (once a second) until the surrounding task is cancelled,
    /// then returns (the caller writes the final document with `flush(force: true)` after the last
    /// commit).
    public func run(interval: Duration = .seconds(1), clock: any Clock<Duration> = ContinuousClock()) async {
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
            await BlockingIO.run { _ = self.flush() }
        }
    }
}
