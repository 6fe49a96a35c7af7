#if canImport(Glibc)
import Glibc
#endif
import FaceEncoding
import Foundation
import FaceTestSupport
import Testing

/// dpkg-deb builds and reads the packages; without it (not a Debian system) there is nothing to test.
private let dpkgDebMissingReason: String? = {
    (try? ServiceTestSupport.tool("dpkg-deb")) == nil
        ? "dpkg-deb is missing (not a Debian system): the Debian package cannot be built here" : nil
}()

/// `make deb` (scripts/build_deb.sh): the two packages it builds, read back with dpkg-deb — their
/// control fields, conffiles, files and maintainer scripts — and the packaged binary run with an empty
/// environment, loading no library from a Swift toolchain, finding the packaged models and encoding.
///
/// The package's binary is a static-runtime release build, which `swift test`'s debug build cannot
/// stand in for; `make test` builds the packages before `swift test`, so the `make deb` here finds
/// them current and only checks that. Run alone (`swift test`), it builds them: minutes.
/// `make deb-check` covers what needs a whole system: installing, running, removing, purging.
@Suite(
    .tags(.packaging),
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: dpkgDebMissingReason == nil, Comment(rawValue: dpkgDebMissingReason ?? "")))
struct DebianPackageTests {
    static let repository = ServiceTestSupport.repository

    /// The packages, built once for every test here (the suite is serialized).
    static let cache = PackageCache()

    actor PackageCache {
        private var built: Result<Packages, ServiceTestSupport.Missing>?

        func get() async throws -> Packages {
            if let built { return try built.get() }
            let result: Result<Packages, ServiceTestSupport.Missing>
            do {
                result = .success(try await Packages.build())
            } catch {
                result = .failure(ServiceTestSupport.Missing(description: "\(error)"))
            }
            built = result
            return try result.get()
        }
    }

    struct Packages: Sendable {
        let version: String
        let modelsVersion: String
        let main: String
        let models: String

        static func build() async throws -> Packages {
            let make = try await InstallTests.make(["deb"])
            guard make.status == 0 else {
                throw ServiceTestSupport.Missing(description: "make deb failed:\n\(make.stdout)\(make.stderr)")
            }
            let version = try String(contentsOfFile: repository + "/VERSION", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let fetchModels = try String(contentsOfFile: repository + "/scripts/fetch_models.sh", encoding: .utf8)
            guard
                let modelsVersion = fetchModels.split(separator: "\n").first(where: { $0.hasPrefix("version=") })?
                    .dropFirst("version=".count)
            else { throw ServiceTestSupport.Missing(description: "no version= in scripts/fetch_models.sh") }
            return Packages(
                version: version, modelsVersion: String(modelsVersion),
                main: repository + "/dist/facewatch_\(version)_amd64.deb",
                models: repository + "/dist/facewatch-models_\(modelsVersion)_all.deb")
        }
    }

    /// A package unpacked by dpkg-deb: its files under `root`, its control files under `control`.
    final class Unpacked {
        let directory: ServiceTestSupport.TemporaryDirectory
        var root: String { directory.path + "/root" }
        var control: String { directory.path + "/DEBIAN" }

        private init() throws {
            directory = try ServiceTestSupport.TemporaryDirectory()
        }

        static func make(_ packages: String...) async throws -> Unpacked {
            let unpacked = try Unpacked()
            for package in packages {
                try await DebianPackageTests.dpkgDeb(["-x", package, unpacked.root])
            }
            try await DebianPackageTests.dpkgDeb(["-e", packages[0], unpacked.control])
            return unpacked
        }
    }

    // MARK: - The main package

    @Test func controlFieldsAndDependsFromSharedLibraries() async throws {
        let packages = try await Self.cache.get()
        let fields = try await Self.fields(packages.main)
        #expect(fields["Package"] == "facewatch")
        #expect(fields["Version"] == packages.version)
        #expect(fields["Architecture"] == "amd64")
        #expect(fields["Section"] == "graphics" && fields["Priority"] == "optional")
        #expect(fields["Maintainer"]?.contains("@") == true)
        #expect(
            Int(fields["Installed-Size"] ?? "") ?? 0 > 10_000, "Installed-Size: \(fields["Installed-Size"] ?? "none")")
        #expect(fields["Description"]?.hasPrefix("face encodings for images dropped into an inbox") == true)

