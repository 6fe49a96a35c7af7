#if canImport(Glibc)
import Glibc
#endif
import FaceCore
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

/// The examples/ that stand without a running daemon: the config file, the systemd drop-in and the
/// Python reader of results. (drop-and-wait.sh needs the daemon: the end-to-end tests run it.)
@Suite(.tags(.packaging), .timeLimit(.minutes(10))) struct ExamplesTests {
    static var examples: String { ServiceTestSupport.repository + "/examples" }

    // MARK: - facewatch.conf

    @Test func exampleConfigIsTheDefaultsRootedInVarLib() throws {
        let configuration = try DaemonConfiguration.resolve(
            configFile: Self.examples + "/facewatch.conf", flags: [:], environment: [:], currentDirectory: "/")
        var expected = DaemonConfiguration(root: "/var/lib/facewatch")
        expected.configFile = Self.examples + "/facewatch.conf"
        #expect(configuration == expected)
    }

    @Test func everySettingIsDocumentedWithItsRealDefault() throws {
        let text = try String(contentsOfFile: Self.examples + "/facewatch.conf", encoding: .utf8)
        // Lines such as `#workers = 0` show a setting and its default; uncommented, they must parse
        // and change nothing but `models` (whose default is a search, not one path).
        var shown: Set<String> = []
        var uncommented: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#"), let first = line.dropFirst().first, first.isLowercase,
                let equals = line.firstIndex(of: "=")
            {
                shown.insert(line.dropFirst()[..<equals].trimmingCharacters(in: .whitespaces))
                uncommented.append(String(line.dropFirst()))
            } else {
                if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                    shown.insert(line[..<equals].trimmingCharacters(in: .whitespaces))
                }
                uncommented.append(String(line))
            }
        }
        let keys = Set(Setting.all.map(\.key))
        #expect(
            shown == keys, "missing: \(keys.subtracting(shown).sorted()), unknown: \(shown.subtracting(keys).sorted())")

        let file = try ConfigFile(text: uncommented.joined(separator: "\n"), path: "/etc/facewatch/facewatch.conf")
        let configuration = try DaemonConfiguration.resolve(
            file: file, flags: [:], environment: [:], currentDirectory: "/")
        var expected = DaemonConfiguration(root: "/var/lib/facewatch")
        expected.configFile = "/etc/facewatch/facewatch.conf"
        expected.models = "/usr/local/share/facewatch/models"
        #expect(configuration == expected)
    }

    // MARK: - inbox-elsewhere.conf

    @Test func dropInMovesTheInboxAndKeepsTheHardening() async throws {
        let analyze = try ServiceTestSupport.systemdAnalyze()
        let binary = try ServiceTestSupport.builtBinary()
        let installed = ServiceTestSupport.installedBinary
        let dropInPath = Self.examples + "/inbox-elsewhere.conf"

        let dropIn = try ServiceTestSupport.UnitFile(path: dropInPath)
        let unit = try ServiceTestSupport.UnitFile(path: ServiceTestSupport.unitFile)
        let inbox = "/srv/facewatch/inbox"
        let unitCommand = try #require(unit["Service", "ExecStart"]?.last)
        #expect(dropIn["Service", "ExecStart"] == ["", unitCommand + " --inbox " + inbox])
        #expect(dropIn["Service", "ReadWritePaths"] == [inbox])
        // --inbox is the flag of the `inbox` setting, and it overrides the config file's.
        #expect(Setting.named("inbox")?.flag == "--inbox")
        let configuration = try DaemonConfiguration.resolve(
            configFile: Self.examples + "/facewatch.conf", flags: ["inbox": inbox], environment: [:],
            currentDirectory: "/")
        #expect(configuration.inbox == inbox)
        #expect(configuration.store == "/var/lib/facewatch/store")

        // Installed as a drop-in of the unit, it passes systemd's checks, and the exposure stays.
        let directory = try ServiceTestSupport.TemporaryDirectory()
        try FileManager.default.createDirectory(
            atPath: directory.path + "/facewatch.service.d", withIntermediateDirectories: true)
        try String(contentsOfFile: ServiceTestSupport.unitFile, encoding: .utf8)
            .replacingOccurrences(of: installed, with: binary)
            .write(toFile: directory.path + "/facewatch.service", atomically: true, encoding: .utf8)
        try String(contentsOfFile: dropInPath, encoding: .utf8)
            .replacingOccurrences(of: installed, with: binary)
            .write(
                toFile: directory.path + "/facewatch.service.d/inbox-elsewhere.conf", atomically: true, encoding: .utf8)

        let verify = try await runProgram(analyze, ["verify", "--no-pager", directory.path + "/facewatch.service"])
        #expect(verify.status == 0)
        #expect(
            verify.stdout.isEmpty && verify.stderr.isEmpty,
            "systemd-analyze verify said:\n\(verify.stdout)\(verify.stderr)")
        let security = try await runProgram(
            analyze, ["security", "--offline=true", "--no-pager", directory.path + "/facewatch.service"])
        let exposure = try #require(
            ServiceTestSupport.overallExposure(security.stdout), "\(security.stdout)\(security.stderr)")
        #expect(exposure <= 1.5)
    }

    // MARK: - similar_faces.py

    @Test func similarFacesFindsThePairsComputedHere() async throws {
        let python = try ServiceTestSupport.tool("python3")
        let results = try ServiceTestSupport.TemporaryDirectory()
        var random = SeededGenerator(seed: 20261124)

        // Three people; each appears in several images with a little noise. Same person: ~0.3 apart;
        // different people: ~0.9 apart.
        let people: [[Float]] = (0..<3).map { _ in (0..<128).map { _ in random.uniform(-0.1, 0.1) } }
        func looks(like person: Int) -> [Float] { people[person].map { $0 + random.uniform(-0.03, 0.03) } }
        var documents: [ResultDocument] = []
        for (image, persons) in [[0, 1], [0], [2, 1, 0], [1], [2]].enumerated() {
            let faces = persons.enumerated().map { index, person in
                Face(
                    location: FaceLocation(top: 10, right: 60 + index * 60, bottom: 60, left: 10 + index * 60),
                    encoding: looks(like: person))
            }
            documents.append(
                Self.completed(
                    id: "0000000\(image)-0000-4000-8000-000000000000", name: "party/\(image).jpg", faces: faces))
        }
        // Exactly at the tolerance counts, as in compare_faces (`<= tolerance`); just above does not.
        let zero = [Float](repeating: 0, count: 128)
        var atTolerance = zero
        atTolerance[5] = 0.6
        var beyond = zero
        beyond[5] = Float(0.6).nextUp
        documents.append(
            Self.completed(
                id: "a0000000-0000-4000-8000-000000000000", name: "edge/zero.png",
                faces: [Face(location: FaceLocation(top: 0, right: 1, bottom: 1, left: 0), encoding: zero)]))
        documents.append(
            Self.completed(
                id: "a1000000-0000-4000-8000-000000000000", name: "edge/at.png",
                faces: [Face(location: FaceLocation(top: 0, right: 1, bottom: 1, left: 0), encoding: atTolerance)]))
        documents.append(
            Self.completed(
                id: "a2000000-0000-4000-8000-000000000000", name: "edge/beyond.png",
                faces: [Face(location: FaceLocation(top: 0, right: 1, bottom: 1, left: 0), encoding: beyond)]))
        // Results without faces to compare.
        documents.append(Self.completed(id: "b0000000-0000-4000-8000-000000000000", name: "empty.jpg", faces: []))
        documents.append(
            ResultDocument(
                id: "c0000000-0000-4000-8000-000000000000", status: .failed,
                source: SourceInfo(name: "notes.txt", bytes: 5, sha256: String(repeating: "0", count: 64)),
                createdAt: Date(), completedAt: Date(), error: Failure(.notAnImage, "not an image")))
        documents.append(
            ResultDocument(id: "d0000000-0000-4000-8000-000000000000", status: .created, createdAt: Date()))

        for document in documents {
            try (document.json.pretty() + "\n").write(
                toFile: results.path + "/\(document.id!).json", atomically: false, encoding: .utf8)
        }
        // A daemon's temporary file (ignored) and a damaged file (skipped with a warning).
        try "{\"id\": \"half".write(
            toFile: results.path + "/.e0000000.json.tmp.json", atomically: false, encoding: .utf8)
        try "{\"id\": \"half".write(toFile: results.path + "/broken.json", atomically: false, encoding: .utf8)

        // The expected pairs, computed here from the numbers as the JSON files spell them.
        let faces: [(label: String, encoding: [Double])] = documents.filter { $0.status == .completed }.flatMap {
            document in
            document.faces.enumerated().map { index, face in
                ("\(document.id!):\(index + 1)", face.encoding.map { Double("\($0)")! })
            }
        }
        var expected: Set<String> = []
        for (i, a) in faces.enumerated() {
            for b in faces[(i + 1)...] where a.label.prefix(36) != b.label.prefix(36) {
                let distance = zip(a.encoding, b.encoding).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                if distance <= 0.6 {
                    expected.insert(
                        String(format: "%.4f", distance) + " " + [a.label, b.label].sorted().joined(separator: " "))
                }
            }
        }
        #expect(expected.count >= 8, "the fixture should produce a handful of pairs, got \(expected.count)")
        #expect(
            expected.contains("0.6000 a0000000-0000-4000-8000-000000000000:1 a1000000-0000-4000-8000-000000000000:1"))

        let run = try await runProgram(python, [Self.examples + "/similar_faces.py", results.path])
        #expect(run.status == 0, "similar_faces.py: \(run.stderr)")
        var found: Set<String> = []
        var distances: [Double] = []
        for line in run.stdout.split(separator: "\n") {
            // `0.3412  <id>:1 party/0.jpg  <->  <id>:2 party/2.jpg`
            let fields = line.split(separator: " ")
            guard fields.count == 6, fields[3] == "<->", let distance = Double(fields[0]) else {
                Issue.record("unexpected line: \(line)")
                continue
            }
            distances.append(distance)
            found.insert("\(fields[0]) " + [String(fields[1]), String(fields[4])].sorted().joined(separator: " "))
        }
        #expect(found == expected)
        #expect(distances == distances.sorted(), "closest pairs first")
        let faceCount = faces.count
        #expect(
            run.stderr.contains("\(expected.count) similar pair(s) among \(faceCount) face(s) in 8 image(s)"),
            "\(run.stderr)")
        #expect(run.stderr.contains("skipping \(results.path)/broken.json"))
        #expect(!run.stderr.contains(".e0000000"))

        // A stricter tolerance keeps only the closer pairs.
        let strict = try await runProgram(
            python, [Self.examples + "/similar_faces.py", results.path, "--tolerance", "0.35"])
        let strictCount = strict.stdout.split(separator: "\n").count
        #expect(strictCount == expected.filter { Double($0.prefix(6))! <= 0.35 }.count)
    }

    static func completed(id: String, name: String, faces: [Face]) -> ResultDocument {
        ResultDocument(
            id: id, status: .completed,
            source: SourceInfo(name: name, bytes: 1000, sha256: String(repeating: "a", count: 64)),
            image: ImageInfo(format: name.hasSuffix(".png") ? .png : .jpeg, width: 640, height: 480),
            faces: faces, createdAt: Date(), completedAt: Date())
    }
}
