import FaceCore
import FaceTestSupport
import Foundation
@testable import FaceLedger

/// A fresh directory under the system temporary directory, removed when released.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("facewatch-ledger-tests-\(UUID().uuidString.lowercased())", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The ledger environment directory inside, as the daemon lays it out (`ROOT/db`).
    var db: URL { url.appendingPathComponent("db", isDirectory: true) }

    deinit { try? FileManager.default.removeItem(at: url) }
}

enum Fixtures {
    static let base = Date(timeIntervalSince1970: 1_764_007_200.123_456)

    /// 64 lowercase hex digits.
    static func sha(_ rng: inout some RandomNumberGenerator) -> String {
        (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }

    static func sha(_ n: Int) -> String {
        var rng = SeededGenerator(seed: UInt64(n) &+ 1)
        return sha(&rng)
    }

    static func record(
        id: UUID = UUID(), createdAt: Date = base, name: String = "party/photo.jpg", sha256: String? = nil,
        bytes: Int64 = 48_211
    ) -> LedgerRecord {
        var system = SystemRandomNumberGenerator()
        return LedgerRecord(
            id: id, source: SourceInfo(name: name, bytes: bytes, sha256: sha256 ?? sha(&system)),
            storePath: "store/\(id.uuidString.lowercased().prefix(2))/\(id.uuidString.lowercased()).jpg",
            createdAt: createdAt)
    }

    static func face(_ rng: inout some RandomNumberGenerator) -> Face {
        let top = Int.random(in: 0..<500, using: &rng)
        let left = Int.random(in: 0..<500, using: &rng)
        return Face(
            location: FaceLocation(top: top, right: left + 80, bottom: top + 80, left: left),
            encoding: (0..<Face.encodingLength).map { _ in Float.random(in: -0.4...0.4, using: &rng) })
    }

    static func faces(_ count: Int, _ rng: inout some RandomNumberGenerator) -> [Face] {
        (0..<count).map { _ in face(&rng) }
    }

    static let jpeg = ImageInfo(format: .jpeg, width: 1126, height: 661)
}

/// The component-wise mean of the faces' encodings, computed the obvious way.
func bruteForceMean(_ faces: [Face]) -> [Double]? {
    guard !faces.isEmpty else { return nil }
    var sum = [Double](repeating: 0, count: Face.encodingLength)
    for face in faces { for i in 0..<Face.encodingLength { sum[i] += Double(face.encoding[i]) } }
    return sum.map { $0 / Double(faces.count) }
}

func maxDifference(_ a: [Double]?, _ b: [Double]?) -> Double {
    guard let a, let b, a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Every record of the ledger, streamed.
func allRecords(_ ledger: LMDBLedger, from: Date? = nil, to: Date? = nil) throws -> [LedgerRecord] {
    var out: [LedgerRecord] = []
    try ledger.forEachRecord(createdFrom: from, to: to) { out.append($0) }
    return out
}

/// The code of the `LedgerError` that `body` throws; nil when it throws nothing or another error.
func errorCode(_ body: () throws -> Void) -> LedgerError.Code? {
    do {
        try body()
        return nil
    } catch let error as LedgerError {
        return error.code
    } catch {
        return nil
    }
}
