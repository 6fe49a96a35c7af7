import FaceCore
import FaceMatch
import Foundation

// `make bench-match`: the face search on a generated table. Builds ROWS random encodings (seeded;
// components in ±0.15, like dlib's), saves the table as the daemon's file format and reads it back
// (mapped), then times QUERIES searches of the 10 closest faces on it and on the table in memory, one
// core (the scan is single-threaded), and checks the first answer against every distance computed
// one by one.
//     MatchBench [ROWS] [QUERIES] [TABLE_FILE]
//     MatchBench --postgres URL [ROWS] [QUERIES] [CACHE_DIR]    (see PostgresMatchBench)

let arguments = CommandLine.arguments
if arguments.count > 1, arguments[1] == "--postgres" {
    exit(PostgresMatchBench.run(Array(arguments.dropFirst(2))))
}
let rows = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let queries = arguments.count > 2 ? Int(arguments[2]) ?? 50 : 50
let path = arguments.count > 3 ? arguments[3] : NSTemporaryDirectory() + "facewatch-bench-\(getpid()).f32"

/// Every run measures the same table.
extension SeededGenerator {
    mutating func component() -> Float { uniform(-0.15, 0.15) }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// The CPU time (user and system) this thread has used, in seconds: what a busy machine's other
/// work does not stretch, beside the wall times.
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

var generator = SeededGenerator(seed: 2026)
var table = FaceTable(stamp: .init(faces: UInt64(rows), logPosition: UInt64(rows)), capacity: rows)
let built = seconds {
    var encoding = [Float](repeating: 0, count: FaceTable.dimensions)
    for row in 0..<rows {
        for i in 0..<FaceTable.dimensions { encoding[i] = generator.component() }
        table.append(encoding, reference: .init(id: UUID(), face: row & 3))
    }
}
let written = try seconds { try FaceTableFile.write(table, to: path) }
var loaded: FaceTable?
let read = seconds { loaded = FaceTableFile.read(path) }
unlink(path)
guard let loaded, loaded.count == rows else {
    print("bench-match: the table file did not read back")
    exit(1)
}
let megabytes = Double(rows * FaceTable.dimensions * 4) / 1_048_576
print(
    String(
        format:
            "bench-match: %d faces (%.0f MiB of float32): generated in %.2f s, file written in %.2f s, read in %.2f s",
        rows, megabytes, built, written, read))

// Each query runs on the table read from the file (mapped, as `facewatch match` reads it) and on
// the table built in memory, alternately: the two scans compared under the same load.
var times: [Double] = []
var cpuTimes: [Double] = []
var inMemory: [Double] = []
var inMemoryCPU: [Double] = []
var first: [Neighbour] = []
var firstQuery: [Float] = []
for q in 0..<queries {
    let query = (0..<FaceTable.dimensions).map { _ in generator.component() }
    var found: [Neighbour] = []
    var cpuStart = threadCPUSeconds()
    times.append(seconds { found = loaded.nearest(to: query, limit: 10) })
    cpuTimes.append(threadCPUSeconds() - cpuStart)
    var same: [Neighbour] = []
    cpuStart = threadCPUSeconds()
    inMemory.append(seconds { same = table.nearest(to: query, limit: 10) })
    inMemoryCPU.append(threadCPUSeconds() - cpuStart)
    guard same == found else {
        print("bench-match: the table read from the file and the one in memory answer differently")
        exit(1)
    }
    if q == 0 {
        first = found
        firstQuery = query
    }
}

/// The 1-minute load average (the machine's other work, which stretches wall times).
func loadAverage() -> Double {
    var loads = [Double](repeating: 0, count: 3)
    return getloadavg(&loads, 3) > 0 ? loads[0] : -1
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

print(
    String(
        format:
            "bench-match: one query face, 10 closest of %d: median %.1f ms, min %.1f ms, max %.1f ms (%d queries, one core); CPU time median %.1f ms, min %.1f ms; load average %.1f",
        rows, median(times) * 1000, times.min()! * 1000, times.max()! * 1000, queries,
        median(cpuTimes) * 1000, cpuTimes.min()! * 1000, loadAverage()))
print(
    String(
        format:
            "bench-match: the same queries on the table built in memory: median %.1f ms, min %.1f ms; CPU time median %.1f ms, min %.1f ms",
        median(inMemory) * 1000, inMemory.min()! * 1000, median(inMemoryCPU) * 1000, inMemoryCPU.min()! * 1000))

let expected = (0..<loaded.count).map {
    Neighbour(row: $0, distance: FaceDistance.euclidean(loaded.encoding(at: $0), firstQuery))
}
.sorted { ($0.distance, $0.row) < ($1.distance, $1.row) }.prefix(10)
print("bench-match: the first query's answer equals brute force in double: \(Array(expected) == first)")
exit(Array(expected) == first ? 0 : 1)
