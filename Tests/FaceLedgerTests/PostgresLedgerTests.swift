import FaceCore
import FaceLedgerPostgres
import FaceTestSupport
import Foundation
import Testing

@testable import FaceLedger

/// What only the PostgreSQL ledger does: the URL, authentication, errors, and the queue several
/// daemons share (claims, leases, the settling of a dead daemon's run, the publisher role).
@Suite(.timeLimit(.minutes(2)))
struct PostgresLedgerTests {
    static func open(_ url: String, owner: String, lease: Duration = .seconds(30), readOnly: Bool = false) throws
        -> PostgresLedger
    {
        try PostgresLedger(
            location: PostgresLocation(url: url), options: .init(readOnly: readOnly, owner: owner, lease: lease))
    }

    @Test func theURLIsReadLikeLibpqAndNeverShowsThePassword() throws {
        let tcp = try PostgresLocation(url: "postgres://fw:s%40cret@db.example:5433/faces?sslmode=require")
        #expect(tcp.user == "fw" && tcp.password == "s@cret" && tcp.host == "db.example" && tcp.port == 5433)
        #expect(tcp.database == "faces" && tcp.tls == .require)
        #expect(tcp.redacted == "postgres://fw@db.example:5433/faces?sslmode=require")
        let socket = try PostgresLocation(url: "postgresql://fw@/faces?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql" && socket.host == nil && socket.tls == .prefer)
        #expect(!PostgresLocation.redact("postgres://fw:hunter2@h/db").contains("hunter2"))
        #expect(throws: LedgerError.self) { try PostgresLocation(url: "postgres://h/db?sslmode=sometimes") }
        #expect(throws: LedgerError.self) { try PostgresLocation(url: "mysql://h/db") }
    }

    @Test func aPasswordFromTheURLAuthenticatesAndAWrongOneIsRefused() throws {
        guard let url = try TestPostgres.freshDatabase(user: "facewatch_scram", password: "scram secret") else {
            return
        }
        let ledger = try Self.open(url, owner: "a")
        #expect(!ledger.location.contains("secret"))
        try ledger.insertCreated(Fixtures.record())
        #expect(try ledger.stats().total == 1)
        let wrong = url.replacingOccurrences(of: "scram%20secret", with: "wrong")
        #expect(throws: LedgerError.self) { try Self.open(wrong, owner: "a") }
    }

