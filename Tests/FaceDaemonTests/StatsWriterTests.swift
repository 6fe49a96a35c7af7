import FaceLedger
import FaceTestSupport
import Foundation
import Synchronization
import Testing

@testable import FaceDaemon

/// `stats.json` follows the injected clock: written on a tick when something changed, never between
/// ticks, and not on a tick when nothing changed. A test clock moves time, so nothing here waits
/// for a real second.
@Suite(.timeLimit(.minutes(1)))
struct StatsWriterTests {
    final class Writes: Sendable {
        private let count = Atomic(0)
        var value: Int { count.load(ordering: .relaxed) }
        func add() { count.add(1, ordering: .relaxed) }
    }

    @Test func writesOnTheClocksTicksOnlyWhenSomethingChanged() async throws {
        let root = try TestRoot()
        defer { root.directory.remove() }
        let writes = Writes()
        let stats = StatsWriter(
            path: root.directory.appending("stats.json"), ledger: root.ledger, meter: ThroughputMeter(),
            logger: root.logger
        ) { _ in writes.add() }
        let clock = TestClock()
        let running = Task { await stats.run(clock: clock) }
        defer { running.cancel() }

        // Asleep until the first tick: a new writer is dirty, but writes nothing before it.
        #expect(await eventually { clock.sleeperCount == 1 })
        #expect(writes.value == 0)
        clock.advance(by: .milliseconds(999))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .milliseconds(1))
        #expect(await eventually { writes.value == 1 })
        #expect(FileManager.default.fileExists(atPath: root.directory.appending("stats.json")))

        // A tick with nothing changed writes nothing (the writer is asleep again: its turn is over).
        #expect(await eventually { clock.sleeperCount == 1 })
        clock.advance(by: .seconds(1))
        #expect(await eventually { clock.sleeperCount == 1 })
        #expect(writes.value == 1)

        // A change is written at the next tick.
        stats.markDirty()
        clock.advance(by: .seconds(1))
        #expect(await eventually { writes.value == 2 })

        running.cancel()
        await running.value
    }
}
