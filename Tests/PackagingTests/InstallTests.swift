#if canImport(Glibc)
import Glibc
#endif
import FaceEncoding
import FaceRoot
import Foundation
import FaceTestSupport
import Testing

@testable import FaceDaemon

/// `make install` installs the models from <repo>/models (fetched by `make models`).
private let repositoryHasModels = ModelFile.all.allSatisfy {
    FileManager.default.fileExists(atPath: ServiceTestSupport.repository + "/models/" + $0)
}

/// `make install` and `make uninstall` (scripts/install.sh, scripts/uninstall.sh) into a DESTDIR: the
/// tree they leave, the installed binary finding its models from where it was installed, the config
/// file never overwritten, and uninstall removing exactly what install added.
///
/// The binary installed is the debug one this test run built (`BIN=`), so no release build is needed.
@Suite(
    .tags(.packaging),
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: repositoryHasModels, "no models in <repo>/models: run `make models`"))
struct InstallTests {
    static let repository = ServiceTestSupport.repository
    static let modelFiles = ModelFile.all

    @Test func installIntoUsrThenUninstallLeavesOnlyTheData() async throws {
        let binary = try ServiceTestSupport.builtBinary()
        let scratch = try ServiceTestSupport.TemporaryDirectory()
        let stage = scratch.path + "/stage"

        let install = try await Self.make(["install", "PREFIX=/usr", "DESTDIR=\(stage)", "BIN=\(binary)"])
        try #require(install.status == 0, "make install failed:\n\(install.stdout)\(install.stderr)")

        // Exactly these files, with these modes.
        var expected: [String: Int] = [
            "/usr/bin/facewatch": 0o755,
            "/usr/lib/systemd/system/facewatch.service": 0o644,
            "/usr/lib/sysusers.d/facewatch.conf": 0o644,
            "/usr/lib/tmpfiles.d/facewatch.conf": 0o644,
            "/usr/share/facewatch/models/SHA256SUMS": 0o644,
            "/usr/share/facewatch/installed-files": 0o644,
            "/usr/share/doc/facewatch/README.md": 0o644,
            "/etc/facewatch/facewatch.conf": 0o644,
            "/usr/share/man/man1/facewatch.1.gz": 0o644,
            "/usr/share/bash-completion/completions/facewatch": 0o644,
            "/usr/share/zsh/vendor-completions/_facewatch": 0o644,
            "/usr/share/fish/vendor_completions.d/facewatch.fish": 0o644,
        ]
        for name in Self.modelFiles { expected["/usr/share/facewatch/models/" + name] = 0o644 }
        for (name, mode) in try Self.examples() { expected["/usr/share/doc/facewatch/examples/" + name] = mode }
        for name in try Self.documentationPages() { expected["/usr/share/doc/facewatch/docs/" + name] = 0o644 }
        let files = try Self.files(under: stage)
        #expect(
            Set(files.keys) == Set(expected.keys),
            "unexpected: \(Set(files.keys).subtracting(expected.keys).sorted()), missing: \(Set(expected.keys).subtracting(files.keys).sorted())"
        )
        for (path, mode) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(
                files[path] == mode,
                "\(path): mode \(String(files[path] ?? 0, radix: 8)), expected \(String(mode, radix: 8))")
        }

        // Copies, byte for byte, of what the repository ships.
        let same = FileManager.default.contentsEqual
        #expect(same(stage + "/usr/bin/facewatch", binary))
        #expect(same(stage + "/usr/lib/sysusers.d/facewatch.conf", Self.repository + "/systemd/facewatch.sysusers"))
        #expect(same(stage + "/usr/lib/tmpfiles.d/facewatch.conf", Self.repository + "/systemd/facewatch.tmpfiles"))
        #expect(same(stage + "/usr/share/doc/facewatch/README.md", Self.repository + "/README.md"))
        for name in Self.modelFiles + ["SHA256SUMS"] {
            #expect(same(stage + "/usr/share/facewatch/models/" + name, Self.repository + "/models/" + name), "\(name)")
        }
        for name in try Self.examples().keys {
            #expect(
                same(stage + "/usr/share/doc/facewatch/examples/" + name, Self.repository + "/examples/" + name),
                "\(name)")
        }
        for name in try Self.documentationPages() {
            #expect(same(stage + "/usr/share/doc/facewatch/docs/" + name, Self.repository + "/docs/" + name), "\(name)")
        }

        // The unit names the installed binary, config and README; nothing else changed.
        let unitPath = stage + "/usr/lib/systemd/system/facewatch.service"
        let unit = try ServiceTestSupport.UnitFile(path: unitPath)
        #expect(unit["Service", "ExecStart"] == ["/usr/bin/facewatch serve --config /etc/facewatch/facewatch.conf"])
        #expect(unit["Unit", "Documentation"] == ["file:/usr/share/doc/facewatch/README.md"])
        let unitText = try String(contentsOfFile: unitPath, encoding: .utf8)
        #expect(!unitText.contains("/usr/local/"), "the installed unit still names /usr/local")
        let shippedUnit = try String(contentsOfFile: ServiceTestSupport.unitFile, encoding: .utf8)
        #expect(
            unitText
                .replacingOccurrences(of: "/usr/bin/facewatch", with: "/usr/local/bin/facewatch")
                .replacingOccurrences(of: "/usr/share/doc/facewatch", with: "/usr/local/share/doc/facewatch")
                == shippedUnit)

        // The config: the shipped commented defaults, its models line naming this prefix.
        let configPath = stage + "/etc/facewatch/facewatch.conf"
        #expect(try String(contentsOfFile: configPath, encoding: .utf8) == Self.shippedConfig(prefix: "/usr"))
        let configuration = try DaemonConfiguration.resolve(
            configFile: configPath, flags: [:], environment: [:], currentDirectory: scratch.path)
        var defaults = DaemonConfiguration(root: "/var/lib/facewatch")
        defaults.configFile = configPath
        #expect(configuration == defaults)

        // The manifest lists every file installed.
        let manifest = try Self.manifestFiles(stage + "/usr/share/facewatch/installed-files")
        #expect(Set(manifest) == Set(expected.keys).subtracting(["/usr/share/facewatch/installed-files"]))

        // The installed binary, run from an empty directory without $FACEWATCH_MODELS, finds the models
        // installed next to it (../share/facewatch/models) and encodes.
        let installedModels = stage + "/usr/share/facewatch/models"
        let empty = scratch.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(
            try ModelLocator.locate(
                explicit: nil, environment: [:], currentDirectory: empty,
                executablePath: stage + "/usr/bin/facewatch"
            ).path == installedModels)
        let image = scratch.path + "/tiny.png"
        write(TinyPNG.make(width: 24, height: 16, seed: 7), to: image)
        let encode = try await Self.run(stage + "/usr/bin/facewatch", ["encode", image], in: empty)
        #expect(encode.status == 0, "encode failed: \(encode.stderr)")
        let lines = encode.stdout.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got:\n\(encode.stdout)")
        let result = try #require(
            try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any],
            "not JSON: \(encode.stdout)")
        #expect(result["status"] as? String == "completed")
        #expect(result["file"] as? String == image)
        let info = result["image"] as? [String: Any]
        #expect(info?["format"] as? String == "png")
        #expect(info?["width"] as? Int == 24 && info?["height"] as? Int == 16)
        #expect((result["faces"] as? [Any])?.isEmpty == true)
        #expect(result["error"] is NSNull)
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)

        // Without the installed models it fails, naming that directory among the places it looked:
        // the models it found were the installed ones. (Unless this machine has models of its own
        // where the binary looks next.)
        let systemModels = ["/usr/local/share/facewatch/models", "/usr/share/facewatch/models"]
            .filter { FileManager.default.fileExists(atPath: $0 + "/dlib_face_recognition_resnet_model_v1.dat") }
        if systemModels.isEmpty {
            try FileManager.default.moveItem(atPath: installedModels, toPath: installedModels + ".away")
            let missing = try await Self.run(stage + "/usr/bin/facewatch", ["encode", image], in: empty)
            try FileManager.default.moveItem(atPath: installedModels + ".away", toPath: installedModels)
            #expect(missing.status == 1)
            #expect(missing.stderr.contains(installedModels), "stderr: \(missing.stderr)")
        }

        // A second install changes nothing: no config.new, the binary not even rewritten.
        let before = try FileManager.default.attributesOfItem(atPath: stage + "/usr/bin/facewatch")
        let again = try await Self.make(["install", "PREFIX=/usr", "DESTDIR=\(stage)", "BIN=\(binary)"])
        try #require(again.status == 0, "make install (again) failed:\n\(again.stdout)\(again.stderr)")
        #expect(try Set(Self.files(under: stage).keys) == Set(expected.keys))
        let after = try FileManager.default.attributesOfItem(atPath: stage + "/usr/bin/facewatch")
        #expect(before[.systemFileNumber] as? Int == after[.systemFileNumber] as? Int)
        #expect(before[.modificationDate] as? Date == after[.modificationDate] as? Date)

        // Data the service wrote stays; everything install added goes, directories included.
        let data = stage + "/var/lib/facewatch/results/0b5e2c4e-1d7a-4c1e-9a55-5d0c7f1e2a3b.json"
        write(Array("{}\n".utf8), to: data)
        let uninstall = try await Self.make(["uninstall", "PREFIX=/usr", "DESTDIR=\(stage)"])
        #expect(uninstall.status == 0, "make uninstall failed:\n\(uninstall.stdout)\(uninstall.stderr)")
        #expect(
            try Self.entries(under: stage) == [
                "/var", "/var/lib", "/var/lib/facewatch", "/var/lib/facewatch/results",
                "/var/lib/facewatch/results/0b5e2c4e-1d7a-4c1e-9a55-5d0c7f1e2a3b.json",
            ])
        #expect(
            uninstall.stdout.contains(stage + "/var/lib/facewatch"),
            "uninstall does not say it kept the data:\n\(uninstall.stdout)")

        // Nothing left to remove is not an error.
        let twice = try await Self.make(["uninstall", "PREFIX=/usr", "DESTDIR=\(stage)"])
        #expect(twice.status == 0, "\(twice.stdout)\(twice.stderr)")
    }

    @Test func anEditedConfigIsNeverOverwrittenNorRemoved() async throws {
        // Under /opt, systemd would not look in PREFIX/lib: the unit and friends go to /etc.
        let binary = try ServiceTestSupport.builtBinary()
        let scratch = try ServiceTestSupport.TemporaryDirectory()
        let stage = scratch.path + "/stage"
        let arguments = ["PREFIX=/opt/facewatch", "SYSCONFDIR=/etc/opt", "DESTDIR=\(stage)"]

        let install = try await Self.make(["install", "BIN=\(binary)"] + arguments)
        try #require(install.status == 0, "make install failed:\n\(install.stdout)\(install.stderr)")
        let files = try Self.files(under: stage)
        for path in [
            "/opt/facewatch/bin/facewatch", "/etc/systemd/system/facewatch.service",
            "/etc/sysusers.d/facewatch.conf", "/etc/tmpfiles.d/facewatch.conf",
            "/opt/facewatch/share/facewatch/models/dlib_face_recognition_resnet_model_v1.dat",
            "/opt/facewatch/share/doc/facewatch/README.md", "/etc/opt/facewatch/facewatch.conf",
        ] {
            #expect(files[path] != nil, "\(path) is not installed")
        }
        let unit = try ServiceTestSupport.UnitFile(path: stage + "/etc/systemd/system/facewatch.service")
        #expect(
            unit["Service", "ExecStart"] == [
                "/opt/facewatch/bin/facewatch serve --config /etc/opt/facewatch/facewatch.conf"
            ])

        let configPath = stage + "/etc/opt/facewatch/facewatch.conf"
        let shipped = try Self.shippedConfig(prefix: "/opt/facewatch", sysconfdir: "/etc/opt")
        #expect(try String(contentsOfFile: configPath, encoding: .utf8) == shipped)

        // The administrator edits it; install again keeps the edit and puts the shipped one beside it.
        let edited = shipped + "workers = 2\n"
        try edited.write(toFile: configPath, atomically: false, encoding: .utf8)
        let again = try await Self.make(["install", "BIN=\(binary)"] + arguments)
        try #require(again.status == 0, "make install (again) failed:\n\(again.stdout)\(again.stderr)")
        #expect(try String(contentsOfFile: configPath, encoding: .utf8) == edited)
        #expect(try String(contentsOfFile: configPath + ".new", encoding: .utf8) == shipped)
        #expect(again.stdout.contains(configPath + ".new"), "install does not point at the .new file:\n\(again.stdout)")
        let configuration = try DaemonConfiguration.resolve(
            configFile: configPath, flags: [:], environment: [:], currentDirectory: scratch.path)
        #expect(configuration.workers == 2)
        #expect(configuration.root == "/var/lib/facewatch")

        // Uninstall removes the .new file and everything else, and keeps the edited config.
        let uninstall = try await Self.make(["uninstall"] + arguments)
        #expect(uninstall.status == 0, "make uninstall failed:\n\(uninstall.stdout)\(uninstall.stderr)")
        #expect(
            try Self.entries(under: stage) == [
                "/etc", "/etc/opt", "/etc/opt/facewatch", "/etc/opt/facewatch/facewatch.conf",
            ])
        #expect(try String(contentsOfFile: configPath, encoding: .utf8) == edited)
        #expect(
            uninstall.stdout.contains(configPath), "uninstall does not say it kept the config:\n\(uninstall.stdout)")
    }

    // MARK: - Support

    /// examples/facewatch.conf as install writes it: the models line names PREFIX's directory.
    static func shippedConfig(prefix: String, sysconfdir: String = "/etc") throws -> String {
        try String(contentsOfFile: repository + "/examples/facewatch.conf", encoding: .utf8)
            .replacingOccurrences(of: "/etc/facewatch/", with: sysconfdir + "/facewatch/")
            .replacingOccurrences(
                of: "\n#models = /usr/local/share/facewatch/models\n",
                with: "\n#models = \(prefix)/share/facewatch/models\n")
    }

    /// The files in examples/ and the mode each is installed with.
    /// The files of docs/ (the pages the README links to), installed beside it.
    static func documentationPages() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: repository + "/docs").filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && !name.hasSuffix("~")
                && FileManager.default.fileExists(atPath: repository + "/docs/" + name, isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }
    }

    static func examples() throws -> [String: Int] {
        var modes: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: repository + "/examples")
        where !name.hasPrefix(".") && !name.hasSuffix("~") {
            let path = repository + "/examples/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            modes[name] = access(path, X_OK) == 0 ? 0o755 : 0o644
        }
        return modes
    }

    /// Every file below `root` (as `/path` relative to it) and its permission bits.
    static func files(under root: String) throws -> [String: Int] {
        var files: [String: Int] = [:]
        for path in try entries(under: root) {
            let attributes = try FileManager.default.attributesOfItem(atPath: root + path)
            guard attributes[.type] as? FileAttributeType != .typeDirectory else { continue }
            files[path] = (attributes[.posixPermissions] as? Int) ?? 0
        }
        return files
    }

    /// Every file and directory below `root`, as sorted `/path`s relative to it.
    static func entries(under root: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: root) else { return [] }
        return try FileManager.default.subpathsOfDirectory(atPath: root).map { "/" + $0 }.sorted()
    }

    /// The files an installed-files manifest lists: its `file PATH` and `config SHA256 PATH` lines.
    static func manifestFiles(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { line in
            if line.hasPrefix("file ") { return String(line.dropFirst(5)) }
            if line.hasPrefix("config ") { return line.split(separator: " ", maxSplits: 2).last.map(String.init) }
            return nil
        }
    }

    /// `make ARGUMENTS` in the repository, without settings inherited from an outer make or shell.
    static func make(_ arguments: [String]) async throws -> ProgramOutput {
        try await run("/usr/bin/env", ["make", "--no-print-directory", "-C", repository] + arguments, in: repository)
    }

    /// Runs a program in `directory` with this process's environment minus facewatch's and make's
    /// variables; at most five minutes.
    static func run(_ program: String, _ arguments: [String], in directory: String) async throws -> ProgramOutput {
        let inherited: Set<String> = [
            "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PREFIX", "DESTDIR", "SYSCONFDIR", "BIN",
            "UNITDIR", "SYSUSERSDIR", "TMPFILESDIR",
        ]
        let environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("FACEWATCH_") && !inherited.contains($0.key)
        }
        return try await runProgram(
            program, arguments, environment: .exactly(environment), workingDirectory: directory, timeout: .seconds(300))
    }
}
