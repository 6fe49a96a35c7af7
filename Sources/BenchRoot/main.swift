// facewatch-bench-root ROOT COUNT: writes a ledger of COUNT final records into ROOT/db and their
// result documents into ROOT/results, as a root that many files went through and whose daemon then
// stopped gracefully, for `make bench` to time a daemon's start on it. Nine in ten records are
// completed with one face, one in ten failed (the failure codes in turn). The documents are written
// without fsync (a fixture, not a daemon's work); no store files are made: after a graceful stop a
// start does not scan the store. With `--people` the faces are those of generated people (as
// `make bench-people` makes them: a person's centre of normal components, sd 0.05, each face sd 0.025
// around it; half the people seen once, the others 2 to 40 times), to time a start that groups them.
import FaceCore
import FaceLedger
import Foundation

let arguments = CommandLine.arguments
let peopleShaped = arguments.count == 4 && arguments[3] == "--people"
guard arguments.count == 3 || peopleShaped, let count = Int(arguments[2]), count > 0 else {
    FileHandle.standardError.write(Data("usage: facewatch-bench-root ROOT COUNT [--people]\n".utf8))
    exit(2)
}
let root = URL(fileURLWithPath: arguments[1], isDirectory: true)
let codes: [FailureCode] = [.notAnImage, .corruptImage, .tooManyPixels, .emptyFile, .unsupportedFormat]
/// The next face's encoding: uniform, or (`--people`) a face of the current generated person.
struct Encodings {
    let peopleShaped: Bool
    var centre: [Float] = []
    var left = 0

    static func normal(_ sd: Double) -> Float {
        Float(
            sd * (-2 * log(Double.random(in: 1e-12..<1))).squareRoot() * cos(2 * Double.pi * Double.random(in: 0..<1)))
    }

    mutating func next() -> [Float] {
        guard peopleShaped else { return (0..<Face.encodingLength).map { _ in Float.random(in: -0.3...0.3) } }
        if left == 0 {
            centre = (0..<Face.encodingLength).map { _ in Self.normal(0.05) }
            left = Bool.random() ? 1 : Int.random(in: 2...40)
        }
        left -= 1
        return centre.map { $0 + Self.normal(0.025) }
    }
}
func hex(_ count: Int) -> String {
    (0..<count).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
}

do {
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    let ledger = try LMDBLedger(directory: root.appendingPathComponent("db", isDirectory: true))
    let results = root.appendingPathComponent("results", isDirectory: true)
    try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
    let start = Date(timeIntervalSinceNow: -Double(count))
    var written = 0
    var encodings = Encodings(peopleShaped: peopleShaped)
    while written < count {
        var batch: [LedgerRecord] = []
        for n in written..<min(count, written + 1000) {
            let id = UUID()
            let created = start.addingTimeInterval(Double(n))
            var record = LedgerRecord(
                id: id, source: SourceInfo(name: String(format: "photo-%06d.jpg", n), bytes: 200_000, sha256: hex(32)),
                storePath: "store/\(id.uuidString.lowercased().prefix(2))/\(id.uuidString.lowercased()).jpg",
                createdAt: created,
                completedAt: created.addingTimeInterval(0.2), duration: 0.15, attempts: 1)
            if n % 10 == 9 {
                record.status = .failed
                record.error = Failure(codes[(n / 10) % codes.count], "generated for the benchmark")
                record.duration = 0.002
            } else {
                record.status = .completed
                record.image = ImageInfo(format: .jpeg, width: 1024, height: 768)
                record.faces = [
                    Face(
                        location: FaceLocation(top: 100, right: 300, bottom: 300, left: 100), encoding: encodings.next()
                    )
                ]
            }
            batch.append(record)
        }
        try ledger.importRecords(batch)
        for record in batch {
            let text = Array((record.resultDocument().json.serialized() + "\n").utf8)
            let path = results.appendingPathComponent(record.id.uuidString.lowercased() + ".json").path
            // Plain open and write: Foundation's file writes go through a temporary file and a rename.
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            let wrote = fd < 0 ? -1 : text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if fd >= 0 { close(fd) }
            guard wrote == text.count else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        }
        written += batch.count
    }
    // One run that ended gracefully: the next start is not an unclean one (no store scan).
    let run = try ledger.beginRun(previousDiedOfFault: false)
    try ledger.endRun(run.incarnation)
    print("facewatch-bench-root: \(written) records in \(root.path)/db, their documents in \(results.path)")
} catch {
    FileHandle.standardError.write(Data("facewatch-bench-root: \(error)\n".utf8))
    exit(1)
}