        // dpkg-shlibdeps names the Debian packages of the binary's shared libraries; the Swift runtime
        // is inside the binary, so no toolchain package is among them.
        let depends = try #require(fields["Depends"])
        let names = depends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for library in ["libdlib19.1", "libjpeg62-turbo", "libpng16-16", "liblmdb0", "libc6", "libstdc++6"] {
            #expect(
                names.contains { $0.hasPrefix(library + " ") || $0 == library }, "Depends lacks \(library): \(depends)")
        }
        #expect(
            names.contains { $0.hasPrefix("libblas3") || $0.hasPrefix("libopenblas") }, "no BLAS in Depends: \(depends)"
        )
        #expect(names.contains("facewatch-models (>= \(packages.modelsVersion))"), "Depends: \(depends)")
        #expect(names.contains("systemd | systemd-standalone-sysusers | systemd-sysusers"), "Depends: \(depends)")
        #expect(!depends.lowercased().contains("swift"), "Depends names Swift: \(depends)")
    }

    @Test func filesModesAndConffile() async throws {
        let packages = try await Self.cache.get()
        let unpacked = try await Unpacked.make(packages.main)

        // Exactly these files, owned by root: the models are in facewatch-models, and dpkg's file
        // list replaces `make install`'s manifest.
        var expected: [String: Int] = [
            "/usr/bin/facewatch": 0o755,
            "/usr/lib/systemd/system/facewatch.service": 0o644,
            "/usr/lib/sysusers.d/facewatch.conf": 0o644,
            "/usr/lib/tmpfiles.d/facewatch.conf": 0o644,
            "/etc/facewatch/facewatch.conf": 0o644,
            "/usr/share/doc/facewatch/README.md": 0o644,
            "/usr/share/doc/facewatch/copyright": 0o644,
            "/usr/share/doc/facewatch/changelog.gz": 0o644,
            "/usr/share/man/man1/facewatch.1.gz": 0o644,
            "/usr/share/bash-completion/completions/facewatch": 0o644,
            "/usr/share/zsh/vendor-completions/_facewatch": 0o644,
            "/usr/share/fish/vendor_completions.d/facewatch.fish": 0o644,
        ]
        for (name, mode) in try InstallTests.examples() { expected["/usr/share/doc/facewatch/examples/" + name] = mode }
        for name in try InstallTests.documentationPages() { expected["/usr/share/doc/facewatch/docs/" + name] = 0o644 }
        let listing = try await Self.listing(packages.main)
        #expect(
            Set(listing.keys) == Set(expected.keys),
            "unexpected: \(Set(listing.keys).subtracting(expected.keys).sorted()), missing: \(Set(expected.keys).subtracting(listing.keys).sorted())"
        )
        for (path, mode) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(listing[path]?.mode == mode, "\(path): mode \(String(listing[path]?.mode ?? 0, radix: 8))")
            #expect(listing[path]?.owner == "root/root", "\(path): owner \(listing[path]?.owner ?? "none")")
        }

        // The files are what `make install PREFIX=/usr` stages from the repository.
        let same = FileManager.default.contentsEqual
        #expect(
            same(unpacked.root + "/usr/lib/sysusers.d/facewatch.conf", Self.repository + "/systemd/facewatch.sysusers"))
        #expect(
            same(unpacked.root + "/usr/lib/tmpfiles.d/facewatch.conf", Self.repository + "/systemd/facewatch.tmpfiles"))
        #expect(same(unpacked.root + "/usr/share/doc/facewatch/README.md", Self.repository + "/README.md"))
        #expect(
            same(
                unpacked.root + "/usr/share/doc/facewatch/copyright", Self.repository + "/packaging/facewatch.copyright"
            ))
        let unit = try ServiceTestSupport.UnitFile(path: unpacked.root + "/usr/lib/systemd/system/facewatch.service")
        #expect(unit["Service", "ExecStart"] == ["/usr/bin/facewatch serve --config /etc/facewatch/facewatch.conf"])
        #expect(unit["Unit", "Documentation"] == ["file:/usr/share/doc/facewatch/README.md"])
        #expect(
            try String(contentsOfFile: unpacked.root + "/etc/facewatch/facewatch.conf", encoding: .utf8)
                == InstallTests.shippedConfig(prefix: "/usr"))

        // The config is a conffile: dpkg keeps an administrator's edits across upgrades.
        let conffiles = try String(contentsOfFile: unpacked.control + "/conffiles", encoding: .utf8)
        #expect(conffiles == "/etc/facewatch/facewatch.conf\n")

        // md5sums covers every file, and each sum is right.
        let check = try await Self.run(
            "/usr/bin/md5sum", ["--check", "--quiet", unpacked.control + "/md5sums"], in: unpacked.root)
        #expect(check.status == 0, "md5sums: \(check.stdout)\(check.stderr)")
        let summed = try String(contentsOfFile: unpacked.control + "/md5sums", encoding: .utf8)
            .split(separator: "\n").map { "/" + $0.dropFirst(34) }
        #expect(Set(summed) == Set(expected.keys))
    }

    @Test func maintainerScriptsAreTheRepositorysAndParse() async throws {
        let packages = try await Self.cache.get()
        let unpacked = try await Unpacked.make(packages.main)
        let names = try FileManager.default.contentsOfDirectory(atPath: unpacked.control).sorted()
        #expect(names == ["conffiles", "control", "md5sums", "postinst", "postrm", "prerm"])
        for script in ["postinst", "prerm", "postrm"] {
            let path = unpacked.control + "/" + script
            #expect(
                FileManager.default.contentsEqual(
                    atPath: path, andPath: Self.repository + "/packaging/facewatch." + script))
            #expect(try Self.mode(path) == 0o755, "\(script) is not 0755")
            let syntax = try await Self.run("/bin/sh", ["-n", path], in: unpacked.directory.path)
            #expect(syntax.status == 0, "\(script): \(syntax.stderr)")
        }
    }

    // MARK: - The binary

    @Test func binaryRunsWithEmptyEnvironmentAndNoToolchainLibrary() async throws {
        let packages = try await Self.cache.get()
        let unpacked = try await Unpacked.make(packages.main, packages.models)
        let binary = unpacked.root + "/usr/bin/facewatch"

        let version = try await Self.run("/usr/bin/env", ["-i", binary, "--version"], in: unpacked.directory.path)
        #expect(
            version.status == 0 && version.stdout == packages.version + "\n",
            "--version: \(version.status) \(version.stdout)\(version.stderr)")
        let help = try await Self.run("/usr/bin/env", ["-i", binary, "--help"], in: unpacked.directory.path)
        #expect(
            help.status == 0 && help.stdout.contains("SUBCOMMANDS:") && help.stdout.contains("serve"),
            "--help: \(help.status) \(help.stdout)\(help.stderr)")

        // Every library it loads is found without a library path, and none is the Swift runtime.
        let ldd = try await Self.run("/usr/bin/env", ["-i", "/usr/bin/ldd", binary], in: unpacked.directory.path)
        #expect(ldd.status == 0, "ldd: \(ldd.stderr)")
        for line in ldd.stdout.split(separator: "\n") {
            #expect(!line.contains("not found"), "\(line)")
            for toolchain in [
                "/opt/swift", "libswift", "libFoundation", "libdispatch", "libBlocksRuntime", "FoundationICU",
            ] {
                #expect(!line.contains(toolchain), "loads a toolchain library: \(line)")
            }
        }
        for library in ["libdlib.so", "libjpeg.so", "libpng16.so", "liblmdb.so"] {
            #expect(ldd.stdout.contains(library), "ldd does not show \(library):\n\(ldd.stdout)")
        }

        // Stripped, with the build ID a debugger matches symbols by.
        let notes = try await Self.run("/usr/bin/readelf", ["-n", binary], in: unpacked.directory.path)
        #expect(notes.stdout.contains("Build ID: "), "no build ID:\n\(notes.stdout)")
        let sections = try await Self.run("/usr/bin/readelf", ["-S", "-W", binary], in: unpacked.directory.path)
        #expect(sections.status == 0 && !sections.stdout.contains(".symtab"), "the binary is not stripped")

        // With both packages unpacked it finds the models at ../share/facewatch/models and encodes.
        let image = unpacked.directory.path + "/tiny.png"
        write(TinyPNG.make(width: 24, height: 16, seed: 3), to: image)
        let encode = try await Self.run("/usr/bin/env", ["-i", binary, "encode", image], in: unpacked.directory.path)
        #expect(encode.status == 0, "encode: \(encode.stderr)")
        #expect(
            encode.stdout.contains("\"status\":\"completed\"") || encode.stdout.contains("\"status\": \"completed\""),
            "encode printed: \(encode.stdout)")
    }

    /// The version in Sources/FaceCore/FacewatchVersion.swift is the VERSION file's (the debug build too).
    @Test func debugBuildPrintsTheVersionFileToo() async throws {
        let expected = try String(contentsOfFile: Self.repository + "/VERSION", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let binary = try ServiceTestSupport.builtBinary()
        let version = try await Self.run("/usr/bin/env", ["-i", binary, "--version"], in: Self.repository)
        #expect(
            version.stdout == expected + "\n",
            "facewatch --version prints \(version.stdout); VERSION says \(expected): change Sources/FaceCore/FacewatchVersion.swift"
        )
    }

    // MARK: - The models package and lintian

    @Test func modelsPackageHoldsTheVerifiedModels() async throws {
        let packages = try await Self.cache.get()
        let fields = try await Self.fields(packages.models)
        #expect(fields["Package"] == "facewatch-models")
        #expect(fields["Version"] == packages.modelsVersion)
        #expect(fields["Architecture"] == "all")
        #expect(fields["Depends"] == nil)

        let models = "/usr/share/facewatch/models/"
        var expected = Set(ModelFile.all.map { models + $0 } + [models + "SHA256SUMS"])
        expected.formUnion([
            "/usr/share/doc/facewatch-models/copyright", "/usr/share/doc/facewatch-models/changelog.gz",
        ])
        #expect(Set(try await Self.listing(packages.models).keys) == expected)

        let unpacked = try await Unpacked.make(packages.models)
        for name in ModelFile.all + ["SHA256SUMS"] {
            #expect(
                FileManager.default.contentsEqual(
                    atPath: unpacked.root + models + name,
                    andPath: Self.repository + "/models/" + name), "\(name)")
        }
    }

    @Test func lintianReportsNoErrorsOrWarnings() async throws {
        let packages = try await Self.cache.get()
        let lintian = try ServiceTestSupport.tool("lintian")
        let run = try await Self.run(
            lintian, ["--fail-on", "error,warning", packages.main, packages.models],
            in: Self.repository)
        let findings = run.stdout.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") }
        #expect(
            run.status == 0 && findings.isEmpty,
            "lintian (status \(run.status)):\n\(run.stdout)\(run.stderr)")
    }

    // MARK: - Helpers

    static func dpkgDeb(_ arguments: [String]) async throws {
        let run = try await Self.run(try ServiceTestSupport.tool("dpkg-deb"), arguments, in: repository)
        guard run.status == 0 else {
            throw ServiceTestSupport.Missing(description: "dpkg-deb \(arguments.joined(separator: " ")): \(run.stderr)")
        }
    }

    /// The control fields of a package (`dpkg-deb -f`), a continued field joined into one line.
    static func fields(_ package: String) async throws -> [String: String] {
        let run = try await Self.run(try ServiceTestSupport.tool("dpkg-deb"), ["-f", package], in: repository)
        try #require(run.status == 0, "dpkg-deb -f \(package): \(run.stderr)")
        var fields: [String: String] = [:]
        var last: String?
        for line in run.stdout.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            if line.hasPrefix(" "), let key = last {
                fields[key, default: ""] += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                let key = String(line[..<colon])
                fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                last = key
            }
        }
        return fields
    }

    /// The regular files in a package (`dpkg-deb -c`): mode and owner by absolute path.
    static func listing(_ package: String) async throws -> [String: (mode: Int, owner: String)] {
        let run = try await Self.run(try ServiceTestSupport.tool("dpkg-deb"), ["-c", package], in: repository)
        try #require(run.status == 0, "dpkg-deb -c \(package): \(run.stderr)")
        var files: [String: (mode: Int, owner: String)] = [:]
        for line in run.stdout.split(separator: "\n") where line.hasPrefix("-") {
            // -rwxr-xr-x root/root   62729752 2026-11-29 05:33 ./usr/bin/facewatch
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count >= 6 else { continue }
            let path = String(columns[5...].joined(separator: " ").dropFirst())
            files[path] = (mode: permissions(String(columns[0])), owner: String(columns[1]))
        }
        return files
    }

    /// `rwxr-xr-x` as 0o755 (setuid and friends do not occur in these packages).
    static func permissions(_ text: String) -> Int {
        text.dropFirst().prefix(9).reduce(0) { $0 << 1 | ($1 == "-" ? 0 : 1) }
    }

    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? Int) ?? 0
    }

    static func run(_ program: String, _ arguments: [String], in directory: String) async throws -> ProgramOutput {
        try await InstallTests.run(program, arguments, in: directory)
    }
}
