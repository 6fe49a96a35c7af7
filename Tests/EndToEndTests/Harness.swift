#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceTestSupport
import Foundation
import Testing

/// Runs the real `facewatch` binary on real files and a real LMDB ledger.

/// The dlib models: `$FACEWATCH_MODELS` or `<repo>/models`.
let modelsDirectory = testModelsDirectory

/// The conformance images (`make test-images`): `$FACEWATCH_TEST_IMAGES` or `<repo>/.cache/test-images`.
let testImagesDirectory: String? = {
    let candidate =
        ProcessInfo.processInfo.environment["FACEWATCH_TEST_IMAGES"] ?? repositoryRoot + "/.cache/test-images"
    return FileManager.default.fileExists(atPath: candidate + "/astronaut.png") ? candidate : nil
}()

let canRunDaemon = facewatchBinary != nil && modelsDirectory != nil
let whyNot =
    facewatchBinary == nil
    ? "no facewatch binary next to the tests (build it, or set FACEWATCH_BIN)"
    : "no models in <repo>/models (run `make models` or set FACEWATCH_MODELS)"

/// Runs `facewatch ARGS` to completion (at most `timeout`).
@discardableResult
func facewatch(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> ProgramOutput {
    try await runProgram(facewatchBinary!, arguments, timeout: timeout)
}

/// A state root in a fresh temporary directory, and the daemons run on it.
final class TestRoot {
    let base: String
    let root: String
    /// The binary and models a daemon run as another uid uses (``Members/prepare(_:)``): copies in a
    /// directory any uid can traverse, since the checkout's may not be (a private clone).
    var binaryForOtherUsers: String?
    var modelsForOtherUsers: String?

    init(_ label: String) {
        base = NSTemporaryDirectory() + "fw-e2e-\(label)-\(UUID().uuidString.prefix(8))"
        root = base + "/root"
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base)
    }

    var inbox: String { root + "/inbox" }
    var results: String { root + "/results" }
    var store: String { root + "/store" }

    /// A directory next to the root on the same file system (for `mv` and staging).
    func staging(_ name: String = "staging") -> String {
        let path = base + "/" + name
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Starts `facewatch serve` on this root with two workers and waits until it is ready; as the
    /// user `user` (uid, gid; no other group) when given.
    func startDaemon(
        _ extra: [String] = [], waitReady: Bool = true, environment: [String: String] = [:],
        user: (uid: UInt32, gid: UInt32)? = nil
    ) async throws -> DaemonProcess {
        let daemon = try DaemonProcess(
            root: root, arguments: ["--workers", "2", "--log-level", "debug"] + extra, environment: environment,
            user: user.map { ($0.uid, $0.gid, binaryForOtherUsers!, modelsForOtherUsers!) })
        if waitReady { try await daemon.waitUntilReady() }
        return daemon
    }

    /// Every result document in `results/`, parsed.
    func documents() throws -> [ResultDocument] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []
        return try names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { name in
            let data = try Data(contentsOf: URL(fileURLWithPath: results + "/" + name))
            return try JSONDecoder().decode(ResultDocument.self, from: data)
        }
    }

    /// How many result documents exist.
    func documentCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []).filter {
            $0.hasSuffix(".json") && !$0.hasPrefix(".")
        }.count
    }

    /// The entries stored under `store/<shard>/` (any kind), by UUID text.
    func storedEntries(in storeDirectory: String? = nil) -> [String: String] {
        let store = storeDirectory ?? self.store
        var found: [String: String] = [:]
        for shard in (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? [] where shard.count == 2 {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: store + "/" + shard)) ?? []
            where !name.hasPrefix(".") {
                found[String(name.prefix(36))] = store + "/" + shard + "/" + name
            }
        }
        return found
    }

    /// Entries left anywhere under the inbox (files and directories), relative names.
    func inboxLeftovers() -> [String] {
        FileManager.default.subpaths(atPath: inbox) ?? []
    }

    /// `facewatch stats --compact` parsed.
    func stats() async throws -> [String: Any] {
        let output = try await facewatch(["stats", "--root", root, "--compact"])
        #expect(output.status == 0, "stats: \(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any] ?? [:]
    }
}

/// A running `facewatch serve`, its log in a file.
///
/// Not `runProgram`: a test holds its daemon across many steps and stops it in a `defer`, which
/// cannot await, whereas swift-subprocess keeps a program within one async call's scope. A test's
/// waits are async, with a deadline, so that a test waiting for its daemon holds none of the
/// cooperative threads the other tests run on; only `stop()` (from a `defer`) blocks.
final class DaemonProcess {
    let process = Process()
    let logPath: String

    /// Starts `facewatch serve --root ROOT --models ... ARGUMENTS`, with `environment` added to
    /// this process's environment.
    /// As the user `user` (uid, gid, no supplementary group) through `setpriv` when given, running
    /// the user's `binary` with its `models` (which that uid can reach).
    init(
        root: String, arguments: [String], environment: [String: String] = [:],
        user: (uid: UInt32, gid: UInt32, binary: String, models: String)? = nil
    ) throws {
        logPath = root + "/../serve-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments =
                ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", user.binary]
                + ["serve", "--root", root, "--models", user.models] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: facewatchBinary!)
            process.arguments = ["serve", "--root", root, "--models", modelsDirectory!] + arguments
        }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// Starts one host of a cluster test, `facewatch serve --config CONFIG` on `root` (one worker,
    /// debug log), and waits until it is ready.
    static func host(root: String, config: String, environment: [String: String] = [:]) async throws
        -> DaemonProcess
    {
        let daemon = try DaemonProcess(
            root: root, arguments: ["--config", config, "--workers", "1", "--log-level", "debug"],
            environment: environment)
        try await daemon.waitUntilReady()
        return daemon
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the `ready` log line (models loaded, inbox watched).
    func waitUntilReady(timeout: Duration = .seconds(120)) async throws {
        let ready = await eventually(timeout: timeout) { log.contains(" info ready ") || !process.isRunning }
        guard ready, process.isRunning else {
            Issue.record("daemon not ready: \(log)")
            throw DaemonFailure()
        }
    }

    /// Sends `signal`.
    func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the process to end; its exit status, or nil if it still runs after `timeout`.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(60)) async -> Int32? {
        guard await eventually(timeout: timeout, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM and wait, blocking (SIGKILL if it does not stop): for a `defer`, which cannot await.
    func stop() {
        guard process.isRunning else { return }
        send(SIGTERM)
        if !eventuallyBlocking(timeout: .seconds(60), { !process.isRunning }) {
            send(SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct DaemonFailure: Error {}

// MARK: - Files the tests make

/// Random bytes (not an image).
func noise(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// The mean of every face encoding in `documents`, computed here, in Double.
func meanEncoding(_ documents: [ResultDocument]) -> (faces: Int, mean: [Double]) {
    var sum = [Double](repeating: 0, count: 128)
    var faces = 0
    for document in documents where document.status == .completed {
        for face in document.faces {
            faces += 1
            for i in 0..<128 { sum[i] += Double(face.encoding[i]) }
        }
    }
    return (faces, faces > 0 ? sum.map { $0 / Double(faces) } : [])
}
