import FaceCore
import FaceLedger
import FaceMatch
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

/// The people of a ledger's faces (`StoredPeople`): records brought in one by one in any order, and
/// taken out again, leave what one pass over the ledger gives; copies of a photo count once; faces
/// the filter refuses take no part.
@Suite(.timeLimit(.minutes(2))) struct StoredPeopleTests {
    /// Photos of generated people: each person a centre, each face near it (about 0.3 apart), so
    /// that the default distance groups a person's faces and keeps people apart.
    static func photos(people: Int, photosEach: Int, strangers: Int, seed: UInt64) -> [LedgerRecord] {
        var generator = SeededGenerator(seed: seed)
        func normal() -> Float {
            let u = Double.random(in: 1e-12..<1, using: &generator)
            let v = Double.random(in: 0..<1, using: &generator)
            return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
        }
        func face(near centre: [Float], spread: Float) -> Face {
            Face(
                location: FaceLocation(top: 10, right: 110, bottom: 110, left: 10),
                encoding: centre.map { $0 + spread * normal() }, score: 1.0)
        }
        var records: [LedgerRecord] = []
        func photo(_ faces: [Face]) {
            let sha = SHA256.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
            records.append(
                LedgerRecord(
                    id: UUID(), status: .completed,
                    source: SourceInfo(name: "p\(records.count).jpg", bytes: 1, sha256: sha),
                    storePath: "store/p\(records.count).jpg", createdAt: Date(timeIntervalSince1970: 1000),
                    image: ImageInfo(format: .jpeg, width: 200, height: 200), faces: faces,
                    completedAt: Date(timeIntervalSince1970: 1001), duration: 0.1))
        }
        let centres = (0..<people).map { _ in (0..<128).map { _ in 0.07 * normal() } }
        for index in 0..<people * photosEach {
            // Some photos hold two people.
            let first = face(near: centres[index % people], spread: 0.02)
            photo(index % 5 == 0 ? [first, face(near: centres[(index + 1) % people], spread: 0.02)] : [first])
        }
        for _ in 0..<strangers { photo([face(near: (0..<128).map { _ in 0.07 * normal() }, spread: 0)]) }
        return records
    }

    static func ledger(with records: [LedgerRecord], in scratch: ScratchDirectory) throws -> LMDBLedger {
        let ledger = try LMDBLedger(directory: URL(fileURLWithPath: scratch.appending("db")))
        try ledger.importRecords(records)
        return ledger
    }

    /// Every record's slots and every face's person: what two groupings must share.
    static func picture(_ people: StoredPeople, _ records: [LedgerRecord]) -> [String] {
        records.map { "\($0.id): \(people.slots(of: $0.id).map { "\($0)" } ?? "untracked")" }
    }

    @Test func oneByOneInThreeOrdersAndRemovalsGiveTheOnePassGrouping() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let records = Self.photos(people: 4, photosEach: 5, strangers: 4, seed: 5)
        let filter = PeopleFilter()
        let rebuilt = try StoredPeople.rebuilt(from: Self.ledger(with: records, in: scratch), filter: filter)
        #expect(rebuilt.grouping.peopleCount == 4, "the generated people are found")
        let expected = Self.picture(rebuilt, records)
        var generator = SeededGenerator(seed: 9)
        for order in [records, records.reversed(), records.shuffled(using: &generator)] {
            var people = StoredPeople(filter: filter)
            var mirror: [UUID: [PersonSlot]] = [:]
            for record in order {
                // What `update` says changed is enough to keep every record's slots up to date.
                for id in people.update(record) { mirror[id] = people.slots(of: id) }
            }
            #expect(Self.picture(people, records) == expected)
            #expect(records.allSatisfy { mirror[$0.id] == people.slots(of: $0.id) })
            // Removing a third and adding them back leaves the same grouping; while they are out,
            // it is the one pass over the others.
            let removed = order.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
            for record in removed { for id in people.remove(record.id) { mirror[id] = people.slots(of: id) } }
            let kept = records.filter { record in !removed.contains { $0.id == record.id } }
            let scratchKept = ScratchDirectory()
            defer { scratchKept.remove() }
            let keptOnly = try StoredPeople.rebuilt(from: Self.ledger(with: kept, in: scratchKept), filter: filter)
            #expect(Self.picture(people, kept) == Self.picture(keptOnly, kept))
            #expect(kept.allSatisfy { mirror[$0.id] == people.slots(of: $0.id) })
            for record in removed { _ = people.update(record) }
            #expect(Self.picture(people, records) == expected)
        }
    }

    @Test func aPhotoStoredTwiceCountsOnceAndStaysUntilBothGo() {
        var records = Self.photos(people: 1, photosEach: 3, strangers: 0, seed: 11)
        var copy = records[0]
        copy.id = UUID()
        records.append(copy)
        var people = StoredPeople(filter: PeopleFilter())
        for record in records { _ = people.update(record) }
        let faces = records.dropLast().reduce(0) { $0 + $1.faces.count }
        #expect(people.grouping.count == faces)
        #expect(people.slots(of: copy.id) == people.slots(of: records[0].id))
        _ = people.remove(records[0].id)
        #expect(people.grouping.count == faces)
        #expect(people.slots(of: copy.id)?.allSatisfy { $0.id != nil } == true)
        _ = people.remove(copy.id)
        #expect(people.grouping.count == faces - copy.faces.count)
    }

    @Test func facesTheFilterRefusesTakeNoPartAndAreAlone() {
        let records = Self.photos(people: 1, photosEach: 4, strangers: 0, seed: 13)
        var unsure = records[0]
        unsure.id = UUID()
        unsure.source.sha256 = SHA256.hex([1, 2, 3])
        unsure.faces = [unsure.faces[0]]
        unsure.faces[0].score = 0.1
        var small = unsure
        small.id = UUID()
        small.source.sha256 = SHA256.hex([4, 5, 6])
        small.faces[0].score = 2
        small.faces[0].location = FaceLocation(top: 0, right: 30, bottom: 30, left: 0)
        var people = StoredPeople(filter: PeopleFilter(minSize: 40, minScore: 0.3))
        for record in records + [unsure, small] { _ = people.update(record) }
        #expect(people.slots(of: records[1].id)?.first?.id != nil)
        #expect(people.slots(of: unsure.id)?.first == .alone && people.slots(of: small.id)?.first == .alone)
        #expect(people.grouping.count == records.reduce(0) { $0 + $1.faces.count })
        // A record that is not completed, or has no faces, holds no face in people.
        var failed = records[1]
        failed.status = .failed
        _ = people.update(failed)
        #expect(people.slots(of: failed.id) == nil)
    }

    // MARK: - The snapshot kept between runs

    /// The people of `records` loaded with `snapshot` (in a ledger of their own), how, and what one
    /// pass over the same ledger gives.
    static func load(
        _ records: [LedgerRecord], snapshot: [UInt8]?, filter: PeopleFilter = PeopleFilter()
    ) throws -> (loaded: [String], origin: StoredPeople.Origin, onePass: [String], people: StoredPeople) {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let ledger = try Self.ledger(with: records, in: scratch)
        let (people, origin) = try StoredPeople.loaded(from: ledger, filter: filter, snapshot: snapshot)
        let onePass = try StoredPeople.rebuilt(from: ledger, filter: filter)
        return (picture(people, records), origin, picture(onePass, records), people)
    }

    static func snapshot(of people: StoredPeople) -> [UInt8] {
        people.grouping.snapshot(position: .init(faceLog: 7, forgotten: 1))
    }

    @Test func aSnapshotGivesTheOnePassGroupingWithFacesForgottenAndAddedWhileStopped() throws {
        let records = Self.photos(people: 5, photosEach: 6, strangers: 5, seed: 17)
        let first = try Self.load(records, snapshot: nil)
        guard case .onePass(let reason) = first.origin else {
            Issue.record("\(first.origin)")
            return
        }
        #expect(reason == "no snapshot")
        #expect(first.people.grouping.peopleCount == 5)
        let bytes = Self.snapshot(of: first.people)
        // The same faces: every face's neighbours from the snapshot, nothing queried.
        let same = try Self.load(records, snapshot: bytes)
        #expect(
            same.origin
                == .snapshot(
                    reused: first.people.grouping.count, added: 0, dropped: 0, position: .init(faceLog: 7, forgotten: 1)
                ))
        #expect(same.loaded == first.onePass)
        // A third of the photos forgotten and others stored while the daemon was stopped, and one
        // photo encoded again (same key, another encoding): the snapshot's faces that remain keep
        // their neighbours, the others are added, and the people are those of one pass.
        var generator = SeededGenerator(seed: 19)
        var later = records.enumerated().filter { $0.offset % 3 != 1 }.map(\.element)
        later += Self.photos(people: 5, photosEach: 2, strangers: 2, seed: 23)
        later[0].faces[0].encoding[5] += 0.01
        later.shuffle(using: &generator)
        let changed = try Self.load(later, snapshot: bytes)
        guard case .snapshot(let reused, let added, let dropped, _) = changed.origin else {
            Issue.record("\(changed.origin)")
            return
        }
        #expect(reused > 0 && added > 0 && dropped > 0, "\(changed.origin)")
        #expect(reused + added == changed.people.grouping.count)
        #expect(changed.loaded == changed.onePass)
    }

    @Test func aSnapshotCutShortChangedOrOfOtherParametersIsNotUsed() throws {
        let records = Self.photos(people: 4, photosEach: 5, strangers: 3, seed: 29)
        let bytes = Self.snapshot(of: try Self.load(records, snapshot: nil).people)
        var cases: [(String, [UInt8])] = [
            ("empty", []), ("cut short", Array(bytes.prefix(bytes.count / 2))),
            ("no checksum", Array(bytes.dropLast(32))),
            ("garbage", Array(repeating: 0x46, count: 500)),
        ]
        for offset in [0, 9, 60, bytes.count / 2, bytes.count - 33, bytes.count - 1] {
            var flipped = bytes
            flipped[offset] ^= 0x10
            cases.append(("byte \(offset) flipped", flipped))
        }
        for (name, corrupt) in cases {
            let loaded = try Self.load(records, snapshot: corrupt)
            guard case .onePass(let reason) = loaded.origin else {
                Issue.record("\(name): \(loaded.origin)")
                continue
            }
            #expect(reason.contains("corrupt"), "\(name): \(reason)")
            #expect(loaded.loaded == loaded.onePass, "\(name)")
        }
        // Made with another cluster_distance or cluster_min_faces: the one pass with this root's.
        for filter in [PeopleFilter(parameters: .init(distance: 0.5)), PeopleFilter(parameters: .init(minFaces: 4))] {
            let loaded = try Self.load(records, snapshot: bytes, filter: filter)
            guard case .onePass(let reason) = loaded.origin else {
                Issue.record("\(loaded.origin)")
                continue
            }
            #expect(reason.contains("cluster_distance 0.55 and cluster_min_faces 3"), "\(reason)")
            #expect(loaded.loaded == loaded.onePass)
        }
        // A snapshot of other faces altogether (fewer than half of these): one pass.
        let others = Self.photos(people: 4, photosEach: 5, strangers: 3, seed: 31)
        let loaded = try Self.load(others, snapshot: bytes)
        guard case .onePass(let reason) = loaded.origin else {
            Issue.record("\(loaded.origin)")
            return
        }
        #expect(reason.contains("holds 0 of the"), "\(reason)")
    }

    @Test func theSnapshotFileIsReplacedWholeAndATemporaryOneACrashLeftIsRemoved() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let root = scratch.appending("root")
        #expect(PeopleSnapshotFile.read(root: root) == nil)
        let records = Self.photos(people: 2, photosEach: 4, strangers: 1, seed: 37)
        let people = try Self.load(records, snapshot: nil).people
        // A write cut short by a crash: a temporary file beside the snapshot.
        let folder = DurableFile.parentDirectory(of: PeopleSnapshotFile.path(root: root))
        try DurableFile.createDirectories(folder)
        let leftover = folder + "/.facewatch-0123456789abcdef01234567.tmp"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: leftover))
        try PeopleSnapshotFile.write(people, position: .init(faceLog: 3, forgotten: 0), root: root)
        #expect(!FileManager.default.fileExists(atPath: leftover))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["grouping.bin"])
        let loaded = try Self.load(records, snapshot: PeopleSnapshotFile.read(root: root))
        #expect(
            loaded.origin
                == .snapshot(
                    reused: people.grouping.count, added: 0, dropped: 0, position: .init(faceLog: 3, forgotten: 0)))
        #expect(loaded.loaded == loaded.onePass)
    }
}
