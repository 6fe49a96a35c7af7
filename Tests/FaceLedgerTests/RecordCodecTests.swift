import FaceCore
import FaceTestSupport
import Foundation
import Testing
@testable import FaceLedger

/// Decodes a stored value (a plain `throws` wrapper: the tests only care that it throws).
func decodeRecord(_ bytes: [UInt8]) throws -> LedgerRecord {
    try bytes.withUnsafeBytes { buffer in try RecordCodec.decode(buffer) }
}

@Suite(.timeLimit(.minutes(5))) struct RecordCodecTests {
    /// A record with every optional field set, odd values included.
    static func fullRecord() -> LedgerRecord {
        var rng = SeededGenerator(seed: 7)
        var faces = Fixtures.faces(3, &rng)
        faces.append(
            Face(location: FaceLocation(top: 0, right: 1126, bottom: 661, left: 0), encoding: [0, -0, 1e-30, -3.5]))
        return LedgerRecord(
            id: UUID(), status: .failed,
            source: SourceInfo(name: "été/фото 1.jpg", bytes: 1 << 40, sha256: Fixtures.sha(&rng)),
            storePath: "store/ab/x.jpg", createdAt: Date(timeIntervalSinceReferenceDate: 786_000_000.123_456_789),
            image: ImageInfo(format: .png, width: 7000, height: 1), faces: faces,
            completedAt: Date(timeIntervalSince1970: -12.5), duration: 0.012_345_678,
            error: Failure(.crashed, "took the process down 3 times\n\"quoted\""), attempts: 3)
    }

    @Test func roundTripsEveryFieldExactly() throws {
        let record = Self.fullRecord()
        let bytes = try RecordCodec.encode(record)
        let back = try decodeRecord(bytes)
        #expect(back == record)
        #expect(back.createdAt.timeIntervalSinceReferenceDate == record.createdAt.timeIntervalSinceReferenceDate)
    }

    /// Faces with a score or landmarks are stored in format 2 and read back exactly; a record whose
    /// faces carry neither stays in format 1, which builds that know only format 1 read.
    @Test func scoresAndLandmarksRoundTripInFormatTwo() throws {
        var record = Self.fullRecord()
        #expect(try RecordCodec.encode(record).first == 1)
        record.faces[0].score = 1.224_592_033_816_706_7
        record.faces[1].landmarks = FaceLandmarks(points: (0..<68).map { .init(x: $0 - 5, y: 2 * $0) })
        record.faces[2].score = -0.5
        record.faces[2].landmarks = FaceLandmarks(points: (0..<5).map { .init(x: 1000 + $0, y: -$0) })
        let bytes = try RecordCodec.encode(record)
        #expect(bytes.first == 2)
        #expect(try decodeRecord(bytes) == record)
        // A truncated format 2 value is refused, as any other.
        #expect(throws: LedgerError.self) { try decodeRecord(Array(bytes.dropLast(300))) }
        record.faces[0].score = .infinity
        #expect(throws: LedgerError.self) { try RecordCodec.encode(record) }
    }

    /// Every decoded format keeps its stored byte (0 JPEG, 1 PNG, 2 WebP, 3 HEIF, 4 AVIF): records
    /// written before a format was added read back the same.
    @Test(arguments: zip(ImageFormat.allCases, [UInt8(0), 1, 2, 3, 4]))
    func everyImageFormatRoundTripsUnderItsByte(format: ImageFormat, byte: UInt8) throws {
        var record = Self.fullRecord()
        record.image = ImageInfo(format: format, width: 4032, height: 3024)
        let bytes = try RecordCodec.encode(record)
        #expect(try decodeRecord(bytes) == record)
        var other = record
        other.image = ImageInfo(format: .jpeg, width: 4032, height: 3024)
        let jpeg = try RecordCodec.encode(other)
        // The two encodings differ in exactly one byte: the format's.
        let differing = zip(bytes, jpeg).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(differing.map(\.element.0) == (format == .jpeg ? [] : [byte]))
    }

    @Test func anUnknownDigestRoundTripsAndNothingMatchesIt() throws {
        let directory = TemporaryDirectory()
        let ledger = try LMDBLedger(directory: directory.db)
        var record = Fixtures.record(name: "never-read.jpg")
        record.source.sha256 = SourceInfo.unknownSHA256
        #expect(try decodeRecord(try RecordCodec.encode(record)) == record)
        // Completed with the unknown digest, it is not indexed: no lookup finds it. The refusals
        // list round-trips too.
        try ledger.insertCreated(record)
        try ledger.complete(
            record.id, image: ImageInfo(format: .png, width: 1, height: 1), faces: [], completedAt: Date(), duration: 0)
        #expect(try ledger.completedRecord(sha256: SourceInfo.unknownSHA256) == nil)
        #expect(try ledger.completedRecord(sha256: String(repeating: "0", count: 64)) == nil)
        #expect(try ledger.refusals().isEmpty)
        let refused = [InboxRefusal(name: "sub/a.png", reason: "rename: Permission denied (errno 13)", since: Date())]
        try ledger.publishRefusals(refused)
        #expect(try ledger.refusals().map(\.name) == ["sub/a.png"])
    }

    @Test func roundTripsAMinimalCreatedRecord() throws {
        let record = Fixtures.record(name: "")
        let bytes = try RecordCodec.encode(record)
        let back = try decodeRecord(bytes)
        #expect(back == record)
        #expect(back.image == nil && back.completedAt == nil && back.duration == nil && back.error == nil)
    }

    @Test func encodingsAreStoredAsRawFloat32() throws {
        var rng = SeededGenerator(seed: 1)
        var record = Fixtures.record()
        let empty = try RecordCodec.encode(record).count
        record.faces = Fixtures.faces(2, &rng)
        let withFaces = try RecordCodec.encode(record).count
        // Per face: 4 × i32 box + u16 count + 128 × 4 bytes.
        #expect(withFaces - empty == 2 * (16 + 2 + 4 * Face.encodingLength))
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let bytes = try RecordCodec.encode(Self.fullRecord())
        for length in 0..<bytes.count {
            let prefix = Array(bytes[0..<length])
            #expect(throws: LedgerError.self) {
                _ = try decodeRecord(prefix)
            }
        }
    }

    @Test func rejectsTrailingBytesUnknownFormatStatusAndFlags() throws {
        let bytes = try RecordCodec.encode(Self.fullRecord())
        func decode(_ b: [UInt8]) -> LedgerError? {
            do {
                _ = try decodeRecord(b)
                return nil
            } catch let error as LedgerError { return error } catch { return nil }
        }
        #expect(decode(bytes + [0])?.code == .corrupt)
        var badFormat = bytes
        badFormat[0] = 2
        #expect(decode(badFormat)?.code == .corrupt)
        var badStatus = bytes
        badStatus[1] = 9
        #expect(decode(badStatus)?.code == .corrupt)
        var badFlags = bytes
        badFlags[30] |= 0x80
        #expect(decode(badFlags)?.code == .corrupt)
    }

    @Test func randomDamageNeverCrashes() throws {
        let bytes = try RecordCodec.encode(Self.fullRecord())
        var rng = SeededGenerator(seed: 42)
        var decoded = 0
        var rejected = 0
        for _ in 0..<5000 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            do {
                _ = try decodeRecord(damaged)
                decoded += 1
            } catch let error as LedgerError {
                #expect(error.code == .corrupt)
                rejected += 1
            }
        }
        // Damage to lengths, enums or UTF-8 must be caught; damage inside floats decodes.
        #expect(rejected > 0)
        #expect(decoded > 0)
    }

    @Test func refusesValuesItCannotStore() {
        var record = Fixtures.record(sha256: "ABC")
        #expect(throws: LedgerError.self) { try RecordCodec.encode(record) }
        record.source.sha256 = String(repeating: "A", count: 64)  // uppercase is not the documented form
        #expect(throws: LedgerError.self) { try RecordCodec.encode(record) }
        record = Fixtures.record()
        record.faces = [Face(location: FaceLocation(top: 0, right: 1, bottom: 1, left: 0), encoding: [.nan])]
        #expect(throws: LedgerError.self) { try RecordCodec.encode(record) }
        record = Fixtures.record()
        record.image = ImageInfo(format: .jpeg, width: -1, height: 5)
        #expect(throws: LedgerError.self) { try RecordCodec.encode(record) }
    }

    @Test func timeKeysSortChronologically() {
        let dates = [-1e9, -1, -0.000_001, 0, 0.000_000_4, 0.000_001, 1, 1_764_007_200.5, 4e9]
            .map { Date(timeIntervalSince1970: $0) }
        let id = UUID()
        let keys = dates.map { Keys.timeKey(createdAt: $0, id: id) }
        for (a, b) in zip(keys, keys.dropFirst()) {
            #expect(a.lexicographicallyPrecedes(b) || a == b)
        }
        #expect(keys[3] == keys[4])  // same microsecond: ties are broken by the id
        for (date, key) in zip(dates, keys) {
            key.withUnsafeBytes { #expect(Keys.micros(ofTimeKey: $0) == Keys.micros(date)) }
        }
    }
}
