#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import Foundation
import Testing

/// Runs the real `facewatch` binary on real files and a real LMDB ledger.

/// The repository's root, from this file's path.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The built binary: `$FACEWATCH_BIN`, else `facewatch` next to the test bundle (the same build
/// folder), else `<repo>/.build/debug/facewatch`.
let facewatchBinary: String? = {
    if let explicit = ProcessInfo.processInfo.environment["FACEWATCH_BIN"], !explicit.isEmpty { return explicit }
    var candidates: [String] = []
    if let executable = Bundle.main.executablePath {
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On macOS the tests run inside a .xctest bundle: climb out of it.
        while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        candidates.append(directory.appendingPathComponent("facewatch").path)
    }
    if let bundle = Bundle.allBundles.first(where: { $0.bundlePath.hasSuffix(".xctest") }) {
        candidates.append(URL(fileURLWithPath: bundle.bundlePath).deletingLastPathComponent().appendingPathComponent("facewatch").path)
    }
    candidates.append(repositoryRoot + "/.build/debug/facewatch")
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// The dlib models: `$FACEWATCH_MODELS` or `<repo>/models`.
let modelsDirectory: String? = {
    let candidate = ProcessInfo.processInfo.environment["FACEWATCH_MODELS"] ?? repositoryRoot + "/models"
    return FileManager.default.fileExists(atPath: candidate + "/dlib_face_recognition_resnet_model_v1.dat") ? candidate : nil
}()

/// The conformance images (`make test-images`): `$FACEWATCH_TEST_IMAGES` or `<repo>/.cache/test-images`.
let testImagesDirectory: String? = {
    let candidate = ProcessInfo.processInfo.environment["FACEWATCH_TEST_IMAGES"] ?? repositoryRoot + "/.cache/test-images"
    return FileManager.default.fileExists(atPath: candidate + "/astronaut.png") ? candidate : nil
}()

let canRunDaemon = facewatchBinary != nil && modelsDirectory != nil
let whyNot = facewatchBinary == nil
    ? "no facewatch binary next to the tests (build it, or set FACEWATCH_BIN)"
    : "no models in <repo>/models (run `make models` or set FACEWATCH_MODELS)"

/// What a finished command printed.
struct CommandOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `facewatch ARGS` to completion (at most `timeout` seconds).
@discardableResult
func facewatch(_ arguments: [String], timeout: Double = 120) throws -> CommandOutput {
    try runCaptured(facewatchBinary!, arguments, label: "facewatch \(arguments.joined(separator: " "))", timeout: timeout)
}

/// Runs `executable ARGS` with no standard input, capturing stdout and stderr through files (pipes
/// could fill up and stall the child), killing it after `timeout` seconds with a recorded issue.
func runCaptured(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, label: String,
    timeout: Double
) throws -> CommandOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let scratch = NSTemporaryDirectory() + "fw-out-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: scratch + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: scratch + ".err", contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: scratch + ".out")
        try? FileManager.default.removeItem(atPath: scratch + ".err")
    }
    process.standardOutput = FileHandle(forWritingAtPath: scratch + ".out")
    process.standardError = FileHandle(forWritingAtPath: scratch + ".err")
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        Issue.record("\(label) did not finish in \(timeout) s")
    }
    process.waitUntilExit()
    return CommandOutput(
        status: process.terminationStatus,
        stdout: (try? String(contentsOfFile: scratch + ".out", encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: scratch + ".err", encoding: .utf8)) ?? "")
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass; returns whether it held.
func eventually(timeout: Double = 120, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// A state root in a fresh temporary directory, and the daemons run on it.
final class TestRoot {
    let base: String
    let root: String

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

    /// Starts `facewatch serve` on this root with two workers and waits until it is ready.
    func startDaemon(_ extra: [String] = [], waitReady: Bool = true) throws -> DaemonProcess {
        let daemon = try DaemonProcess(root: root, arguments: ["--workers", "2", "--log-level", "debug"] + extra)
        if waitReady { try daemon.waitUntilReady() }
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
        ((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.count
    }

    /// The entries stored under `store/<shard>/` (any kind), by UUID text.
    func storedEntries(in storeDirectory: String? = nil) -> [String: String] {
        let store = storeDirectory ?? self.store
        var found: [String: String] = [:]
        for shard in (try? FileManager.default.contentsOfDirectory(atPath: store)) ?? [] where shard.count == 2 {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: store + "/" + shard)) ?? [] where !name.hasPrefix(".") {
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
    func stats() throws -> [String: Any] {
        let output = try facewatch(["stats", "--root", root, "--compact"])
        #expect(output.status == 0, "stats: \(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any] ?? [:]
    }
}

/// A running `facewatch serve`, its log in a file.
final class DaemonProcess {
    let process = Process()
    let logPath: String

    /// Starts `facewatch serve --root ROOT --models ... ARGUMENTS`, with `environment` added to
    /// this process's environment.
    init(root: String, arguments: [String], environment: [String: String] = [:]) throws {
        logPath = root + "/../serve-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: facewatchBinary!)
        process.arguments = ["serve", "--root", root, "--models", modelsDirectory!] + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the `ready` log line (models loaded, inbox watched).
    func waitUntilReady(timeout: Double = 120) throws {
        let ready = eventually(timeout: timeout) { log.contains(" info ready ") || !process.isRunning }
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
    func waitForExit(timeout: Double = 60) -> Int32? {
        guard eventually(timeout: timeout, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM and wait (SIGKILL if it does not stop).
    func stop() {
        guard process.isRunning else { return }
        send(SIGTERM)
        if waitForExit(timeout: 60) == nil {
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

/// Small valid PNGs written without any image library: 8-bit RGB, zlib "stored" blocks.
enum TinyPNG {
    /// A `width`×`height` PNG whose pixels derive from `seed`: different seeds, different bytes.
    static func make(width: Int = 4, height: Int = 4, seed: Int = 0) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (1 + width * 3))
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        for _ in 0..<height {
            raw.append(0)
            for _ in 0..<(width * 3) {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                raw.append(UInt8(truncatingIfNeeded: state))
            }
        }
        return png(width: UInt32(width), height: UInt32(height), idat: zlibStored(raw))
    }

    /// A PNG header claiming `width`×`height` with almost no data: a decompression bomb's header.
    static func bomb(width: UInt32, height: UInt32) -> [UInt8] {
        png(width: width, height: height, idat: zlibStored([0, 0, 0, 0]))
    }

    static func png(width: UInt32, height: UInt32, idat: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        out += chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])
        out += chunk("IDAT", idat)
        out += chunk("IEND", [])
        return out
    }

    static func be(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be(UInt32(data.count)) + body + be(crc32(body))
    }

    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            out.append(offset + length == data.count ? 1 : 0)
            out += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8((~length >> 8) & 0xff)]
            out += data[offset..<offset + length]
            offset += length
        } while offset < data.count
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return out + be((b << 16) | a)
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in data { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return ~crc
    }
}

/// Writes `bytes` to `path` (creating directories), in one go.
func write(_ bytes: [UInt8], to path: String) {
    try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        Issue.record("cannot write \(path)")
        return
    }
}

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
