#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// `facewatch serve` as a service: systemd's notify protocol and watchdog over a real datagram
/// socket, a reload that changes the worker count while files flow, metrics.prom against stats.json,
/// and the examples run against a real daemon. One daemon at a time, like the other end-to-end suite.
@Suite(.tags(.endToEnd), .serialized, .timeLimit(.minutes(10)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct ServiceEndToEndTests {
    // MARK: - Notify, reload, metrics, stop

    @Test func notifiesSystemdReloadsWorkersWithoutLosingFilesAndKeepsMetricsEqualToStats() async throws {
        let root = TestRoot("service")
        let listener = try NotifyListener()
        let config = root.base + "/facewatch.conf"
        try "workers = 2\nlog_level = info\n".write(toFile: config, atomically: true, encoding: .utf8)
        // One file of the backlog is held in its read (the debug build's test gate) until the reload is
        // done, so the reload always happens while the backlog is being worked on.
        let gate = root.base + "/held-gate"
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--config", config],
            environment: [
                "NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000",
                "FACEWATCH_TEST_PAUSE_READ": "held-", "FACEWATCH_TEST_PAUSE_GATE": gate,
            ])
        defer { daemon.stop() }

        // READY=1 once the models are loaded and the inbox is watched, with a status line.
        let ready = try #require(
            await listener.wait(timeout: 120) { $0.contains("READY=1") }, "no READY=1: \(daemon.log)")
        #expect(ready.text.contains("STATUS=watching \(root.inbox) with 2 workers"), "\(ready.text)")
        #expect(daemon.log.contains(" info ready "), "READY=1 came before the daemon said it was ready")
        #expect(FileManager.default.fileExists(atPath: root.inbox))
        // STATUS= after each stats write (backlog and rate), WATCHDOG=1 every second (half of 2 s).
        let status = await listener.wait(timeout: 10) { $0.hasPrefix("STATUS=backlog ") }
        #expect(status?.text.contains("images/min") == true, "\(listener.all.map(\.text))")
        #expect(await listener.wait(timeout: 10) { $0 == "WATCHDOG=1\n" } != nil, "no WATCHDOG=1")

        // Files flow: a backlog for two workers, then a reload to one worker while it is worked on.
        let first = 40
        let staging = root.staging()
        let firstNames = ["held-a0.png"] + (1..<first).map { "a\($0).png" }
        for (i, name) in firstNames.enumerated() {
            write(TinyPNG.make(width: 240, height: 180, seed: 3000 + i), to: staging + "/" + name)
        }
        write(Array("not an image at all\n".utf8), to: staging + "/notes-1.txt")
        write(Array("still not an image\n".utf8), to: staging + "/notes-2.txt")
        for name in firstNames + ["notes-1.txt", "notes-2.txt"] {
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }
        #expect(await eventually(timeout: .seconds(60)) { root.documentCount() >= 4 }, "\(daemon.log)")
        #expect(
            await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: gate + ".paused") },
            "the held file was never read")
        try "workers = 1\nlog_level = debug\n".write(toFile: config, atomically: true, encoding: .utf8)
        let beforeReload = listener.count
        daemon.send(SIGHUP)
        let reloading = try #require(
            await listener.wait(after: beforeReload, timeout: 30) { $0.contains("RELOADING=1") }, "no RELOADING=1")
        let monotonic = reloading.text.split(separator: "\n").first { $0.hasPrefix("MONOTONIC_USEC=") }
        #expect(monotonic.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) } != nil, "\(reloading.text)")
        let readyAgain = try #require(
            await listener.wait(after: reloading.index + 1, timeout: 30) { $0.contains("READY=1") },
            "no READY=1 after the reload")
        #expect(readyAgain.text.contains("reloaded: 1 workers"), "\(readyAgain.text)")
        let doneAtReload = root.documentCount()
        #expect(doneAtReload < first + 2, "the backlog was finished before the reload: the test proves little")
        #expect(daemon.log.contains("notice encoder workers changed from=2 to=1"), "\(daemon.log)")
        FileManager.default.createFile(atPath: gate, contents: nil)

        // More files after the reload.
        let second = 10
        for i in 0..<second {
            write(TinyPNG.make(width: 240, height: 180, seed: 5000 + i), to: staging + "/b\(i).png")
            #expect(rename(staging + "/b\(i).png", root.inbox + "/b\(i).png") == 0)
        }
        let total = first + 2 + second
        #expect(
            await eventually(timeout: .seconds(120)) { root.documentCount() >= total },
            "\(root.documentCount()) of \(total)")
        #expect(
            await eventually(timeout: .seconds(30)) {
                daemon.log.contains("previous encoder workers finished their files and stopped workers=2")
            })

        // Nothing lost, nothing twice.
        let documents = try root.documents()
        let names =
            firstNames + (0..<second).map { "b\($0).png" } + ["notes-1.txt", "notes-2.txt"]
        #expect(documents.compactMap { $0.source?.name }.sorted() == names.sorted())
        #expect(documents.filter { $0.status == .completed }.count == first + second)
        #expect(documents.filter { $0.error?.code == .notAnImage }.count == 2)
        #expect(root.storedEntries().count == total)
        // The new log level took effect, and files were still encoded after the workers changed.
        let log = daemon.log
        let changedAt = try #require(log.range(of: "encoder workers changed"))
        #expect(log[changedAt.upperBound...].contains(" debug encoding "), "no file was encoded after the reload")
        #expect(log[changedAt.upperBound...].contains(" info completed "))

        // metrics.prom agrees with stats.json once both show the final counts.
        var stats: [String: Any] = [:]
        var metrics = Exposition(text: "")
        let agreed = await eventually(timeout: .seconds(15)) {
            guard let data = FileManager.default.contents(atPath: root.root + "/stats.json"),
                let parsed = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                parsed["total"] as? Int == total, parsed["created"] as? Int == 0,
                let text = try? String(contentsOfFile: root.root + "/metrics.prom", encoding: .utf8)
            else { return false }
            stats = parsed
            metrics = Exposition(text: text)
            return metrics.value("facewatch_files_ingested_total") == Double(total)
                && metrics.value("facewatch_backlog") == 0 && metrics.value("facewatch_workers") == 1
        }
        #expect(agreed, "metrics.prom never showed the final counts")
        try expectMetrics(metrics, equal: stats, encodes: total, up: true)
        #expect(metrics.value("facewatch_files_failed_total", ["code": "not_an_image"]) == 2)
        #expect((metrics.value("facewatch_worker_busy_seconds_total") ?? 0) > 0)

        // `facewatch status` shows all of it for a person.
        let shown = try await facewatch(["status", "--root", root.root])
        #expect(shown.status == 0)
        for line in [
            "daemon:   running (pid \(daemon.pid))", "backlog:  0 waiting",
            "total:    \(total) (\(first + second) completed, 2 failed)",
            "workers:  1", "encoding: ", "failures: not_an_image 2", "not_an_image notes-",
        ] {
            #expect(shown.stdout.contains(line), "missing \(line): \(shown.stdout)")
        }

        // SIGTERM: STOPPING=1, exit 0, and metrics.prom says the daemon is down.
        let beforeStop = listener.count
        daemon.send(SIGTERM)
        #expect(
            await listener.wait(after: beforeStop, timeout: 30) { $0.contains("STOPPING=1") } != nil, "no STOPPING=1")
        #expect(await daemon.waitForExit(timeout: .seconds(45)) == 0, "\(daemon.log)")
        let stopped = Exposition(text: try String(contentsOfFile: root.root + "/metrics.prom", encoding: .utf8))
        #expect(stopped.value("facewatch_up") == 0)
        try expectMetrics(stopped, equal: stats, encodes: total, up: false)

        // A restart does not reset the counters: they are read from the ledger.
        let restarted = try DaemonProcess(
            root: root.root, arguments: ["--workers", "1"], environment: ["NOTIFY_SOCKET": ""])
        defer { restarted.stop() }
        try await restarted.waitUntilReady()
        var again = Exposition(text: "")
        #expect(
            await eventually(timeout: .seconds(15)) {
                again = Exposition(
                    text: (try? String(contentsOfFile: root.root + "/metrics.prom", encoding: .utf8)) ?? "")
                return again.value("facewatch_up") == 1
            })
        try expectMetrics(again, equal: stats, encodes: total, up: true)
        #expect(again.value("facewatch_files_failed_total", ["code": "not_an_image"]) == 2)
    }

    /// The counts of `metrics` equal those of a `stats.json` document; the histogram counts `encodes`
    /// engine runs and is cumulative.
    func expectMetrics(_ metrics: Exposition, equal stats: [String: Any], encodes: Int, up: Bool) throws {
        func count(_ key: String) -> Double? { (stats[key] as? Int).map(Double.init) }
        #expect(metrics.value("facewatch_up") == (up ? 1 : 0))
        #expect(metrics.value("facewatch_files_ingested_total") == count("total"))
        #expect(metrics.value("facewatch_files_completed_total") == count("completed"))
        #expect(metrics.value("facewatch_faces_total") == count("faces"))
        #expect(metrics.value("facewatch_backlog") == count("created"))
        let failed = metrics.samples(named: "facewatch_files_failed_total")
        #expect(failed.count == FailureCode.allCases.count, "one sample per error code")
        #expect(failed.reduce(0) { $0 + $1.value } == count("failed"))
        #expect(metrics.value("facewatch_encode_seconds_count") == Double(encodes))
        let buckets = metrics.samples(named: "facewatch_encode_seconds_bucket")
        #expect(buckets.last?.labels["le"] == "+Inf")
        #expect(buckets.last?.value == Double(encodes))
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value }, "buckets are cumulative")
        #expect((metrics.value("facewatch_encode_seconds_sum") ?? 0) > 0)
    }

    // MARK: - Watchdog

    @Test(
        .enabled(
            if: testImagesDirectory != nil, "no test images: run `make test-images` (or set FACEWATCH_TEST_IMAGES)"))
    func watchdogIsNotFedWhileAnEncodeIsStuckAndIsFedAgainAfter() async throws {
        let root = TestRoot("watchdog")
        let listener = try NotifyListener()
        // With WATCHDOG_USEC = 2 s, pings go every second, and an encode running 2 s with nothing
        // finishing counts as stuck. The astronaut's two faces with 150 jittered chips each take
        // several seconds (about 20 ms a chip), whatever else the machine is doing.
        let slow = try #require(FileManager.default.contents(atPath: testImagesDirectory! + "/astronaut.png"))
        write(Array(slow), to: root.staging() + "/slow.png")
        let daemon = try DaemonProcess(
            root: root.root, arguments: ["--workers", "1", "--jitters", "150"],
            environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000"])
        defer { daemon.stop() }
        #expect(await listener.wait(timeout: 120) { $0.contains("READY=1") } != nil, "no READY=1: \(daemon.log)")
        #expect(await listener.wait(timeout: 10) { $0 == "WATCHDOG=1\n" } != nil, "an idle daemon is fed")

        #expect(rename(root.base + "/staging/slow.png", root.inbox + "/slow.png") == 0)
        #expect(await eventually(timeout: .seconds(120)) { root.documentCount() == 1 }, "\(daemon.log)")
        let receivedBeforeTheDocument = listener.all.count
        #expect(
            await eventually(timeout: .seconds(10)) {
                listener.all.contains { $0.text == "WATCHDOG=1\n" && $0.index >= receivedBeforeTheDocument }
            }, "pings did not resume after the encode")

        // During the encode the pings were withheld, then fed again: the daemon says so, in that
        // order. (How long the encode took is for `make bench`, not for this test.)
        let log = daemon.log
        let withheld = try #require(log.range(of: "workers make no progress: watchdog not fed"), "\(log)")
        let fedAgain = try #require(log.range(of: "workers make progress again: watchdog fed"), "\(log)")
        #expect(withheld.lowerBound < fedAgain.lowerBound)
        #expect(try root.documents().first?.status == .completed)
    }

    // MARK: - examples/

    @Test(
        .enabled(
            if: testImagesDirectory != nil, "no test images: run `make test-images` (or set FACEWATCH_TEST_IMAGES)"),
        .enabled(
            if: ["/usr/bin/inotifywait", "/usr/local/bin/inotifywait"].contains {
                FileManager.default.isExecutableFile(atPath: $0)
            },
            "drop-and-wait.sh needs inotifywait (apt install inotify-tools)"))
    func dropAndWaitPrintsTheBoxesOfTheResultAndSimilarFacesFindsTheSamePerson() async throws {
        let images = testImagesDirectory!
        let root = TestRoot("examples")
        let daemon = try await root.startDaemon()
        defer { daemon.stop() }

        // drop-and-wait.sh: one face per line, then the result's path.
        var printed: [String: [String]] = [:]
        var byName: [String: ResultDocument] = [:]
        for name in ["astronaut.png", "astronaut_gray.jpg", "two_faces.png"] {
            let run = try await runTool(
                "/bin/bash", [repositoryRoot + "/examples/drop-and-wait.sh", images + "/" + name],
                environment: ["FACEWATCH_ROOT": root.root, "FACEWATCH_TIMEOUT": "60"])
            #expect(run.status == 0, "drop-and-wait.sh \(name): \(run.stderr)")
            let lines = run.stdout.split(separator: "\n").map(String.init)
            let path = try #require(lines.last, "no output for \(name)")
            #expect(path.hasPrefix(root.results + "/") && path.hasSuffix(".json"), "\(path)")
            let document = try JSONDecoder().decode(
                ResultDocument.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(document.status == .completed)
            #expect(document.source?.name.hasSuffix(name.hasSuffix(".png") ? ".png" : ".jpg") == true)
            #expect(
                lines.first
                    == "\(document.id!): \(document.faces.count) face(s) in a \(document.image!.width)x\(document.image!.height) \(document.image!.format.rawValue)",
                "\(lines)")
            let boxes = document.faces.enumerated().map { number, face in
                let box = face.location
                return "face \(number + 1): top=\(box.top) right=\(box.right) bottom=\(box.bottom) left=\(box.left)"
            }
            #expect(!boxes.isEmpty, "\(name) has faces")
            #expect(Array(lines.dropFirst().dropLast()) == boxes)
            printed[name] = boxes
            byName[name] = document
        }
        #expect(printed["two_faces.png"]?.count == 2)

        // similar_faces.py over those results: the pairs under 0.6 computed here from the JSON.
        let documents = try root.documents()
        var faces: [(label: String, encoding: [Double])] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: root.results)
        where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let object =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: root.results + "/" + name))) as? [String: Any]
            let id = try #require(object?["id"] as? String)
            for (index, face) in ((object?["faces"] as? [[String: Any]]) ?? []).enumerated() {
                let encoding = (face["encoding"] as? [NSNumber])?.map(\.doubleValue) ?? []
                #expect(encoding.count == 128)
                faces.append(("\(id):\(index + 1)", encoding))
            }
        }
        #expect(faces.count == documents.reduce(0) { $0 + $1.faces.count })
        var expected: [String: Double] = [:]
        for (i, a) in faces.enumerated() {
            for b in faces[(i + 1)...] where a.label.prefix(36) != b.label.prefix(36) {
                let distance = zip(a.encoding, b.encoding).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                if distance <= 0.6 { expected[[a.label, b.label].sorted().joined(separator: " ")] = distance }
            }
        }
        // The astronaut in color and in gray: one person, whichever face of the color image it is.
        let color = try #require(byName["astronaut.png"]?.id)
        let gray = try #require(byName["astronaut_gray.jpg"]?.id)
        #expect(expected.keys.contains { $0.contains(color + ":") && $0.contains(gray + ":1") }, "\(expected)")

        let python = try #require(
            ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "no python3")
        let run = try await runTool(python, [repositoryRoot + "/examples/similar_faces.py", root.results])
        #expect(run.status == 0, "similar_faces.py: \(run.stderr)")
        var found: [String: Double] = [:]
        for line in run.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 6, fields[3] == "<->", let distance = Double(fields[0]) else {
                Issue.record("unexpected line: \(line)")
                continue
            }
            found[[String(fields[1]), String(fields[4])].sorted().joined(separator: " ")] = distance
        }
        #expect(Set(found.keys) == Set(expected.keys))
        for (pair, distance) in expected {
            #expect(abs((found[pair] ?? -1) - distance) < 1e-4, "\(pair): \(found[pair] ?? -1) vs \(distance)")
        }
        #expect(
            run.stderr.contains("\(expected.count) similar pair(s) among \(faces.count) face(s) in 3 image(s)"),
            "\(run.stderr)")
    }
}

