import FaceMatch
import Foundation

/// SplitMix64, so every run measures the same faces.
struct BenchGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }
    /// A normal deviate (Box–Muller).
    mutating func normal(_ sd: Double) -> Float {
        Float(sd * (-2 * log(unit())).squareRoot() * cos(2 * Double.pi * unit()))
    }
    mutating func key() -> FaceKey { FaceKey(high: next(), low: next()) }
}

/// Faces shaped like dlib's for many people: a person's centre has normal components of sd 0.05 and
/// each face adds normal noise of sd 0.025, so two faces of one person lie ~0.40 apart and faces of
/// two people ~0.90 apart (the golden set's named faces: 0.28 and 0.84 on average, docs/people.md).
/// Half the people are seen once (strangers); the others in 2 to 40 faces.
struct GeneratedPeople {
    var generator: BenchGenerator
    var centres: [[Float]] = []

    mutating func newCentre() -> [Float] {
        let centre = (0..<FaceRangeIndex.dimensions).map { _ in generator.normal(0.05) }
        centres.append(centre)
        return centre
    }

    mutating func face(of centre: [Float]) -> (key: FaceKey, encoding: [Float]) {
        (generator.key(), centre.map { $0 + generator.normal(0.025) })
    }

    mutating func faces(_ count: Int) -> [(key: FaceKey, encoding: [Float])] {
        var result: [(key: FaceKey, encoding: [Float])] = []
        result.reserveCapacity(count)
        while result.count < count {
            let centre = newCentre()
            let size = generator.next() % 2 == 0 ? 1 : 2 + Int(generator.next() % 39)
            for _ in 0..<min(size, count - result.count) { result.append(face(of: centre)) }
        }
        return result
    }
}

/// The time `body` took: on the processor (this thread's CPU time, what one core spends, whatever
/// else runs on a shared machine) and on the wall clock.
struct Timing {
    var cpu: Double
    var wall: Double
}

/// "CPU median …, 90th percentile …, max …; wall median …" of `timings` (at least one), in ms.
func spread(_ timings: [Timing]) -> String {
    let cpu = timings.map(\.cpu).sorted()
    let wall = timings.map(\.wall).sorted()
    return String(
        format: "CPU median %.2f ms, 90th percentile %.2f ms, max %.2f ms; wall median %.2f ms",
        cpu[cpu.count / 2] * 1000, cpu[cpu.count * 9 / 10] * 1000, cpu[cpu.count - 1] * 1000,
        wall[wall.count / 2] * 1000)
}

func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func timed(_ body: () throws -> Void) rethrows -> Timing {
    let cpu = threadCPUSeconds()
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Timing(cpu: threadCPUSeconds() - cpu, wall: wall)
}

/// The process's CPU time (user and system, every thread).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func maximumResidentMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

