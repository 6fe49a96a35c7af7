import FaceMatch
import Foundation

// The grouping outside the daemon, for `make conformance-people-groups` and `make bench-people`:
//     PeopleGroupingTool group FILE --distance D --min-faces M [--incremental SEED]
//         FILE: one JSON object a line, {"key": 32 hex digits, "encoding": [128 numbers]}. Prints one
//         line a face, {"key", "person" (16 hex digits or null), "core"}, sorted by key. Without
//         --incremental the grouping is rebuilt in one pass; with it the faces are added in an order
//         shuffled by SEED, a tenth of them removed and added again on the way.
//     PeopleGroupingTool bench [FACES] [ADDS] [THREADS]
//         FACES generated faces (default 1,000,000): the full rebuild's time on THREADS threads
//         (default: every processor), ADDS single adds and removes timed against it (one thread),
//         the rebuild equal to the incremental result, and the memory.
//     PeopleGroupingTool bench-index [FACES] [QUERIES]
//         The range query alone (what adding a face costs before its updates) on an index of FACES
//         generated faces (default 1,000,000), without the one-pass grouping.

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("PeopleGroupingTool: \(message)\n".utf8))
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let at = arguments.firstIndex(of: name), at + 1 < arguments.count else { return nil }
    return arguments[at + 1]
}

switch arguments.first {
case "group":
    guard arguments.count >= 2, let distance = option("--distance").flatMap(Double.init),
        let minFaces = option("--min-faces").flatMap(Int.init)
    else { fail("usage: group FILE --distance D --min-faces M [--incremental SEED]") }
    let faces = readFaces(arguments[1])
    let parameters = PeopleGrouping.Parameters(distance: distance, minFaces: minFaces)
    let grouping: PeopleGrouping
    do {
        if let seed = option("--incremental").flatMap(UInt64.init) {
            grouping = try groupIncrementally(faces, parameters: parameters, seed: seed)
        } else {
            grouping = try PeopleGrouping.rebuilt(from: faces, parameters: parameters)
        }
    } catch { fail("\(error)") }
    var output = ""
    for face in faces.sorted(by: { $0.key < $1.key }) {
        let person = grouping.person(of: face.key).map { "\"\($0)\"" } ?? "null"
        output += "{\"key\": \"\(face.key)\", \"person\": \(person), \"core\": \(grouping.isCore(face.key))}\n"
    }
    FileHandle.standardOutput.write(Data(output.utf8))
case "bench":
    let count = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
    let adds = arguments.count > 2 ? Int(arguments[2]) ?? 200 : 200
    let threads = arguments.count > 3 ? Int(arguments[3]) : nil
    exit(runBench(faces: count, adds: adds, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount) ? 0 : 1)
case "bench-index":
    let count = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
    runIndexBench(faces: count, queries: arguments.count > 2 ? Int(arguments[2]) ?? 200 : 200)
default:
    fail("usage: PeopleGroupingTool group FILE ... | bench [FACES] [ADDS] [THREADS] | bench-index [FACES] [QUERIES]")
}

func readFaces(_ path: String) -> [(key: FaceKey, encoding: [Float])] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
    var faces: [(key: FaceKey, encoding: [Float])] = []
    for line in text.split(separator: "\n") where !line.isEmpty {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let keyText = object["key"] as? String, let key = FaceKey(keyText),
            let numbers = object["encoding"] as? [NSNumber]
        else { fail("a line of \(path) is not {\"key\", \"encoding\"}") }
        faces.append((key, numbers.map { $0.floatValue }))
    }
    return faces
}

/// Adds `faces` in an order shuffled by `seed`, removing every tenth face added so far and adding it
/// back at the end.
func groupIncrementally(
    _ faces: [(key: FaceKey, encoding: [Float])], parameters: PeopleGrouping.Parameters, seed: UInt64
) throws -> PeopleGrouping {
    var generator = BenchGenerator(state: seed)
    var order = faces
    for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
    var grouping = PeopleGrouping(parameters: parameters)
    var removed: [(key: FaceKey, encoding: [Float])] = []
    for (i, face) in order.enumerated() {
        try grouping.add(face.key, encoding: face.encoding)
        if i % 10 == 9 {
            let gone = order[Int(generator.next() % UInt64(i + 1))]
            if grouping.contains(gone.key) {
                try grouping.remove(gone.key)
                removed.append(gone)
            }
        }
    }
    for face in removed.reversed() { try grouping.add(face.key, encoding: face.encoding) }
    return grouping
}