// MARK: - Helpers

/// Runs a program to completion and captures its output, `environment` added to this process's.
/// The runner starts it with no signal blocked, as from a shell: the test's threads block SIGTERM and
/// most others, and a child inherits the mask (drop-and-wait.sh must stop its inotifywait with `kill`).
func runTool(
    _ program: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)
) async throws -> ProgramOutput {
    try await runProgram(program, arguments, environment: .inheritedUpdating(environment), timeout: timeout)
}

/// An `AF_UNIX` datagram socket bound where `$NOTIFY_SOCKET` will point, as systemd binds its own;
/// a thread receives every datagram, numbered in the order it arrived.
final class NotifyListener {
    struct Message {
        var index: Int
        var text: String
    }

    /// The datagrams received, shared with the receiving thread.
    private final class Received: @unchecked Sendable {
        // @unchecked Sendable: `messages` and `stopped` are only touched under `lock`.
        private let lock = NSLock()
        private var messages: [Message] = []
        private var stopped = false

        func append(_ text: String) {
            lock.withLock { messages.append(Message(index: messages.count, text: text)) }
        }

        var all: [Message] { lock.withLock { messages } }
        var isStopped: Bool {
            get { lock.withLock { stopped } }
            set { lock.withLock { stopped = newValue } }
        }
    }