func runBench(faces count: Int, adds: Int, threads: Int) -> Bool {
    let parameters = PeopleGrouping.Parameters()
    var people = GeneratedPeople(generator: BenchGenerator(state: 2026))
    var faces: [(key: FaceKey, encoding: [Float])] = []
    let generated = timed { faces = people.faces(count) }
    print(
        String(
            format: "bench-people: %d generated faces of %d people in %.1f s", count, people.centres.count,
            generated.wall))
    fflush(nil)
    var grouping = PeopleGrouping(parameters: parameters)
    let processCPU = processCPUSeconds()
    let rebuilt = try! timed {
        grouping = try PeopleGrouping.rebuilt(from: faces, parameters: parameters, threads: threads)
    }
    print(
        String(
            format:
                "bench-people: full rebuild on %d threads %.1f s CPU (all threads), %.1f s wall (%d people), max RSS %.0f MiB",
            threads, processCPUSeconds() - processCPU, rebuilt.wall, grouping.peopleCount, maximumResidentMiB()))
    fflush(nil)
    let before = grouping.assignments()
    // What a daemon's start does with its people snapshot: written, then restored for the same faces.
    var snapshot: [UInt8] = []
    let written = timed { snapshot = grouping.snapshot(position: .init(faceLog: UInt64(count), forgotten: 0)) }
    var restored: PeopleGrouping.Restored?
    let read = timed {
        restored = try? PeopleGrouping.restored(snapshot: snapshot, faces: faces, parameters: parameters)
    }
    print(
        String(
            format:
                "bench-people: snapshot of %.1f MiB made in %.2f s CPU; restored in %.2f s CPU, %.2f s wall (%d faces reused), equal to the rebuild: %@",
            Double(snapshot.count) / 1_048_576, written.cpu, read.cpu, read.wall, restored?.reused ?? 0,
            restored?.grouping.assignments() == before ? "yes" : "NO"))
    fflush(nil)
    // New faces: half of known people (they join or extend a person), half of strangers.
    var added: [(key: FaceKey, encoding: [Float])] = []
    for i in 0..<adds {
        let centre =
            i % 2 == 0
            ? people.centres[Int(people.generator.next() % UInt64(people.centres.count))] : people.newCentre()
        added.append(people.face(of: centre))
    }
    var scanned = FaceRangeIndex.ScanCounts()
    for face in added {
        let counts = grouping.scanCounts(for: face.encoding)
        scanned.queries += counts.queries
        scanned.rowsScanned += counts.rowsScanned
        scanned.measured += counts.measured
        scanned.found += counts.found
    }
    print(
        String(
            format:
                "bench-people: a query compares the codes of %.1f%% of the faces, measures %.1f faces in double and finds %.1f",
            100 * Double(scanned.rowsScanned) / Double(scanned.queries * count),
            Double(scanned.measured) / Double(scanned.queries), Double(scanned.found) / Double(scanned.queries)))
    var addTimes: [Timing] = []
    var removeTimes: [Timing] = []
    for face in added { addTimes.append(try! timed { try grouping.add(face.key, encoding: face.encoding) }) }
    for face in added.reversed() { removeTimes.append(try! timed { try grouping.remove(face.key) }) }
    func report(_ what: String, _ timings: [Timing]) {
        print("bench-people: \(what) one face: \(spread(timings)) (\(timings.count) faces)")
    }
    report("add", addTimes)
    report("remove", removeTimes)
    let same = grouping.assignments() == before
    print("bench-people: after the adds and removes, the grouping equals the full rebuild: \(same)")
    fflush(nil)
    print(String(format: "bench-people: max RSS %.0f MiB", maximumResidentMiB()))
    return same
}

/// The range query alone on an index of `count` generated faces: what adding one face to a grouping
/// of that many costs, without the one-pass grouping first (the updates after the query are
/// measured by `runBench`). Prints the query's CPU median, 90th percentile and maximum.
func runIndexBench(faces count: Int, queries: Int) {
    var people = GeneratedPeople(generator: BenchGenerator(state: 2026))
    var faces: [(key: FaceKey, encoding: [Float])] = []
    let generated = timed { faces = people.faces(count) }
    var index = FaceRangeIndex()
    let inserted = timed { for (i, face) in faces.enumerated() { index.insert(Int32(i), encoding: face.encoding) } }
    print(
        String(
            format: "bench-index: %d generated faces of %d people in %.1f s, indexed in %.1f s CPU", count,
            people.centres.count, generated.wall, inserted.cpu))
    var timings: [Timing] = []
    var counts = FaceRangeIndex.ScanCounts()
    for i in 0..<queries {
        let centre =
            i % 2 == 0
            ? people.centres[Int(people.generator.next() % UInt64(people.centres.count))] : people.newCentre()
        let query = people.face(of: centre).encoding
        timings.append(
            timed { _ = index.within(PeopleGrouping.Parameters.defaultDistance, of: query, counts: &counts) })
    }
    print(
        "bench-index: one range query: \(spread(timings))"
            + String(
                format: " (%d queries, %.1f faces measured in double and %.1f found a query)", queries,
                Double(counts.measured) / Double(queries), Double(counts.found) / Double(queries)))
    print(String(format: "bench-index: max RSS %.0f MiB", maximumResidentMiB()))
}
