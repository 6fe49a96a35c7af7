import FaceLedgerPostgres
import FaceTestSupport
import Foundation
import Testing

@testable import FaceLedger

/// The shared queue's order is the database's clock, not the hosts'.
@Suite(.timeLimit(.minutes(1)))
struct PostgresQueueClockTests {
    @Test func aHostWhoseClockRunsFastDoesNotPutItsFilesBehindTheOthers() throws {
        guard let url = try TestPostgres.freshDatabase() else { return }
        let location = try PostgresLocation(url: url)
        let fast = try PostgresLedger(location: location, options: .init(owner: "fast"))
        let slow = try PostgresLedger(location: location, options: .init(owner: "slow"))
        // The fast host's file arrives first, stamped an hour ahead; the other's second, stamped now.
        let first = Fixtures.record(createdAt: Date().addingTimeInterval(3600))
        let second = Fixtures.record(createdAt: Date())
        try fast.insertCreated(first)
        try slow.insertCreated(second)
        #expect(try slow.queued(limit: 10) == [first.id, second.id])
        #expect(try slow.queued(limit: 10, after: first.id) == [second.id])
        // Within one batch the records keep their own order.
        let batch = (1...3).map { Fixtures.record(createdAt: Fixtures.base.addingTimeInterval(Double($0))) }
        try slow.insertCreated(batch)
        #expect(try fast.queued(limit: 10) == [first.id, second.id] + batch.map(\.id))
    }
}
