import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Daemons on this machine as a fleet's hosts would run them (each its own root and inbox, one
/// shared store and results directory, one PostgreSQL ledger), in the ways a fleet meets trouble:
/// all started at once on a new store, an operator's transaction left open, a connection cut
/// between a COMMIT and its reply.
@Suite(
    .serialized, .timeLimit(.minutes(5)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)),
    .enabled(if: TestPostgres.isAvailable, "no PostgreSQL cluster (make test starts one)"))
struct FleetEndToEndTests {
    @Test func threeDaemonsStartedAtOnceOnANewSharedStoreAllTakeFiles() async throws {
        let fleet = try Fleet("fw-fleet-start")
        defer { fleet.remove() }
        let hosts = ["a", "b", "c"]
        // All three at the same instant, none waiting for another: a fleet's reboot.
        let daemons = try hosts.map { try fleet.launch($0) }
        defer { daemons.forEach { $0.stop() } }
        for daemon in daemons { try await daemon.waitUntilReady() }
        let markers = try ["store", "results"].map {
            try String(contentsOfFile: fleet.shared + "/\($0)/.facewatch-root", encoding: .utf8)
        }
        #expect(markers[0] == markers[1])
        for (host, daemon) in zip(hosts, daemons) {
            for i in 0..<2 { try fleet.drop(host, "f\(i).png", TinyPNG.make(width: 70 + i, height: 50, seed: 10 + i)) }
            #expect(!daemon.log.contains("paused"), "\(host) paused: \(daemon.log)")
        }
        #expect(
            await eventually(timeout: .seconds(120)) { fleet.documents().count == 6 },
            "\(daemons.map(\.log).joined(separator: "\n---\n"))")
        #expect(fleet.documents().allSatisfy { $0.status == .completed })
        for (host, daemon) in zip(hosts, daemons) {
            #expect(daemon.log.contains("ingested "), "\(host) took no file: \(daemon.log)")
            #expect(!daemon.log.contains("paused"), "\(host) paused: \(daemon.log)")
        }
    }

    @Test func aTransactionHeldOpenOnTheCountersMakesNoHostWaitAndEachSaysWhy() async throws {
        let fleet = try Fleet("fw-fleet-lock", settings: "ledger_lock_timeout = 1s\n")
        defer { fleet.remove() }
        let a = try fleet.launch("a")
        defer { a.stop() }
        let b = try fleet.launch("b")
        defer { b.stop() }
        try await a.waitUntilReady()
        try await b.waitUntilReady()
        // A first file each: every host has its counters part.
        try fleet.drop("a", "first.png", TinyPNG.make(width: 60, height: 40, seed: 1))
        try fleet.drop("b", "first.png", TinyPNG.make(width: 61, height: 40, seed: 2))
        #expect(await eventually(timeout: .seconds(60)) { fleet.documents().count == 2 }, "\(a.log)\n---\n\(b.log)")

        // An operator's session locks the counters (every part, and any part a new connection would
        // add) and stays in its transaction.
        let holder = try OpenTransaction(
            socket: fleet.socket, database: fleet.database,
            "BEGIN; LOCK TABLE counter_parts IN EXCLUSIVE MODE; SELECT part FROM counter_parts;")
        defer { holder.end() }
        // Its rows are the hosts' parts, named by host and root: both are locked once it prints them.
        #expect(
            await eventually(timeout: .seconds(30)) {
                holder.output.contains(fleet.base + "/a") && holder.output.contains(fleet.base + "/b")
            }, "\(holder.output)")
        for (host, seed) in [("a", 3), ("b", 4)] {
            try fleet.drop(host, "during.png", TinyPNG.make(width: 62, height: 40, seed: seed))
        }
        // Each host gives up after the lock timeout and says why, and keeps running.
        for (host, daemon) in [("a", a), ("b", b)] {
            #expect(
                await eventually(timeout: .seconds(60)) {
                    daemon.log.contains("gave up waiting for a row another session holds (lock_timeout")
                        && daemon.log.contains("SQLSTATE 55P03")
                        // The batch, already in the store, could not be recorded even one by one.
                        && daemon.log.contains("cannot record a batch of 1 files")
                },
                "\(host) never said why it waits: \(daemon.log)")
            #expect(daemon.process.isRunning)
        }
        #expect(fleet.documents().count == 2)
        holder.end()
        // Released: the files wait no longer than their retry.
        #expect(
            await eventually(timeout: .seconds(120)) { fleet.documents().count == 4 }, "\(a.log)\n---\n\(b.log)")
        // The files a host had moved into its store when its commit gave up were recorded without a restart.
        for daemon in [a, b] {
            #expect(daemon.log.contains("recorded a stored file whose first commit failed"), "\(daemon.log)")
        }
        let output = try await facewatch(["stats", "--config", fleet.configs["a"]!, "--compact"])
        let stats = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        #expect(stats?["total"] as? Int == 4 && stats?["completed"] as? Int == 4, "\(output.stdout)")
    }

    @Test func aCommitWhoseReplyIsLostStillGetsItsDocument() async throws {
        let proxy = try CuttingProxy(socket: TestPostgres.socketDirectory! + "/.s.PGSQL.5432")
        defer { proxy.stop() }
        let fleet = try Fleet("fw-fleet-lost", host: "127.0.0.1:\(proxy.port)")
        defer { fleet.remove() }
        let a = try fleet.launch("a")
        defer { a.stop() }
        try await a.waitUntilReady()
        proxy.arm()
        try fleet.drop("a", "cut.png", TinyPNG.make(width: 64, height: 48, seed: 7))
        #expect(await eventually(timeout: .seconds(60)) { proxy.cuts > 0 }, "the proxy never cut a COMMIT: \(a.log)")
        #expect(
            await eventually(timeout: .seconds(30)) { fleet.documents().count == 1 }, "no result document: \(a.log)")
        #expect(fleet.documents().first?.status == .completed)
        #expect(a.log.contains("cannot commit"), "\(a.log)")
        #expect(a.log.contains("the commit's reply was lost but the ledger has it"), "\(a.log)")
        let output = try await facewatch(["stats", "--config", fleet.configs["a"]!, "--compact"])
        let stats = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
        #expect(stats?["total"] as? Int == 1 && stats?["completed"] as? Int == 1, "\(output.stdout)")
    }

    @Test func aHostKilledDuringIntakeLeavesNoFileWithoutARecordWithAStoreOnEachHost() async throws {
        // Per-host stores and results: each host's root holds its own (the default).
        let fleet = try Fleet("fw-fleet-intake", sharedDirectories: false)
        defer { fleet.remove() }
        let gate = fleet.base + "/gate"
        var a = try fleet.launch(
            "a", environment: ["FACEWATCH_TEST_PAUSE_RECORD": "held", "FACEWATCH_TEST_PAUSE_GATE": gate])
        defer { a.stop() }
        var b = try fleet.launch("b")
        defer { b.stop() }
        try await a.waitUntilReady()
        try await b.waitUntilReady()
        try fleet.drop("a", "held.png", TinyPNG.make(width: 66, height: 44, seed: 5))
        // In a's store, named by its intent only: a dies there.
        #expect(await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: gate + ".paused") })
        a.send(SIGKILL)
        #expect(await a.waitForExit(timeout: .seconds(30)) != nil)
        // b stops uncleanly too and starts once a's lease is over: its start settles a's dead run and
        // reads the dead runs' intents.
        b.send(SIGKILL)
        #expect(await b.waitForExit(timeout: .seconds(30)) != nil)
        #expect(
            await eventually(timeout: .seconds(60)) {
                (try? TestPostgres.query(
                    socket: fleet.socket, database: fleet.database,
                    "SELECT count(*) FROM runs WHERE state = 0 AND lease_until >= now()")) == "0"
            })
        b = try fleet.launch("b")
        try await b.waitUntilReady()
        #expect(!b.log.contains("recorded orphan"), "\(b.log)")
        // a comes back: its file gets its record, under the name it was dropped with.
        a = try fleet.launch("a")
        try await a.waitUntilReady()
        #expect(a.log.contains("recorded orphan"), "\(a.log)")
        let results = fleet.base + "/a/results"
        #expect(
            await eventually(timeout: .seconds(60)) { fleet.documents(in: results).count == 1 }, "\(a.log)")
        #expect(fleet.documents(in: results).first?.source?.name == "held.png")
    }
}

