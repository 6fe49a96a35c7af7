import Foundation
import Glibc
import Testing
@testable import FaceDaemon

private typealias FS = FileSystemTestSupport

/// Real directories, real inotify. Serialized: several tests wait on settle timers, and one lowers
/// the kernel's inotify queue size for a moment.
@Suite(.serialized, .timeLimit(.minutes(10))) struct InboxTests {
    /// A started inbox on `scratch/inbox` and a consumer recording what it reports.
    private func started(_ scratch: FileSystemScratch, settle: Duration = .milliseconds(100)) throws -> (
        Inbox, InboxRecorder
    ) {
        let inbox = Inbox(directory: scratch.sub("inbox"), settleTime: settle)
        let recorder = InboxRecorder(inbox)
        try inbox.start()
        return (inbox, recorder)
    }

    /// How a marker enters the inbox, which decides what its report proves.
    private enum MarkerArrival {
        /// Written in place: it settles after every file written before it (same settle time, one
        /// serial queue), so its report proves every earlier settle timer has fired.
        case writtenInPlace
        /// Renamed in: reported on its own event, so its report proves every earlier inotify event
        /// was handled (for settle times far longer than the test).
        case renamedIn
    }

    /// Proves that nothing beyond `count` entries was reported, by waiting for an event instead of a
    /// while: drops a marker after everything the test did, waits for its report, then counts what
    /// came. The marker is then taken away and acknowledged, as a consumer would, so the recorder's
    /// entries, the inbox's content and its statistics are as they were.
    private func expectNothingMoreThan(
        _ count: Int, _ recorder: InboxRecorder, _ inbox: Inbox, _ scratch: FileSystemScratch,
        marker arrival: MarkerArrival = .writtenInPlace
    ) async {
        let name = InboxRecorder.markerPrefix + UUID().uuidString + ".jpg"
        switch arrival {
        case .writtenInPlace:
            FS.write(scratch.sub("inbox/\(name)"), "marker")
        case .renamedIn:
            FS.write(scratch.sub(name), "marker")
            #expect(rename(scratch.sub(name), scratch.sub("inbox/\(name)")) == 0)
        }
        let marker = await recorder.wait(forMarker: name, timeout: .seconds(60))
        #expect(marker != nil, "the marker \(name) was not reported")
        #expect(recorder.entries.count == count, "\(recorder.names.sorted())")
        if let marker {
            #expect(unlink(marker.path) == 0)
            inbox.acknowledge(marker)
        }
    }

    /// Waits until `names` were reported, proves nothing else was, and checks how many
    /// directories are watched.
    private func expectExactly(
        _ names: Set<String>, _ recorder: InboxRecorder, _ inbox: Inbox, _ scratch: FileSystemScratch,
        watchedDirectories: Int
    ) async {
        #expect(await recorder.wait(forCount: names.count))
        await expectNothingMoreThan(names.count, recorder, inbox, scratch)
        #expect(Set(recorder.names) == names)
        #expect(inbox.statistics.watchedDirectories == watchedDirectories)
    }

    @Test func startScansWhatIsAlreadyThere() async throws {
        let scratch = FileSystemScratch("inbox")
        scratch.directory("inbox/party/.hidden")
        FS.write(scratch.sub("inbox/old.jpg"), "old")
        FS.write(scratch.sub("inbox/party/nested.png"), "nested")
        FS.write(scratch.sub("inbox/party/.hidden/skip.jpg"), "skip")
        for name in [".dot.jpg", "x.part", "y.TMP", "z.jpg~"] { FS.write(scratch.sub("inbox/\(name)"), "temp") }
        FS.age(scratch.sub("inbox/old.jpg"), secondsAgo: 60)
        FS.age(scratch.sub("inbox/party/nested.png"), secondsAgo: 60)
        FS.write(scratch.sub("inbox/fresh.jpg"), "fresh")  // modified just now: must settle first

        // A settle time far longer than the test's own steps, so "fresh" is still fresh at the scan.
        let (inbox, recorder) = try started(scratch, settle: .seconds(2))
        defer { inbox.stop() }
        // start() returns after the scan: old files were reported at once, the fresh one is settling.
        let statistics = inbox.statistics
        #expect(statistics.reported == 2)
        #expect(statistics.settling == 1)
        #expect(statistics.watchedDirectories == 2)  // inbox, party (not .hidden)
        #expect(await recorder.wait(for: "fresh.jpg") != nil)
        await expectNothingMoreThan(3, recorder, inbox, scratch)
        #expect(Set(recorder.names) == ["old.jpg", "party/nested.png", "fresh.jpg"])
        let nested = try #require(recorder.entries.first { $0.name == "party/nested.png" })
        #expect(nested.path == scratch.sub("inbox/party/nested.png"))
        #expect(nested.kind == .regular && nested.size == 6 && nested.isRegular)
        #expect(recorder.names.last == "fresh.jpg")
    }

    @Test func relativeInboxPathIsMadeAbsolute() throws {
        let inbox = Inbox(directory: "some/inbox/")
        var buffer = [CChar](repeating: 0, count: 4096)
        #expect(getcwd(&buffer, 4096) != nil)
        let cwd = FS.string(buffer)
        #expect(inbox.directory == "\(cwd)/some/inbox")
    }

    @Test func aFileRenamedInIsReportedAtOnce() async throws {
        let scratch = FileSystemScratch("inbox")
        // A settle time far beyond the wait: only the "renamed in: ready at once" path can pass.
        let (inbox, recorder) = try started(scratch, settle: .seconds(120))
        defer { inbox.stop() }
        FS.write(scratch.sub("outside.jpg"), "mv me")
        #expect(rename(scratch.sub("outside.jpg"), scratch.sub("inbox/moved.jpg")) == 0)
        let entry = try #require(await recorder.wait(for: "moved.jpg"))
        #expect(entry.size == 5 && entry.kind == .regular)
        await expectNothingMoreThan(1, recorder, inbox, scratch, marker: .renamedIn)
    }

    @Test func rsyncStyleTemporaryThenRenameIsReportedOnceUnderItsFinalName() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .seconds(120))
        defer { inbox.stop() }
        let temporary = scratch.sub("inbox/.photo.jpg.Xa81Qz")
        FS.write(temporary, [UInt8](repeating: 7, count: 4096))
        FS.write(temporary, [UInt8](repeating: 8, count: 4096), append: true)
        #expect(rename(temporary, scratch.sub("inbox/photo.jpg")) == 0)
        let entry = try #require(await recorder.wait(for: "photo.jpg"))
        #expect(entry.size == 8192)
        await expectNothingMoreThan(1, recorder, inbox, scratch, marker: .renamedIn)
    }

    @Test func writersTemporaryNamesAreIgnored() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .milliseconds(50))
        defer { inbox.stop() }
        for name in [".hidden.jpg", "download.jpg.part", "x.PART", "copy.tmp", "edit.jpg~"] {
            FS.write(scratch.sub("inbox/\(name)"), "temp")
        }
        scratch.directory("inbox/.staging")
        FS.write(scratch.sub("inbox/.staging/inside.jpg"), "x")
        FS.write(scratch.sub("inbox/real.jpg"), "real")  // the control: this one does come
        #expect(await recorder.wait(for: "real.jpg") != nil)
        await expectNothingMoreThan(1, recorder, inbox, scratch)
        #expect(
            Inbox.isWriterTemporaryName(".x") && Inbox.isWriterTemporaryName("a.Tmp")
                && !Inbox.isWriterTemporaryName("a.jpg"))
        // A staged directory renamed to a normal name is taken with its content.
        #expect(rename(scratch.sub("inbox/.staging"), scratch.sub("inbox/staged")) == 0)
        #expect(await recorder.wait(for: "staged/inside.jpg") != nil)
    }

    @Test func aTreeBuiltOutsideAndMovedInIsReportedWhole() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch)
        defer { inbox.stop() }
        // Built before any watch could exist on it: only the scan after watching can find these.
        scratch.directory("outside/a/b/c")
        let names = ["a/top.jpg", "a/b/mid.jpg", "a/b/c/deep1.jpg", "a/b/c/deep2.png"]
        for name in names { FS.write(scratch.sub("outside/\(name)"), name) }
        #expect(rename(scratch.sub("outside/a"), scratch.sub("inbox/a")) == 0)
        await expectExactly(Set(names), recorder, inbox, scratch, watchedDirectories: 4)
    }

    @Test func deepNestingCreatedInsideTheInboxIsFollowed() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch)
        defer { inbox.stop() }
        // mkdir -p races the watches: each level may exist before its parent is watched.
        let levels = (1...12).map { "d\($0)" }
        var expected: [String] = []
        var relative = ""
        for level in levels {
            relative += (relative.isEmpty ? "" : "/") + level
            #expect(mkdir(scratch.sub("inbox/\(relative)"), 0o755) == 0)
        }
        relative = ""
        for level in levels {
            relative += (relative.isEmpty ? "" : "/") + level
            FS.write(scratch.sub("inbox/\(relative)/f.jpg"), "x")
            expected.append("\(relative)/f.jpg")
        }
        await expectExactly(Set(expected), recorder, inbox, scratch, watchedDirectories: 13)
    }

    @Test func symlinksFifosAndSocketsAreReportedAsNotRegularAndTheStoreMovesThem() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .seconds(120))
        defer { inbox.stop() }
        scratch.directory("elsewhere")
        FS.write(scratch.sub("elsewhere/secret.jpg"), "secret")
        #expect(symlink(scratch.sub("elsewhere/secret.jpg"), scratch.sub("inbox/link.jpg")) == 0)
        #expect(symlink(scratch.sub("elsewhere"), scratch.sub("inbox/dirlink")) == 0)  // never traversed
        #expect(mkfifo(scratch.sub("inbox/pipe.jpg"), 0o644) == 0)
        FS.makeSocket(scratch.sub("inbox/sock"))
        #expect(await recorder.wait(forCount: 4))
        await expectNothingMoreThan(4, recorder, inbox, scratch, marker: .renamedIn)
        let kinds = Dictionary(uniqueKeysWithValues: recorder.entries.map { ($0.name, $0.kind) })
        #expect(kinds == ["link.jpg": .symlink, "dirlink": .symlink, "pipe.jpg": .fifo, "sock": .socket])
        #expect(recorder.entries.allSatisfy { !$0.isRegular })

        let store = try Store(directory: scratch.sub("store"))
        for entry in recorder.entries {
            let stored = try store.adopt(
                entry.path, as: UUID(), ext: Store.fileExtension(forContentAt: entry.path, originalName: entry.name))
            #expect(FS.kind(stored.path) == entry.kind)
            inbox.acknowledge(entry)
        }
        #expect(FS.names(scratch.sub("inbox")).isEmpty)
        #expect(FS.read(scratch.sub("elsewhere/secret.jpg")) == Array("secret".utf8))
        // The same entries found by a scan are reported the same way.
        #expect(symlink("/etc/passwd", scratch.sub("inbox/again")) == 0)
        inbox.suspendEventReading()
        inbox.rescan()
        inbox.resumeEventReading()
        #expect(await recorder.wait(for: "again")?.kind == .symlink)
    }

    @Test func aHardLinkIsReportedAfterItSettles() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch)
        defer { inbox.stop() }
        FS.write(scratch.sub("original.jpg"), "linked")
        #expect(link(scratch.sub("original.jpg"), scratch.sub("inbox/linked.jpg")) == 0)
        #expect(await recorder.wait(for: "linked.jpg")?.size == 6)
    }

    @Test func twoThousandFilesDroppedAtOnceAreEachReportedExactlyOnce() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .milliseconds(100))
        defer { inbox.stop() }
        scratch.directory("staging")
        var expected = Set<String>()
        for index in 0..<2000 {
            let name = String(format: "img-%04d.jpg", index)
            expected.insert(name)
            if index % 2 == 0 {
                FS.write(scratch.sub("inbox/\(name)"), "in place \(index)")
            } else {
                FS.write(scratch.sub("staging/\(name)"), "renamed \(index)")
                #expect(rename(scratch.sub("staging/\(name)"), scratch.sub("inbox/\(name)")) == 0)
            }
        }
        #expect(await recorder.wait(forCount: 2000, timeout: .seconds(60)))
        await expectNothingMoreThan(2000, recorder, inbox, scratch)
        #expect(Set(recorder.names) == expected)
        // Not taken yet: a rescan must not report them again.
        inbox.rescan()
        await expectNothingMoreThan(2000, recorder, inbox, scratch)
        #expect(inbox.statistics.awaitingConsumer == 2000)
    }

    @Test func aTakenFileIsForgottenAndItsEmptyDirectoriesRemoved() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .milliseconds(100))
        defer { inbox.stop() }
        let store = try Store(directory: scratch.sub("store"))
        scratch.directory("outside/album/day1")
        FS.write(scratch.sub("outside/album/day1/a.jpg"), "a")
        #expect(rename(scratch.sub("outside/album"), scratch.sub("inbox/album")) == 0)
        let entry = try #require(await recorder.wait(for: "album/day1/a.jpg"))
        _ = try store.adopt(entry.path, as: UUID(), ext: "jpg")
        inbox.acknowledge(entry)
        // Removed after the settle time; the inbox itself stays.
        #expect(await recorder.wait { _ in !FS.exists(scratch.sub("inbox/album")) })
        #expect(FS.kind(scratch.sub("inbox")) == .directory)
        #expect(await recorder.wait { _ in inbox.statistics.watchedDirectories == 1 })
        #expect(inbox.statistics.awaitingConsumer == 0)
        // The same name dropped again is a new file: reported again.
        FS.write(scratch.sub("x.jpg"), "x")
        #expect(rename(scratch.sub("x.jpg"), scratch.sub("inbox/top.jpg")) == 0)
        let top = try #require(await recorder.wait(for: "top.jpg"))
        _ = try store.adopt(top.path, as: UUID(), ext: "jpg")
        inbox.acknowledge(top)
        FS.write(scratch.sub("y.jpg"), "y")
        #expect(rename(scratch.sub("y.jpg"), scratch.sub("inbox/top.jpg")) == 0)
        #expect(await recorder.wait { $0.filter { $0.name == "top.jpg" }.count == 2 })
        // A top-level entry schedules no removal pass; the pass for album/ above ran with the inbox
        // empty and left it.
        #expect(FS.kind(scratch.sub("inbox")) == .directory)  // never removed, even when empty
    }

    @Test func removeEmptyDirectoriesStopsAtContentAndNeverRemovesTheInbox() throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, _) = try started(scratch)
        defer { inbox.stop() }
        scratch.directory("inbox/a/b/c")
        scratch.directory("inbox/a/keep")
        inbox.removeEmptyDirectories(containing: scratch.sub("inbox/a/b/c/taken.jpg"))
        #expect(!FS.exists(scratch.sub("inbox/a/b")))
        #expect(FS.kind(scratch.sub("inbox/a/keep")) == .directory)  // a is not empty: stop there
        inbox.removeEmptyDirectories(containing: scratch.sub("inbox/a/keep/taken.jpg"))
        #expect(!FS.exists(scratch.sub("inbox/a")))
        inbox.removeEmptyDirectories(containing: scratch.sub("inbox/taken.jpg"))
        inbox.removeEmptyDirectories(containing: scratch.sub("inbox"))
        inbox.removeEmptyDirectories(containing: scratch.sub("elsewhere/x.jpg"))
        #expect(FS.kind(scratch.sub("inbox")) == .directory)
        #expect(FS.names(scratch.sub("inbox")).isEmpty)
    }

    @Test func startRemovesOldEmptySubdirectoriesButNotFreshOnes() async throws {
        let scratch = FileSystemScratch("inbox")
        scratch.directory("inbox/leftover/empty")
        FS.age(scratch.sub("inbox/leftover/empty"), secondsAgo: 60)
        scratch.directory("inbox/just-made")
        let (inbox, _) = try started(scratch, settle: .seconds(30))
        defer { inbox.stop() }
        #expect(!FS.exists(scratch.sub("inbox/leftover/empty")))
        #expect(FS.kind(scratch.sub("inbox/just-made")) == .directory)
    }

    @Test func theRescanAfterAnOverflowFindsWhatTheEventsMissed() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .seconds(120))
        defer { inbox.stop() }
        scratch.directory("staging/sub")
        inbox.suspendEventReading()  // as if the events were lost
        for index in 0..<50 { FS.write(scratch.sub("staging/\(index).jpg"), "\(index)") }
        FS.write(scratch.sub("staging/sub/inner.jpg"), "inner")
        for index in 0..<50 {
            #expect(rename(scratch.sub("staging/\(index).jpg"), scratch.sub("inbox/\(index).jpg")) == 0)
        }
        #expect(rename(scratch.sub("staging/sub"), scratch.sub("inbox/sub")) == 0)
        // Older than the settle time: a scan takes them at once.
        FS.age(scratch.sub("inbox/sub/inner.jpg"), secondsAgo: 600)
        for index in 0..<50 { FS.age(scratch.sub("inbox/\(index).jpg"), secondsAgo: 600) }
        inbox.handleQueueOverflow()
        #expect(await recorder.wait(forCount: 51))
        #expect(inbox.statistics.overflows == 1)
        #expect(inbox.statistics.watchedDirectories == 2)
        // The queued events arrive late: each file was already reported, none twice.
        inbox.resumeEventReading()
        await expectNothingMoreThan(51, recorder, inbox, scratch, marker: .renamedIn)
        #expect(Set(recorder.names) == Set((0..<50).map { "\($0).jpg" } + ["sub/inner.jpg"]))
    }

    @Test(
        .enabled(
            if: access("/proc/sys/fs/inotify/max_queued_events", W_OK) == 0,
            "lowering fs.inotify.max_queued_events needs root; the rescan path is tested directly above"))
    func aRealKernelQueueOverflowLosesNoFile() async throws {
        let scratch = FileSystemScratch("inbox")
        let inbox = Inbox(directory: scratch.sub("inbox"), settleTime: .milliseconds(100))
        let recorder = InboxRecorder(inbox)
        // The limit is read once, when the inotify instance is created: lower it just around start().
        let knob = "/proc/sys/fs/inotify/max_queued_events"
        let original = try #require(
            FS.read(knob).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) })
        FS.write(knob, "16\n")
        do {
            defer { FS.write(knob, original + "\n") }
            try inbox.start()
        }
        defer { inbox.stop() }
        #expect(FS.read(knob).map { String(decoding: $0, as: UTF8.self) } == original + "\n")

        scratch.directory("staging")
        inbox.suspendEventReading()  // 300 events into a 16-event queue: it overflows
        for index in 0..<300 {
            FS.write(scratch.sub("staging/\(index).jpg"), "\(index)")
            #expect(rename(scratch.sub("staging/\(index).jpg"), scratch.sub("inbox/\(index).jpg")) == 0)
        }
        inbox.resumeEventReading()
        #expect(await recorder.wait(forCount: 300))
        await expectNothingMoreThan(300, recorder, inbox, scratch)
        #expect(Set(recorder.names) == Set((0..<300).map { "\($0).jpg" }))
        #expect(inbox.statistics.overflows >= 1)
    }

    @Test func directoriesMovedWithinOrOutOfTheInboxAreTracked() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .seconds(120))
        defer { inbox.stop() }
        scratch.directory("inbox/first")
        scratch.directory("inbox/leaving")
        #expect(await recorder.wait { _ in inbox.statistics.watchedDirectories == 3 })
        #expect(rename(scratch.sub("inbox/first"), scratch.sub("inbox/second")) == 0)
        #expect(rename(scratch.sub("inbox/leaving"), scratch.sub("gone")) == 0)
        #expect(await recorder.wait { _ in inbox.statistics.watchedDirectories == 2 })
        FS.write(scratch.sub("a.jpg"), "a")
        #expect(rename(scratch.sub("a.jpg"), scratch.sub("inbox/second/a.jpg")) == 0)
        FS.write(scratch.sub("b.jpg"), "b")
        #expect(rename(scratch.sub("b.jpg"), scratch.sub("gone/b.jpg")) == 0)  // outside now
        #expect(await recorder.wait(for: "second/a.jpg") != nil)
        await expectNothingMoreThan(1, recorder, inbox, scratch, marker: .renamedIn)
    }

    @Test func aNameThatIsNotUTF8IsRenamedAndTaken() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .milliseconds(50))
        defer { inbox.stop() }
        var raw = Array(scratch.sub("inbox/bad").utf8) + [0xFF, 0x2E, 0x6A, 0x70, 0x67, 0]  // "bad\xFF.jpg"
        let fd = raw.withUnsafeMutableBufferPointer {
            $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT, 0o644) }
        }
        #expect(fd >= 0)
        _ = write(fd, "data", 4)
        close(fd)
        let entry = try #require(await recorder.wait(for: "bad%FF.jpg"))
        #expect(entry.size == 4)
        #expect(FS.names(scratch.sub("inbox")) == ["bad%FF.jpg"])
        #expect(Inbox.escapingInvalidUTF8([0x61, 0xC3, 0xA9, 0xC3, 0x28]) == "aé%C3(")
    }

    @Test func theInboxIsRecreatedIfItIsRemoved() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .seconds(120))
        defer { inbox.stop() }
        #expect(rmdir(scratch.sub("inbox")) == 0)
        #expect(
            await recorder.wait { _ in
                FS.kind(scratch.sub("inbox")) == .directory && inbox.statistics.watchedDirectories == 1
            })
        FS.write(scratch.sub("a.jpg"), "a")
        #expect(rename(scratch.sub("a.jpg"), scratch.sub("inbox/a.jpg")) == 0)
        #expect(await recorder.wait(for: "a.jpg") != nil)
    }

    @Test func stopEndsTheStreamAndTheWatching() async throws {
        let scratch = FileSystemScratch("inbox")
        let (inbox, recorder) = try started(scratch, settle: .seconds(1))
        FS.write(scratch.sub("inbox/before.jpg"), "x")
        #expect(await recorder.wait(for: "before.jpg") != nil)
        FS.write(scratch.sub("inbox/pending.jpg"), "x")  // settling when stop() comes
        inbox.stop()
        inbox.stop()  // idempotent
        #expect(await recorder.wait { _ in recorder.isFinished })
        // The stream has ended (awaited above): nothing written now can ever be reported.
        FS.write(scratch.sub("inbox/after.jpg"), "x")
        #expect(recorder.names == ["before.jpg"])
        try inbox.start()  // after stop: does nothing
        #expect(inbox.statistics.watchedDirectories == 0)
    }
}
