import FaceCore
import FaceTestSupport
import Foundation
import Testing

@testable import FaceLedger

/// Known pictures, labels, counts per person and the relabel's durable progress.
@Suite(.timeLimit(.minutes(1)))
struct PeopleLedgerTests {
    static func picture(_ path: String, _ person: String, _ value: Float?, size: Int64 = 10) -> KnownPicture {
        KnownPicture(
            path: path, person: person, size: size, modified: 1_764_000_000.5,
            encoding: value.map { [Float](repeating: $0, count: 128) }, problem: value == nil ? "no face found" : nil)
    }

    @Test func aChangeStartsANewGenerationAndNothingElseDoes() throws {
        let directory = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: directory.db)
        #expect(try ledger.peopleState() == .initial(tolerance: 0.6))
        var state = try ledger.updateKnownPictures(
            upserting: [Self.picture("alice.jpg", "alice", 0.1), Self.picture("bob/1.jpg", "bob", nil)], removing: [],
            tolerance: 0.6)
        #expect(state.generation == 1 && state.isRelabelling && state.cursor == nil)
        // The same pictures again, a removal of nothing: no new generation.
        state = try ledger.updateKnownPictures(
            upserting: [Self.picture("alice.jpg", "alice", 0.1)], removing: ["carol.jpg"], tolerance: 0.6)
        #expect(state.generation == 1)
        #expect(
            try ledger.knownPictures() == [
                Self.picture("alice.jpg", "alice", 0.1), Self.picture("bob/1.jpg", "bob", nil),
            ])
        // A changed picture, a removal, a new tolerance: each is a change.
        #expect(
            try ledger.updateKnownPictures(
                upserting: [Self.picture("alice.jpg", "alice", 0.2, size: 11)], removing: [], tolerance: 0.6
            )
            .generation == 2)
        #expect(try ledger.updateKnownPictures(upserting: [], removing: ["bob/1.jpg"], tolerance: 0.6).generation == 3)
        #expect(try ledger.updateKnownPictures(upserting: [], removing: [], tolerance: 0.5).generation == 4)
        #expect(try ledger.peopleState().tolerance == 0.5)
        #expect(try ledger.knownPictures().map(\.path) == ["alice.jpg"])
    }

    @Test func labelsKeepTheCountsPerPersonAndNeverGoBackAGeneration() throws {
        let directory = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: directory.db)
        let (a, b) = (UUID(), UUID())
        let alice = PersonMatch(name: "alice", distance: 0.3)
        let bob = PersonMatch(name: "bob", distance: 0.5)
        try ledger.storeLabels([
            (a, StoredLabels(generation: 1, faces: [[alice, bob], [alice]])),
            (b, StoredLabels(generation: 1, faces: [[], [bob]])),
        ])
        #expect(
            try ledger.personCounts() == [
                "alice": PersonCount(faces: 2, results: 1), "bob": PersonCount(faces: 2, results: 2),
            ])
        // A newer generation replaces the labels and their counts.
        try ledger.storeLabels([(a, StoredLabels(generation: 2, faces: [[], []]))])
        #expect(try ledger.personCounts() == ["bob": PersonCount(faces: 1, results: 1)])
        // An older one is ignored (a newer relabel already passed).
        try ledger.storeLabels([(a, StoredLabels(generation: 1, faces: [[alice], [alice]]))])
        #expect(try ledger.labels(a) == StoredLabels(generation: 2, faces: [[], []]))
        #expect(try ledger.personCounts() == ["bob": PersonCount(faces: 1, results: 1)])
    }

    @Test func theRelabelCursorIsCommittedWithItsBatchAndResetByAChange() throws {
        let directory = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: directory.db)
        var rng = SeededGenerator(seed: 4)
        var ids: [UUID] = []
        for i in 0..<5 {
            let record = Fixtures.record(name: "p\(i).jpg")
            try ledger.insertCreated(record)
            try ledger.complete(
                record.id, image: Fixtures.jpeg, faces: Fixtures.faces(1, &rng), completedAt: Fixtures.base,
                duration: 0.1)
            ids.append(record.id)
        }
        ids.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        let state = try ledger.updateKnownPictures(
            upserting: [Self.picture("a.jpg", "a", 0.1)], removing: [], tolerance: 0.6)
        let first = try ledger.records(after: nil, limit: 2)
        #expect(first.records.map(\.id) == Array(ids.prefix(2)) && !first.finished)
        try ledger.storeLabels(
            [],
            progress: .init(generation: state.generation, cursor: first.records.last?.id, visited: 2, finished: false))
        var now = try ledger.peopleState()
        #expect(now.cursor == ids[1] && now.visited == 2 && now.isRelabelling)
        // Reopened (as after a crash): the cursor is there; the rest follows it.
        let rest = try ledger.records(after: now.cursor, limit: 10)
        #expect(rest.records.map(\.id) == Array(ids.dropFirst(2)) && rest.finished)
        // Progress of an outdated generation is ignored; a change restarts the relabel.
        try ledger.updateKnownPictures(upserting: [], removing: ["a.jpg"], tolerance: 0.6)
        try ledger.storeLabels(
            [], progress: .init(generation: state.generation, cursor: ids[4], visited: 3, finished: true))
        now = try ledger.peopleState()
        #expect(now.generation == state.generation + 1 && now.cursor == nil && now.visited == 0 && now.isRelabelling)
        try ledger.storeLabels(
            [], progress: .init(generation: now.generation, cursor: ids[4], visited: 5, finished: true))
        #expect(try ledger.peopleState().isRelabelling == false)
    }

    @Test func aReadOnlyOpenSeesThePeopleOfTheWriter() throws {
        let directory = TemporaryDirectory()
        do {
            let ledger = try LMDBLedger(directory: directory.db)
            try ledger.updateKnownPictures(upserting: [Self.picture("a.jpg", "a", 0.1)], removing: [], tolerance: 0.6)
        }
        let reader = try LMDBLedger(directory: directory.db, options: .init(readOnly: true))
        #expect(try reader.knownPictures().map(\.person) == ["a"])
        #expect(throws: LedgerError.self) {
            try reader.updateKnownPictures(upserting: [], removing: ["a.jpg"], tolerance: 0.6)
        }
    }
}