/// Hosts' roots, configs and inboxes in one scratch directory, with one fresh database.
struct Fleet {
    let base: String
    let shared: String
    let socket: String
    let database: String
    private(set) var configs: [String: String] = [:]

    /// `host`: the ledger's TCP `HOST:PORT`, or nil for the cluster's Unix socket.
    /// `sharedDirectories`: one store and results for all (else each host's root has its own).
    init(_ label: String, settings: String = "", host: String? = nil, sharedDirectories: Bool = true) throws {
        let url = try #require(try TestPostgres.freshDatabase())
        socket = TestPostgres.socketDirectory!
        database = String(try #require(URLComponents(string: url)).path.dropFirst())
        base = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
        shared = base + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        let ledger = host.map { "postgres://postgres@\($0)/\(database)?sslmode=disable" } ?? url
        for name in ["a", "b", "c"] {
            let root = base + "/" + name
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let path = base + "/\(name).conf"
            let directories = sharedDirectories ? "store = \(shared)/store\nresults = \(shared)/results" : ""
            try """
            root = \(root)
            \(directories)
            ledger = \(ledger)
            ledger_lease = 3s
            \(settings)
            """.write(toFile: path, atomically: true, encoding: .utf8)
            configs[name] = path
        }
    }

    /// Starts host `name`'s daemon (not waiting for it to be ready).
    func launch(_ name: String, environment: [String: String] = [:]) throws -> DaemonProcess {
        try DaemonProcess(
            root: base + "/" + name, arguments: ["--config", configs[name]!, "--workers", "1", "--log-level", "debug"],
            environment: environment.merging(["FACEWATCH_TEST_RESCAN_MS": "300"]) { mine, _ in mine })
    }

    /// Drops `bytes` as `name` into host `host`'s inbox (written beside it, then renamed in).
    func drop(_ host: String, _ name: String, _ bytes: [UInt8]) throws {
        let staging = base + "/staging-\(host)-\(name)"
        write(bytes, to: staging)
        #expect(rename(staging, base + "/\(host)/inbox/\(name)") == 0)
    }

    func documents(in directory: String? = nil) -> [ResultDocument] {
        let results = directory ?? shared + "/results"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []).filter {
            $0.hasSuffix(".json") && !$0.hasPrefix(".")
        }
        return names.compactMap {
            try? JSONDecoder().decode(
                ResultDocument.self, from: Data(contentsOf: URL(fileURLWithPath: results + "/" + $0)))
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: base) }
}

/// A `psql` session that runs `sql` and then stays connected, inside whatever transaction it
/// opened, until `end()`.
final class OpenTransaction: @unchecked Sendable {
    // @unchecked Sendable: `outputBuffer` is only touched with `lock` held.
    private let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var outputBuffer = ""

    init(socket: String, database: String, _ sql: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = ["-h", socket, "-U", "postgres", "-d", database, "-qAt"]
        process.standardInput = input
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            guard let self else { return }
            self.lock.withLock { self.outputBuffer += text }
        }
        try process.run()
        input.fileHandleForWriting.write(Data((sql + "\n").utf8))
    }

    var output: String { lock.withLock { outputBuffer } }

    /// Rolls back and quits.
    func end() {
        guard process.isRunning else { return }
        input.fileHandleForWriting.write(Data("ROLLBACK;\n\\q\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
