import FaceTestSupport
import Foundation
import Testing

/// The map in docs/ARCHITECTURE.md and the dependency rules it states hold for `Package.swift` and
/// `Sources/`: every module is on the map, nothing on the map is gone, and no edge the architecture
/// forbids exists.
@Suite(.timeLimit(.minutes(1)))
struct RepositoryLayoutTests {
    /// Every folder of Sources/ (a target) is on the module map, and every module on the map exists.
    @Test func moduleMapMatchesTheSources() throws {
        let sources = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/Sources")
            .filter { !$0.hasPrefix(".") }
        let onMap = try Self.modulesOnMap()
        #expect(
            Set(onMap) == Set(sources),
            "map only: \(Set(onMap).subtracting(sources)); missing: \(Set(sources).subtracting(onMap))")
        let targets = try Self.targets().filter { !$0.isTest }.map(\.name)
        #expect(Set(targets) == Set(sources), "Package.swift targets \(targets) vs Sources \(sources)")
    }

    /// The edges the architecture forbids: the client never depends on the daemon, the daemon never
    /// names a ledger backend, and the report never links dlib.
    @Test func dependenciesPointOneWay() throws {
        let targets = try Self.targets()
        let edges = Dictionary(uniqueKeysWithValues: targets.map { ($0.name, Set($0.dependencies)) })
        func reach(_ from: String) -> Set<String> {
            var seen: Set<String> = []
            var stack = [from]
            while let next = stack.popLast() {
                for dependency in edges[next] ?? [] where seen.insert(dependency).inserted { stack.append(dependency) }
            }
            return seen
        }
        #expect(edges["FaceClient"] != nil && edges["FaceDaemon"] != nil && edges["FaceReport"] != nil)
        #expect(!reach("FaceClient").contains("FaceDaemon"), "FaceClient reaches FaceDaemon")
        #expect(!(edges["FaceDaemon"] ?? []).contains("FaceLedgerPostgres"), "FaceDaemon names a ledger backend")
        #expect(!reach("FaceReport").contains("CDlibFace"), "FaceReport links dlib")
        #expect(!reach("FaceRoot").contains("FaceDaemon"), "FaceRoot reaches FaceDaemon")
    }

    /// The same edges as `import`s: Swift lets a module import what its dependencies depend on, so
    /// `Package.swift` alone would not see the daemon reaching a backend through FaceRoot.
    @Test func importsPointOneWay() throws {
        let forbidden: [(module: String, imported: String)] = [
            ("FaceDaemon", "FaceLedgerPostgres"), ("FaceClient", "FaceDaemon"), ("FaceReport", "FaceEncoding"),
            ("FaceReport", "CDlibFace"), ("FaceRoot", "FaceDaemon"),
        ]
        for (module, imported) in forbidden {
            let folder = URL(fileURLWithPath: repositoryRoot + "/Sources/" + module)
            let walker = try #require(FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil))
            for case let url as URL in walker where url.pathExtension == "swift" {
                let text = try String(contentsOf: url, encoding: .utf8)
                let imports = text.split(separator: "\n").contains {
                    $0 == "import \(imported)" || $0.hasSuffix(" import \(imported)")
                }
                #expect(!imports, "\(url.path) imports \(imported)")
            }
        }
    }

    /// Files hold one concept and folders one part: no Swift file in Sources/ over 450 lines, no
    /// folder with more than 20 files (a larger one is cut by responsibility, as ARCHITECTURE says).
    @Test func filesAndFoldersStaySmall() throws {
        let sources = URL(fileURLWithPath: repositoryRoot + "/Sources")
        let walker = try #require(
            FileManager.default.enumerator(at: sources, includingPropertiesForKeys: [.isDirectoryKey]))
        var swiftFiles = 0
        var filesPerFolder: [String: Int] = [:]
        for case let url as URL in walker {
            guard try url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory != true else { continue }
            filesPerFolder[url.deletingLastPathComponent().path, default: 0] += 1
            guard url.pathExtension == "swift" else { continue }
            swiftFiles += 1
            let lines = try String(contentsOf: url, encoding: .utf8).split(
                separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count <= 451, "\(url.path) has \(lines.count - 1) lines (at most 450)")
        }
        #expect(swiftFiles > 100, "the walk found \(swiftFiles) Swift files: is Sources/ there?")
        for (folder, count) in filesPerFolder {
            #expect(count <= 20, "\(folder) holds \(count) files (at most 20)")
        }
    }

    /// Waits are woken by events: a sleep or a timer in Sources/ is allowed only in a type that
    /// ARCHITECTURE's list of the timers that remain names (its first column), with its reason.
    @Test func everySleepIsOnTheListOfTimers() throws {
        let text = try String(contentsOfFile: repositoryRoot + "/docs/ARCHITECTURE.md", encoding: .utf8)
        let section = try #require(text.components(separatedBy: "### Waiting").dropFirst().first)
        let listed = section.components(separatedBy: "\n## ")[0].split(separator: "\n")
            .filter { $0.hasPrefix("| `") }
            .map { $0.split(separator: "|").first.map(String.init) ?? "" }
        #expect(listed.count >= 10, "the list of timers has \(listed.count) rows: is it still there?")
        let sleeps = /\b(usleep|nanosleep|sleep)\(|asyncAfter|makeTimerSource|\.sleep\(for/
        let sources = URL(fileURLWithPath: repositoryRoot + "/Sources")
        let walker = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        var sleepers = 0
        for case let url as URL in walker where url.pathExtension == "swift" {
            let code = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
                .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
            guard code.contains(where: { $0.contains(sleeps) }) else { continue }
            sleepers += 1
            // `Inbox+Settling.swift` is the type `Inbox`.
            let type = url.deletingPathExtension().lastPathComponent.split(separator: "+")[0]
            #expect(listed.contains { $0.contains("`\(type)") }, "\(url.path) sleeps, and `\(type)` is not on the list")
        }
        #expect(sleepers > 5, "found \(sleepers) files that sleep: is the pattern still right?")
    }

    /// The module names listed in the map's code block (lines `  Name/  what it is`).
    static func modulesOnMap() throws -> [String] {
        let text = try String(contentsOfFile: repositoryRoot + "/docs/ARCHITECTURE.md", encoding: .utf8)
        let start = try #require(text.range(of: "## Modules"))
        let block = text[start.upperBound...].components(separatedBy: "```")[1]
        var names: [String] = []
        var inSources = false
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Sources/") {
                inSources = true
                continue
            }
            if !line.hasPrefix(" ") { inSources = false }
            // Top-level modules are indented by two spaces; a module's own folders by four.
            guard inSources, line.hasPrefix("  "), !line.hasPrefix("   "),
                let slash = line.firstIndex(of: "/")
            else { continue }
            names.append(String(line[line.index(line.startIndex, offsetBy: 2)..<slash]))
        }
        return names
    }

    struct Target {
        var name: String
        var isTest: Bool
        var dependencies: [String]
    }

    /// The targets of Package.swift and their dependencies' names, read from its text.
    static func targets() throws -> [Target] {
        let text = try String(contentsOfFile: repositoryRoot + "/Package.swift", encoding: .utf8)
        let kinds = [".target(", ".executableTarget(", ".testTarget(", ".systemLibrary("]
        var starts: [(String.Index, String)] = []
        for kind in kinds {
            var from = text.startIndex
            while let range = text.range(of: kind, range: from..<text.endIndex) {
                starts.append((range.lowerBound, kind))
                from = range.upperBound
            }
        }
        starts.sort { $0.0 < $1.0 }
        var targets: [Target] = []
        for (index, (start, kind)) in starts.enumerated() {
            let end = index + 1 < starts.count ? starts[index + 1].0 : text.endIndex
            let entry = String(text[start..<end])
            guard let name = firstQuoted(in: entry, after: "name: \"") else { continue }
            var dependencies: [String] = []
            if let list = entry.range(of: "dependencies: [") {
                var depth = 1
                var cursor = list.upperBound
                var content = ""
                while cursor < entry.endIndex, depth > 0 {
                    let character = entry[cursor]
                    if character == "[" { depth += 1 }
                    if character == "]" { depth -= 1 }
                    if depth > 0 { content.append(character) }
                    cursor = entry.index(after: cursor)
                }
                // Plain target names, and the products' names (`.product(name: "X", package: …)`).
                let quoted = content.split(separator: "\"", omittingEmptySubsequences: false)
                for (position, piece) in quoted.enumerated() where position % 2 == 1 {
                    let before = quoted[position - 1]
                    if before.hasSuffix("package: ") { continue }
                    dependencies.append(String(piece))
                }
            }
            let isTest = kind == ".testTarget(" || entry.contains("path: \"Tests/")
            targets.append(Target(name: name, isTest: isTest, dependencies: dependencies))
        }
        return targets
    }

    private static func firstQuoted(in text: String, after marker: String) -> String? {
        guard let range = text.range(of: marker) else { return nil }
        return text[range.upperBound...].split(separator: "\"").first.map(String.init)
    }
}