    /// A backlog that grows faster than autovacuum looks gets the table's statistics refreshed, so
    /// that the queue read walks its index in order instead of sorting the whole backlog.
    @Test func aGrowingBacklogGetsTheRecordsTableAnalyzed() throws {
        guard let url = try TestPostgres.freshDatabase(), let socket = TestPostgres.socketDirectory else { return }
        // postgres://postgres@/NAME?host=SOCKET
        let database = try #require(url.components(separatedBy: "@/").last?.components(separatedBy: "?").first)
        let ledger = try Self.open(url, owner: "a")
        let analyzed = "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'records' AND last_analyze IS NOT NULL"
        try ledger.insertCreated((0..<999).map { _ in Fixtures.record() })
        #expect(try TestPostgres.query(socket: socket, database: database, analyzed) == "0")
        try ledger.insertCreated(Fixtures.record())
        // `last_analyze` is the column of an ANALYZE run by a session (autovacuum's is `last_autoanalyze`).
        #expect(
            try eventuallyBlocking(timeout: .seconds(30)) {
                try TestPostgres.query(socket: socket, database: database, analyzed) == "1"
            })
        #expect(try ledger.queued(limit: 3).count == 3)
    }

    @Test func aServerThatCannotBeReachedIsUnavailableAndAMissingLedgerNotFound() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        do {
            _ = try Self.open("postgres://postgres@/nowhere?host=/nonexistent-socket-dir", owner: "a")
            Issue.record("opened a ledger without a server")
        } catch let error as LedgerError {
            #expect(error.code == .unavailable, "\(error)")
        }
        do {
            _ = try Self.open(url, owner: "a", readOnly: true)
            Issue.record("opened a read-only ledger in an empty database")
        } catch let error as LedgerError {
            #expect(error.code == .notFound, "\(error)")
        }
        _ = try Self.open(url, owner: "a")
        let reader = try Self.open(url, owner: "a", readOnly: true)
        #expect(try reader.stats().total == 0)
        do throws(LedgerError) {
            try reader.insertCreated(Fixtures.record())
            Issue.record("a read-only ledger wrote")
        } catch {
            #expect(error.code == .readOnly)
        }
    }

    @Test func aClaimedRecordIsRefusedToOtherDaemonsAndHiddenFromTheirQueue() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let hostA = try Self.open(url, owner: "a")
        let hostB = try Self.open(url, owner: "b")
        let (x, y) = (Fixtures.record(createdAt: Fixtures.base), Fixtures.record(createdAt: Fixtures.base + 1))
        try hostA.insertCreated([x, y])
        let runA = try hostA.beginRun(previousDiedOfFault: false)
        let runB = try hostB.beginRun(previousDiedOfFault: false)
        #expect(runA.incarnation != runB.incarnation)
        #expect(try hostA.beginAttempt(x.id, incarnation: runA.incarnation, solo: false) == 1)
        do throws(LedgerError) {
            _ = try hostB.beginAttempt(x.id, incarnation: runB.incarnation, solo: false)
            Issue.record("B claimed a record A holds")
        } catch {
            #expect(error.code == .invalidTransition)
        }
        #expect(try hostB.queued(limit: 10) == [y.id])
        #expect(try hostA.queued(limit: 10) == [x.id, y.id], "a daemon's own claims stay in its queue")
        // A graceful end lets the record go without a charge.
        try hostA.endRun(runA.incarnation)
        #expect(try hostB.queued(limit: 10) == [x.id, y.id])
        #expect(try hostB.beginAttempt(x.id, incarnation: runB.incarnation, solo: true) == 2)
        #expect(try hostB.deaths(x.id) == Deaths())
    }

    @Test func aRunWhoseLeaseExpiredIsSettledByAnotherDaemonAsALocalDeathWouldBe() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let dying = try Self.open(url, owner: "dying", lease: .seconds(1))
        let survivor = try Self.open(url, owner: "survivor", lease: .seconds(30))
        let (alone, beside, spare) = (Fixtures.record(), Fixtures.record(), Fixtures.record())
        try dying.insertCreated([alone, beside, spare])
        let dead = try dying.beginRun(previousDiedOfFault: false)
        let live = try survivor.beginRun(previousDiedOfFault: false)
        _ = try dying.beginAttempt(alone.id, incarnation: dead.incarnation, solo: true)
        _ = try dying.beginAttempt(beside.id, incarnation: dead.incarnation, solo: false)
        #expect(try survivor.queued(limit: 10) == [spare.id])
        // `dying` renews nothing: once its lease is over, the survivor's renewal settles it.
        let settled = try eventuallyBlocking(timeout: .seconds(20), interval: .milliseconds(200)) { () -> Bool in
            try survivor.renewLease(live.incarnation)
            return try survivor.deaths(alone.id) == Deaths(kills: 1)
        }
        #expect(settled)
        #expect(try survivor.deaths(beside.id) == Deaths())
        #expect(Set(try survivor.suspects(limit: 10)) == [alone.id, beside.id])
        #expect(try survivor.queued(limit: 10) == [spare.id], "suspects are handed out one at a time")
        #expect(try survivor.beginAttempt(alone.id, incarnation: live.incarnation, solo: true) == 2)
        // The dead daemon comes back: its renewal says it was settled.
        do throws(LedgerError) {
            try dying.renewLease(dead.incarnation)
            Issue.record("a settled run renewed its lease silently")
        } catch {
            #expect(error.code == .invalidTransition)
        }
    }

    @Test func oneDaemonAtATimeHoldsThePublisherRole() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let hostA = try Self.open(url, owner: "a")
        let hostB = try Self.open(url, owner: "b")
        let runA = try hostA.beginRun(previousDiedOfFault: false)
        #expect(try hostA.holdsPublisherRole())
        #expect(try hostA.holdsPublisherRole())
        #expect(try hostB.holdsPublisherRole() == false)
        try hostA.endRun(runA.incarnation)
        #expect(
            try eventuallyBlocking(timeout: .seconds(10), interval: .milliseconds(100)) {
                try hostB.holdsPublisherRole()
            })
        #expect(try hostA.holdsPublisherRole() == false)
    }

    @Test func withAStoreOnEachHostADaemonTakesOnlyTheRecordsOfItsOwnStore() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let location = try PostgresLocation(url: url)
        let hostA = try PostgresLedger(location: location, options: .init(owner: "a", storeID: "store-a"))
        let hostB = try PostgresLedger(location: location, options: .init(owner: "b", storeID: "store-b"))
        let (mine, theirs) = (Fixtures.record(createdAt: Fixtures.base), Fixtures.record(createdAt: Fixtures.base + 1))
        try hostA.insertCreated(mine)
        try hostB.insertCreated(theirs)
        let imported = Fixtures.record(createdAt: Fixtures.base + 2)
        try hostA.importRecords([imported])
        #expect(try hostA.queued(limit: 10) == [mine.id, imported.id])
        #expect(try hostB.queued(limit: 10) == [theirs.id])
        let runB = try hostB.beginRun(previousDiedOfFault: false)
        do throws(LedgerError) {
            _ = try hostB.beginAttempt(mine.id, incarnation: runB.incarnation, solo: false)
            Issue.record("B claimed a record whose file is in A's store")
        } catch {
            #expect(error.code == .invalidTransition)
        }
    }

    @Test func aLostConnectionIsUnavailableThenReconnectedAndChangesNothing() throws {
        guard let url = try TestPostgres.freshDatabase(), let socket = TestPostgres.socketDirectory else { return }
        let ledger = try Self.open(url, owner: "a")
        let record = Fixtures.record()
        try ledger.insertCreated(record)
        _ = try ledger.beginAttempt(record.id)
        // The server ends every session of the database (as a restart would).
        let database = try #require(url.split(separator: "/").last?.split(separator: "?").first.map(String.init))
        try TestPostgres.psql(
            socket: socket,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid()"
        )
        var codes: [LedgerError.Code] = []
        let completed = try eventuallyBlocking(timeout: .seconds(20), interval: .milliseconds(50)) { () -> Bool in
            do throws(LedgerError) {
                try ledger.complete(record.id, image: Fixtures.jpeg, faces: [], completedAt: Date(), duration: 0.1)
                return true
            } catch {
                codes.append(error.code)
                return false
            }
        }
        #expect(completed)
        // A connection the pool sees closed is replaced before use; one that breaks while in use
        // is `.unavailable` (transient), never another code.
        #expect(codes.allSatisfy { $0 == .unavailable }, "\(codes)")
        #expect(try ledger.stats().counts == [.created: 0, .completed: 1, .failed: 0])
        #expect(try ledger.record(record.id)?.attempts == 1)
    }
}
