import FaceCore
import FaceTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The memory budget against the real binary: big images wait for each other, the daemon's peak
/// memory stays within its base plus the budget, and small images pass the waiting big ones.
@Suite(.tags(.endToEnd), .serialized, .timeLimit(.minutes(10)), .enabled(if: canRunDaemon, Comment(rawValue: whyNot)))
struct MemoryBudgetEndToEndTests {
    /// `VmRSS` or `VmHWM` of `pid`, in bytes.
    func memory(_ field: String, of pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap {
                Int($0)
            }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    @Test func bigImagesWaitForTheBudgetAndSmallOnesPassThem() async throws {
        let root = TestRoot("memory")
        let budget = 200_000_000
        // 8 megapixels: about 170 MB each at upsample 1 by the daemon's estimate; two would not fit.
        let (width, height) = (3264, 2448)
        let staging = root.staging()
        let big = ["big0.png", "big1.png", "big2.png"]
        let small = (0..<6).map { "small\($0).png" }
        for (i, name) in big.enumerated() {
            write(TinyPNG.make(width: width, height: height, seed: 4_000 + i), to: staging + "/" + name)
        }
        for (i, name) in small.enumerated() {
            write(TinyPNG.make(width: 64, height: 48, seed: 5_000 + i), to: staging + "/" + name)
        }
        let daemon = try await root.startDaemon(["--memory-budget", String(budget)])
        defer { daemon.stop() }
        let base = try #require(memory("VmRSS", of: daemon.pid))
        // Two big ones first, then small ones, the last big one, more small ones.
        for name in big.prefix(2) + small.prefix(3) + [big[2]] + small.suffix(3) {
            #expect(rename(staging + "/" + name, root.inbox + "/" + name) == 0)
        }
        #expect(
            await eventually(timeout: .seconds(300)) { root.documentCount() == big.count + small.count },
            "\(daemon.log)")
        let peak = try #require(memory("VmHWM", of: daemon.pid))
        let margin = 50_000_000
        #expect(
            peak <= base + budget + margin,
            "peak \(peak / 1_000_000) MB over base \(base / 1_000_000) MB + budget \(budget / 1_000_000) MB + \(margin / 1_000_000) MB"
        )

        let documents = try root.documents()
        #expect(documents.allSatisfy { $0.status == .completed })
        let finished = Dictionary(
            uniqueKeysWithValues: documents.compactMap { document in
                document.source.flatMap { source in document.completedAt.map { (source.name, $0) } }
            })
        let lastBig = try #require(big.compactMap { finished[$0] }.max())
        for name in small {
            let done = try #require(finished[name])
            #expect(done < lastBig, "\(name) waited for the big images")
        }
        #expect(daemon.log.contains("memory budget for images bytes=\(budget)"))
    }

    @Test(.enabled(if: testImagesDirectory != nil, "no test images: run `make test-images`"))
    func aJPEGWhoseFrameHeaderIsPastTheFirstMiBIsChargedItsRealSize() async throws {
        let root = TestRoot("farheader")
        let gate = root.base + "/gate"
        let jpeg = try [UInt8](Data(contentsOf: URL(fileURLWithPath: testImagesDirectory! + "/astronaut.jpg")))
        // 17 comment segments of 64 KiB right after the SOI: the frame header is 1.1 MB in.
        let comment: [UInt8] = [0xFF, 0xFE, 0xFF, 0xFF] + [UInt8](repeating: 0x41, count: 65_533)
        let padded = Array(jpeg[0..<2]) + (0..<17).flatMap { _ in comment } + Array(jpeg[2...])
        let daemon = try await root.startDaemon(
            environment: ["FACEWATCH_TEST_PAUSE_READ": "padded", "FACEWATCH_TEST_PAUSE_GATE": gate])
        defer { daemon.stop() }
        write(padded, to: root.staging() + "/padded.jpg")
        #expect(rename(root.staging() + "/padded.jpg", root.inbox + "/padded.jpg") == 0)
        #expect(await eventually { FileManager.default.fileExists(atPath: gate + ".paused") })
        // While its worker holds it, its reservation is its 512 x 512 pixels at upsample 1 (18 bytes
        // each) plus the file, not the file twice (what a header looked for in the first MiB gave).
        let expected = 512 * 512 * 18 + padded.count
        var reserved: Int?
        let charged = try await eventually(timeout: .seconds(60)) {
            let output = try await facewatch(["status", "--root", root.root, "--json"])
            let status = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any]
            reserved = (status?["metrics"] as? [String: Any])?["memory_reserved_bytes"] as? Int
            return reserved == expected
        }
        #expect(charged, "reserved \(String(describing: reserved)), expected \(expected)")
        FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(try await eventually { try root.documents().contains { $0.source?.name == "padded.jpg" } })
        let document = try #require(try root.documents().first { $0.source?.name == "padded.jpg" })
        #expect(document.status == .completed && !document.faces.isEmpty)
    }
}