    let path: String
    private let fd: Int32
    private let received = Received()
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        var template = Array("/tmp/fw-notify-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        path = String(cString: made) + "/notify"
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8) + [0]
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
        fd = descriptor
        let received = self.received
        let finished = self.finished
        Thread.detachNewThread {
            defer { finished.signal() }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !received.isStopped {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 50) > 0 else { continue }
                let count = buffer.withUnsafeMutableBytes {
                    recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
                }
                if count > 0 { received.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
            }
        }
    }

    deinit {
        received.isStopped = true
        finished.wait()
        close(fd)
        unlink(path)
        rmdir((path as NSString).deletingLastPathComponent)
    }

    /// Every datagram so far.
    var all: [Message] { received.all }
    /// How many datagrams arrived so far.
    var count: Int { received.all.count }

    /// The first datagram from index `after` on whose text satisfies `matches`, waiting up to
    /// `timeout` seconds for it.
    func wait(after: Int = 0, timeout: Double, _ matches: (String) -> Bool) async -> Message? {
        var found: Message?
        _ = await eventually(timeout: .seconds(timeout)) {
            found = all.dropFirst(after).first { matches($0.text) }
            return found != nil
        }
        return found
    }
}

/// A Prometheus text exposition parsed here, independently of the daemon's writer.
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []

    init(text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            // name{a="x",b="y"} value  |  name value
            var name = Substring(line)
            var labels: [String: String] = [:]
            let valueText: Substring
            if let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") {
                name = line[..<open]
                for pair in line[line.index(after: open)..<close].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
                valueText = line[line.index(after: close)...].drop { $0 == " " }
            } else {
                let parts = line.split(separator: " ")
                guard parts.count == 2 else { continue }
                name = parts[0]
                valueText = parts[1]
            }
            let value: Double? = valueText == "+Inf" ? .infinity : Double(valueText)
            if let value { samples.append(Sample(name: String(name), labels: labels, value: value)) }
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    func samples(named name: String) -> [Sample] {
        samples.filter { $0.name == name }
    }
}
