import FaceTestSupport
import Foundation
import Glibc
import Testing

@testable import FaceDaemon

private typealias FS = FileSystemTestSupport

/// A file written in place settles on the inbox's clock: real inotify and real files, and a
/// `TestClock` the test moves, so no write races a timer and no wait needs a margin.
@Suite(.timeLimit(.minutes(2)))
struct InboxSettlingTests {
    private let settle = Duration.milliseconds(200)

    private func started(_ scratch: FileSystemScratch, clock: TestClock) throws -> (Inbox, InboxRecorder) {
        let inbox = Inbox(directory: scratch.sub("inbox"), settleTime: settle, clock: clock)
        let recorder = InboxRecorder(inbox)
        try inbox.start()
        return (inbox, recorder)
    }

    @Test func aFileClosedTwiceIsReportedOnceAfterItsLastClose() async throws {
        let scratch = FileSystemScratch("inbox-clock")
        let clock = TestClock()
        let (inbox, recorder) = try started(scratch, clock: clock)
        defer { inbox.stop() }
        let path = scratch.sub("inbox/photo.jpg")
        FS.write(path, [UInt8](repeating: 1, count: 1000))  // a writer that closes...
        #expect(await eventually { clock.sleeperCount == 1 }, "its close starts the settle time")
        FS.write(path, [UInt8](repeating: 2, count: 500), append: true)  // ...reopens, appends, closes
        #expect(await eventually { clock.sleeperCount == 2 }, "the second close starts it again")
        #expect(recorder.entries.isEmpty, "reported before its settle time: \(recorder.names)")
        clock.advance(by: settle)
        let entry = try #require(await recorder.wait(for: "photo.jpg"))
        #expect(entry.size == 1500, "reported between the two writes")
        // The first close's timer was superseded: a renamed-in marker, reported on its own event
        // after both timers ran, finds nothing more.
        #expect(await eventually { clock.sleeperCount == 0 })
        let marker = InboxRecorder.markerPrefix + "after.jpg"
        FS.write(scratch.sub(marker), "marker")
        #expect(rename(scratch.sub(marker), scratch.sub("inbox/" + marker)) == 0)
        #expect(await recorder.wait(forMarker: marker, timeout: .seconds(10)) != nil)
        #expect(recorder.names == ["photo.jpg"])
    }

    @Test func aFileChangedWithoutAnEventWhileItSettlesWaitsAgain() async throws {
        let scratch = FileSystemScratch("inbox-clock")
        let clock = TestClock()
        let (inbox, recorder) = try started(scratch, clock: clock)
        defer { inbox.stop() }
        let path = scratch.sub("inbox/photo.jpg")
        FS.write(path, [UInt8](repeating: 1, count: 1000))
        #expect(await eventually { clock.sleeperCount == 1 })
        // A change inotify does not report to the inbox (its mask has no IN_ATTRIB): a new mtime.
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        clock.advance(by: settle)
        // The timer finds the file changed since its close and settles it again instead of reporting it.
        #expect(await eventually { clock.sleeperCount == 1 }, "the changed file did not settle again")
        #expect(recorder.entries.isEmpty, "reported although it changed: \(recorder.names)")
        clock.advance(by: settle)
        #expect(await recorder.wait(for: "photo.jpg")?.size == 1000)
    }

    @Test func theRescanRunsOnTheClock() async throws {
        let scratch = FileSystemScratch("inbox-clock")
        let clock = TestClock()
        let inbox = Inbox(
            directory: scratch.sub("inbox"), settleTime: settle, rescanInterval: .seconds(60), clock: clock)
        let recorder = InboxRecorder(inbox)
        try inbox.start()
        defer { inbox.stop() }
        #expect(await eventually { clock.sleeperCount == 1 }, "the rescan waits for its period")
        let before = inbox.statistics.rescans
        clock.advance(by: .seconds(60))
        #expect(await eventually { inbox.statistics.rescans == before + 1 }, "no rescan after its period")
        #expect(await eventually { clock.sleeperCount == 1 }, "the next rescan waits again")
        #expect(recorder.entries.isEmpty)
    }
}
