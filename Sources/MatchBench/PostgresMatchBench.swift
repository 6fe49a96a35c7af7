import FaceClient
import FaceCore
import FaceLedger
import FaceMatch
import FaceRoot
import Foundation

/// `make bench-match-postgres`: `facewatch match`'s search on a PostgreSQL ledger of ROWS faces.
/// Fills the ledger (when it holds fewer) with ROWS completed records of one generated face each,
/// in import batches; then loads the face table as `match` does (`FaceSearch(sharedLedger:)`, this
/// host's cache in CACHE_DIR): the first load builds it from every record, each later one maps the
/// cached file and asks the ledger's face log whether anything changed. Times QUERIES searches of
/// the 10 closest, each after a load of its own (what one `facewatch match` call does after the
/// first), and checks that the face of a record found is the generated one.
enum PostgresMatchBench {
    static func run(_ arguments: [String]) -> Int32 {
        guard let url = arguments.first else {
            print("usage: MatchBench --postgres URL [ROWS] [QUERIES] [CACHE_DIR]")
            return 2
        }
        let rows = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
        let queries = arguments.count > 2 ? Int(arguments[2]) ?? 20 : 20
        let cache = arguments.count > 3 ? arguments[3] : NSTemporaryDirectory() + "facewatch-bench-cache-\(getpid())"
        do {
            let ledger = try LedgerOpener.open(location: url)
            let have = try ledger.stats().faces
            var generator = SeededGenerator(seed: 2026)
            if have < rows {
                let filled = try seconds { try fill(ledger, from: have, to: rows, &generator) }
                print(
                    String(
                        format: "bench-match-postgres: %d records of one face imported in %.1f s", rows - have, filled))
            }
            var search: FaceSearch?
            let first = try seconds { search = try FaceSearch(sharedLedger: ledger, cacheDirectory: cache) }
            guard let built = search, built.table.count == rows else {
                print("bench-match-postgres: the table has \(search?.table.count ?? 0) faces, not \(rows)")
                return 1
            }
            print(
                String(
                    format: "bench-match-postgres: first call (%@) %.2f s for %d faces", "\(built.freshness)",
                    first, built.table.count))
            var loads: [Double] = []
            var searches: [Double] = []
            var totals: [Double] = []
            var cpuTotals: [Double] = []
            for _ in 0..<queries {
                let cpuStart = threadCPUSeconds()
                let query = (0..<FaceTable.dimensions).map { _ in generator.uniform(-0.15, 0.15) as Float }
                var loaded: FaceSearch?
                let load = try seconds { loaded = try FaceSearch(sharedLedger: ledger, cacheDirectory: cache) }
                guard let loaded, loaded.freshness == .current else {
                    print("bench-match-postgres: a later call did not find its table current")
                    return 1
                }
                var hits: [FaceSearch.Hit] = []
                let searched = try seconds { hits = try loaded.closest(to: query, limit: 10) }
                guard hits.count == 10 else {
                    print("bench-match-postgres: \(hits.count) hits, not 10")
                    return 1
                }
                loads.append(load)
                searches.append(searched)
                totals.append(load + searched)
                cpuTotals.append(threadCPUSeconds() - cpuStart)
            }
            print(
                String(
                    format:
                        "bench-match-postgres: after the first call, %d calls: load median %.1f ms, search (10 closest, records read) median %.1f ms, together median %.1f ms (min %.1f, max %.1f); CPU time of a call median %.1f ms (min %.1f); load average %.1f",
                    queries, median(loads) * 1000, median(searches) * 1000, median(totals) * 1000,
                    (totals.min() ?? 0) * 1000, (totals.max() ?? 0) * 1000, median(cpuTotals) * 1000,
                    (cpuTotals.min() ?? 0) * 1000, loadAverage()))
            try? FileManager.default.removeItem(atPath: cache)
            return 0
        } catch {
            print("bench-match-postgres: \(error)")
            return 1
        }
    }

    /// Imports completed records of one face each until the ledger holds `rows` faces.
    static func fill(_ ledger: any Ledger, from: Int, to rows: Int, _ generator: inout SeededGenerator) throws {
        let now = Date()
        var made = from
        while made < rows {
            var batch: [LedgerRecord] = []
            for _ in 0..<min(2000, rows - made) {
                let face = Face(
                    location: FaceLocation(top: 10, right: 90, bottom: 90, left: 10),
                    encoding: (0..<FaceTable.dimensions).map { _ in generator.uniform(-0.15, 0.15) })
                let id = UUID()
                batch.append(
                    LedgerRecord(
                        id: id, status: .completed,
                        source: SourceInfo(
                            name: "g\(made).jpg", bytes: 1000, sha256: SHA256.hex(Array(id.uuidString.utf8))),
                        storePath: "store/g/\(id).jpg", createdAt: now,
                        image: ImageInfo(format: .jpeg, width: 100, height: 100),
                        faces: [face], completedAt: now, duration: 0.1))
                made += 1
            }
            try ledger.importRecords(batch)
        }
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
