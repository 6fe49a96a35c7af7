import CLMDB
import FaceCore
import FaceTestSupport
import Foundation
import Testing
@testable import FaceLedger

/// Opening, map growth, schema versions and migration, read-only access, backups.
@Suite(.timeLimit(.minutes(10))) struct EnvironmentTests {
    func error(_ body: () throws -> Void) -> LedgerError? {
        do {
            try body()
            return nil
        } catch let error as LedgerError {
            return error
        } catch {
            return nil
        }
    }

    @Test func theMapGrowsTransparentlyFromATinySize() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 64 << 10))
        #expect(ledger.mapSize == 64 << 10)
        var rng = SeededGenerator(seed: 12)
        var all: [LedgerRecord] = []
        // One transaction far larger than the map: grows by doubling until it fits.
        let big = (0..<2000).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) }
        try ledger.insertCreated(big)
        all += big
        // Then thousands more in ordinary transactions, with faces, growing on the way.
        for chunk in 0..<20 {
            let batch = (0..<100).map { i in
                Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double(10_000 + chunk * 100 + i)))
            }
            try ledger.insertCreated(batch)
            all += batch
        }
        var faces: [Face] = []
        for r in all.prefix(300) {
            let f = Fixtures.faces(4, &rng)
            faces += f
            _ = try ledger.complete(r.id, image: Fixtures.jpeg, faces: f, completedAt: Date(), duration: 0)
        }
        #expect(ledger.mapSize >= 2 << 20)
        let stats = try ledger.stats()
        #expect(stats.total == 4000 && stats.counts[.completed] == 300 && stats.encodedFaces == 1200)
        #expect(maxDifference(stats.average, bruteForceMean(faces)) < 1e-12)
        for r in all.suffix(50) { #expect(try ledger.record(r.id) == r) }
        #expect(try ledger.queued(limit: 5000).count == 3700)
        let check = try ledger.countersCheck()
        #expect(check.stored == check.recomputed)
    }

    @Test func growthStopsAtTheLimitWithoutLosingData() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(
            directory: dir.db, options: LMDBLedger.Options(mapSize: 64 << 10, maxMapSize: 256 << 10))
        var inserted = 0
        var failure: LedgerError?
        while failure == nil && inserted < 100_000 {
            let batch = (0..<50).map { _ in Fixtures.record(name: String(repeating: "n", count: 200)) }
            do {
                try ledger.insertCreated(batch)
                inserted += batch.count
            } catch {
                failure = error
            }
        }
        #expect(failure?.code == .mapFull)
        #expect(ledger.mapSize == 256 << 10)
        #expect(try ledger.stats().total == inserted)
        #expect(try ledger.queued(limit: 100_000).count == inserted)
    }

    @Test func theMapSizeSurvivesReopening() throws {
        let dir = TemporaryDirectory()
        let grown: Int
        do {
            let ledger = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 64 << 10))
            try ledger.insertCreated((0..<1500).map { _ in Fixtures.record() })
            grown = ledger.mapSize
            #expect(grown > 64 << 10)
        }
        let again = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 64 << 10))
        #expect(again.mapSize >= grown)
        #expect(try again.stats().total == 1500)
        let reader = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: true))
        #expect(try reader.stats().total == 1500)
    }

    @Test func aLargerConfiguredSizeRaisesAnExistingMap() throws {
        let dir = TemporaryDirectory()
        do { _ = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 64 << 10)) }
        let ledger = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 8 << 20))
        #expect(ledger.mapSize == 8 << 20)
    }

    // MARK: - Schema

    /// Writes a schema-0 database the way facewatch did before versioning: `records` only, with raw
    /// LMDB calls, plus a stale `by_time` entry that the migration must discard.
    static func writeVersion0(at dir: URL, records: [LedgerRecord]) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var env: OpaquePointer?
        #expect(mdb_env_create(&env) == 0)
        defer { mdb_env_close(env) }
        #expect(mdb_env_set_maxdbs(env, 4) == 0)
        #expect(mdb_env_set_mapsize(env, 16 << 20) == 0)
        #expect(mdb_env_open(env, dir.path, 0, 0o660) == 0)
        var txn: OpaquePointer?
        #expect(mdb_txn_begin(env, nil, 0, &txn) == 0)
        var dbi: MDB_dbi = 0
        #expect(mdb_dbi_open(txn, "records", UInt32(MDB_CREATE), &dbi) == 0)
        for record in records {
            var key = record.id.bytes
            var value = try RecordCodec.encode(record)
            key.withUnsafeMutableBytes { k in
                value.withUnsafeMutableBytes { v in
                    var kv = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                    var vv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                    #expect(mdb_put(txn, dbi, &kv, &vv, 0) == 0)
                }
            }
        }
        var stale: MDB_dbi = 0
        #expect(mdb_dbi_open(txn, "by_time", UInt32(MDB_CREATE), &stale) == 0)
        var junk = [UInt8](repeating: 0xEE, count: 24)
        junk.withUnsafeMutableBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
            var vv = MDB_val(mv_size: 0, mv_data: k.baseAddress)
            #expect(mdb_put(txn, stale, &kv, &vv, 0) == 0)
        }
        #expect(mdb_txn_commit(txn) == 0)
    }

    /// Sets `meta.schema_version` with raw LMDB calls; returns the previous value.
    static func setSchemaVersion(at dir: URL, _ version: UInt32?) -> UInt32? {
        var env: OpaquePointer?
        #expect(mdb_env_create(&env) == 0)
        defer { mdb_env_close(env) }
        #expect(mdb_env_set_maxdbs(env, 8) == 0)
        #expect(mdb_env_open(env, dir.path, 0, 0o660) == 0)
        var txn: OpaquePointer?
        #expect(mdb_txn_begin(env, nil, 0, &txn) == 0)
        var dbi: MDB_dbi = 0
        #expect(mdb_dbi_open(txn, "meta", 0, &dbi) == 0)
        var key = Array("schema_version".utf8)
        var previous: UInt32?
        key.withUnsafeMutableBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
            var vv = MDB_val()
            if mdb_get(txn, dbi, &kv, &vv) == 0, vv.mv_size == 4 {
                previous = UInt32(littleEndian: vv.mv_data!.loadUnaligned(as: UInt32.self))
            }
            if var version {
                withUnsafeMutableBytes(of: &version) { v in
                    var nv = MDB_val(mv_size: 4, mv_data: v.baseAddress)
                    #expect(mdb_put(txn, dbi, &kv, &nv, 0) == 0)
                }
            }
        }
        #expect(mdb_txn_commit(txn) == 0)
        return previous
    }

    @Test func aVersion0DatabaseIsMigratedOnOpen() throws {
        let dir = TemporaryDirectory()
        var rng = SeededGenerator(seed: 77)
        var records: [LedgerRecord] = []
        var faces: [Face] = []
        for i in 0..<120 {
            var r = Fixtures.record(
                createdAt: Fixtures.base.addingTimeInterval(Double((i * 37) % 120)), sha256: Fixtures.sha(&rng))
            switch i % 3 {
            case 0:
                r.status = .completed
                r.faces = Fixtures.faces(i % 4, &rng)
                r.image = Fixtures.jpeg
                r.completedAt = Fixtures.base
                r.duration = 0.1
                faces += r.faces
            case 1:
                r.status = .failed
                r.error = Failure(.notAnImage, "text")
            default:
                r.attempts = 2
            }
            records.append(r)
        }
        try Self.writeVersion0(at: dir.db, records: records)

        // A reader cannot migrate: it says so and names the versions.
        let refused = error { _ = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: true)) }
        #expect(refused?.code == .olderSchema)
        #expect(refused?.message.contains("version 0") == true)

        let ledger = try LMDBLedger(directory: dir.db)
        #expect(try ledger.storedSchemaVersion() == LedgerSchema.currentVersion)
        let stats = try ledger.stats()
        #expect(stats.counts == [.created: 40, .completed: 40, .failed: 40])
        #expect(stats.faces == faces.count && stats.encodedFaces == faces.count)
        #expect(maxDifference(stats.average, bruteForceMean(faces)) < 1e-12)
        let created = QueryTests.creationOrder(records.filter { $0.status == .created }).map(\.id)
        #expect(try ledger.queued(limit: 1000) == created)
        let done = records.first { $0.status == .completed }!
        #expect(try ledger.completedRecord(sha256: done.source.sha256) == done)
        #expect(try ledger.indexSizes() == (120, 120, 40, 40))  // the stale by_time entry is gone
        let tallies = try ledger.finalTalliesCheck()
        #expect(FinalTalliesTests.agree(tallies.stored, tallies.recomputed))
        #expect(try allRecords(ledger).map(\.id) == QueryTests.creationOrder(records).map(\.id))
        // The migrated database works as any other.
        let next = records.first { $0.status == .created }!
        #expect(try ledger.beginAttempt(next.id) == 3)
    }

    @Test func aNewerSchemaIsRefusedAndLeftAlone() throws {
        let dir = TemporaryDirectory()
        let record = Fixtures.record()
        do {
            let ledger = try LMDBLedger(directory: dir.db)
            try ledger.insertCreated(record)
        }
        let current = LedgerSchema.currentVersion
        #expect(Self.setSchemaVersion(at: dir.db, current + 1) == current)
        for readOnly in [false, true] {
            let refused = error {
                _ = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: readOnly))
            }
            #expect(refused?.code == .newerSchema)
            #expect(refused?.message.contains("version \(current + 1)") == true)
            #expect(refused?.message.contains("version \(current)") == true)
        }
        #expect(Self.setSchemaVersion(at: dir.db, nil) == current + 1)
        // Back to the current version: the data was not touched.
        _ = Self.setSchemaVersion(at: dir.db, current)
        #expect(try LMDBLedger(directory: dir.db).record(record.id) == record)
    }

    @Test func aReaderNeedsAnExistingLedger() throws {
        let dir = TemporaryDirectory()
        #expect(
            error { _ = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: true)) }?.code
                == .notFound)
        try FileManager.default.createDirectory(at: dir.db, withIntermediateDirectories: true)
        #expect(
            error { _ = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: true)) }?.code
                == .notFound)
        #expect(!FileManager.default.fileExists(atPath: dir.db.appendingPathComponent("data.mdb").path))
    }

    // MARK: - Read-only access

    @Test func aReadOnlyLedgerReadsWhileAnotherWrites() async throws {
        let dir = TemporaryDirectory()
        let writer = try LMDBLedger(directory: dir.db)
        let reader = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: true))
        #expect(reader.isReadOnly)
        #expect(error { try reader.insertCreated(Fixtures.record()) }?.code == .readOnly)
        // A writable open while this process holds the directory read-only is refused, the other way
        // round is shared.
        let total = 150
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 0..<total {
                    let r = Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double(i)))
                    try writer.insertCreated(r)
                    _ = try writer.complete(r.id, image: Fixtures.jpeg, faces: [], completedAt: Date(), duration: 0)
                }
            }
            group.addTask {
                var last = 0
                // Read as often as possible until the writer is done (with a deadline, so a writer
                // that fails cannot leave this reader spinning).
                let finished = try await eventually(timeout: .seconds(120), interval: .zero) {
                    let stats = try reader.stats()
                    // Every snapshot is consistent: a record is created or completed, never both.
                    #expect(stats.total == (stats.counts[.created] ?? 0) + (stats.counts[.completed] ?? 0))
                    #expect(stats.total >= last)
                    last = stats.counts[.completed] ?? 0
                    return last >= total
                }
                #expect(finished, "the writer completed \(last) of \(total)")
            }
            try await group.waitForAll()
        }
        #expect(try reader.stats().counts[.completed] == total)
    }

    @Test func aWritableOpenIsRefusedWhileOpenReadOnlyInThisProcess() throws {
        let dir = TemporaryDirectory()
        do { _ = try LMDBLedger(directory: dir.db) }
        do {
            let reader = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(readOnly: true))
            #expect(error { _ = try LMDBLedger(directory: dir.db) }?.code == .alreadyOpen)
            #expect(try reader.stats().total == 0)
        }
        // Once the reader is released, the environment is closed and can be opened for writing.
        let writer = try LMDBLedger(directory: dir.db)
        try writer.insertCreated(Fixtures.record())
    }

    @Test func readersAreNotBlockedByAnOpenWriteTransaction() throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        try ledger.insertCreated(Fixtures.record())
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let environment = ledger.environment
        Thread.detachNewThread {
            _ = try? environment.write { txn throws(LedgerError) in
                try txn.put(environment.databases.meta, Array("test".utf8), [1])
                started.signal()
                _ = release.wait(timeout: .now() + 30)
            }
            finished.signal()
        }
        #expect(started.wait(timeout: .now() + 10) == .success)
        // The write transaction is open (LMDB's writer lock is held); reads proceed.
        #expect(try ledger.stats().total == 1)
        #expect(try ledger.queued(limit: 10).count == 1)
        release.signal()
        #expect(finished.wait(timeout: .now() + 10) == .success)
    }

    @Test(.enabled(if: programPath("mdb_stat") != nil, "needs mdb_stat from lmdb-utils"))
    func anotherProcessReadsWhileThisOneWrites() async throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 64 << 10))
        let mdbStat = programPath("mdb_stat")!
        @Sendable func entries() async throws -> Int? {
            let run = try await runProgram(mdbStat, ["-s", "records", dir.db.path])
            guard run.status == 0 else { return nil }
            let line = run.stdout.split(separator: "\n").first { $0.contains("Entries:") }
            return line.flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
        }
        try ledger.insertCreated((0..<10).map { _ in Fixtures.record() })
        #expect(try await entries() == 10)
        // With a write transaction open and uncommitted, a reader in another process is not blocked
        // and sees the last committed state. A write transaction belongs to its thread: one thread
        // holds it open until the other process has read.
        let environment = ledger.environment
        let opened = DispatchSemaphore(value: 0)
        let commit = DispatchSemaphore(value: 0)
        let committed = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? environment.write { txn throws(LedgerError) in
                let r = Fixtures.record()
                try txn.put(environment.databases.records, r.id.bytes, try RecordCodec.encode(r))
                opened.signal()
                _ = commit.wait(timeout: .now() + 120)
            }
            committed.signal()
        }
        #expect(await eventually(timeout: .seconds(60)) { opened.wait(timeout: .now()) == .success })
        let seen = try await entries()
        commit.signal()
        #expect(await eventually(timeout: .seconds(60)) { committed.wait(timeout: .now()) == .success })
        #expect(seen == 10)
        #expect(try await entries() == 11)
        // The reader follows the writer as the map grows.
        for round in 1...5 {
            try ledger.insertCreated((0..<400).map { _ in Fixtures.record() })
            #expect(try await entries() == 11 + round * 400)
        }
        #expect(ledger.mapSize > 64 << 10)
    }

    // MARK: - Concurrency

    @Test func concurrentWritersFromManyTasks() async throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db, options: LMDBLedger.Options(mapSize: 128 << 10))
        let tasks = 8
        let perTask = 24
        let results = try await withThrowingTaskGroup(of: [Face].self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var rng = SeededGenerator(seed: UInt64(t))
                    var faces: [Face] = []
                    for i in 0..<perTask {
                        let r = Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double(t * 1000 + i)))
                        try ledger.insertCreated(r)
                        #expect(try ledger.beginAttempt(r.id) == 1)
                        if i % 4 == 3 {
                            _ = try ledger.fail(r.id, Failure(.corruptImage, "x"), completedAt: Date(), duration: 0)
                        } else {
                            let f = Fixtures.faces(i % 3, &rng)
                            faces += f
                            _ = try ledger.complete(
                                r.id, image: Fixtures.jpeg, faces: f, completedAt: Date(), duration: 0)
                        }
                        _ = try ledger.stats()
                    }
                    return faces
                }
            }
            var all: [Face] = []
            for try await faces in group { all += faces }
            return all
        }
        let stats = try ledger.stats()
        #expect(stats.counts == [.created: 0, .completed: tasks * perTask * 3 / 4, .failed: tasks * perTask / 4])
        #expect(stats.encodedFaces == results.count)
        #expect(maxDifference(stats.average, bruteForceMean(results)) < 1e-9)
        let check = try ledger.countersCheck()
        #expect(check.stored.created == check.recomputed.created)
        #expect(check.stored.completed == check.recomputed.completed)
        #expect(check.stored.encodedFaces == check.recomputed.encodedFaces)
        #expect(maxDifference(check.stored.sum, check.recomputed.sum) < 1e-9)
        #expect(try ledger.queued(limit: 10).isEmpty)
    }

    @Test func ledgersOnTheSameDirectoryShareOneEnvironment() throws {
        let dir = TemporaryDirectory()
        let a = try LMDBLedger(directory: dir.db)
        let b = try LMDBLedger(directory: dir.url.appendingPathComponent("./db"))
        #expect(a.environment === b.environment)
        let r = Fixtures.record()
        try a.insertCreated(r)
        #expect(try b.record(r.id) == r)
    }

    // MARK: - Backup

    /// The README's backup command (`mdb_copy -c`, from lmdb-utils) copies a ledger in use into one
    /// that opens with the same content.
    @Test func theReadmeBackupCommandCopiesTheLedger() async throws {
        let dir = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: dir.db)
        let p = try QueryTests.populate(ledger, count: 200, seed: 1)
        let backup = dir.url.appendingPathComponent("backup", isDirectory: true)
        try FileManager.default.createDirectory(at: backup, withIntermediateDirectories: true)
        let mdbCopy = try #require(programPath("mdb_copy"), "mdb_copy missing: make deps installs lmdb-utils")
        let copied = try await runProgram(mdbCopy, ["-c", dir.db.path, backup.path])
        #expect(copied.status == 0, "\(copied.stderr)")
        let copy = try LMDBLedger(directory: backup, options: LMDBLedger.Options(readOnly: true))
        #expect(try copy.stats() == ledger.stats())
        #expect(try allRecords(copy) == allRecords(ledger))
        #expect(try copy.queued(limit: 1000) == ledger.queued(limit: 1000))
        #expect(p.records.count == 200)
    }
}
