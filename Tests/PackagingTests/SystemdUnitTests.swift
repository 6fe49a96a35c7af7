#if canImport(Glibc)
import Glibc
#endif
import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

/// The files in systemd/, checked by systemd's own tools: `systemd-analyze security` and `verify`,
/// `systemd-sysusers` and `systemd-tmpfiles` (Debian's `systemd` package; `make deps` installs it).
/// Without the tools these tests fail, they do not skip: CI runs where the service is installed.
@Suite(.tags(.packaging), .timeLimit(.minutes(5))) struct SystemdUnitTests {
    @Test func securityExposureIsAtMost1point5() async throws {
        let analyze = try ServiceTestSupport.systemdAnalyze()
        let run = try await runProgram(
            analyze, ["security", "--offline=true", "--no-pager", ServiceTestSupport.unitFile])
        #expect(run.status == 0, "systemd-analyze security failed: \(run.stderr)")
        let exposure = try #require(
            ServiceTestSupport.overallExposure(run.stdout),
            "no 'Overall exposure level' line in:\n\(run.stdout)\n\(run.stderr)")
        let weak = run.stdout.split(separator: "\n").filter { $0.hasPrefix("✗") }.joined(separator: "\n")
        #expect(exposure <= 1.5, "exposure \(exposure) > 1.5; the settings that cost:\n\(weak)")
    }

    /// The summary line ends in a face that is an emoji in a UTF-8 locale and `:-}` in others.
    @Test func theExposureIsReadWhateverTheLocale() {
        for face in ["😀", ":-}", ":-(", ""] {
            let output = "  ✓ X=  y  \n→ Overall exposure level for facewatch.service: 0.2 SAFE \(face)\n"
            #expect(ServiceTestSupport.overallExposure(output) == 0.2, "with \(face)")
        }
    }

    @Test func verifyIsClean() async throws {
        // verify checks that ExecStart's binary exists. The unit names the installed path
        // (/usr/local/bin/facewatch), so a copy points at the binary this build made: any other
        // complaint fails the test.
        let analyze = try ServiceTestSupport.systemdAnalyze()
        let binary = try ServiceTestSupport.builtBinary()
        let directory = try ServiceTestSupport.TemporaryDirectory()
        let unit = try String(contentsOfFile: ServiceTestSupport.unitFile, encoding: .utf8)
        #expect(unit.contains(ServiceTestSupport.installedBinary))
        let copy = directory.path + "/facewatch.service"
        try unit.replacingOccurrences(of: ServiceTestSupport.installedBinary, with: binary)
            .write(toFile: copy, atomically: true, encoding: .utf8)

        let run = try await runProgram(analyze, ["verify", "--no-pager", copy])
        #expect(run.status == 0)
        #expect(run.stdout.isEmpty && run.stderr.isEmpty, "systemd-analyze verify said:\n\(run.stdout)\(run.stderr)")
    }

    @Test func verifyOfTheUnitAsShippedComplainsOnlyAboutTheUninstalledBinary() async throws {
        let analyze = try ServiceTestSupport.systemdAnalyze()
        let run = try await runProgram(analyze, ["verify", "--no-pager", ServiceTestSupport.unitFile])
        let complaints = (run.stdout + run.stderr).split(separator: "\n")
            .filter { !$0.contains("Command \(ServiceTestSupport.installedBinary) is not executable") }
        #expect(complaints.isEmpty, "systemd-analyze verify said:\n\(complaints.joined(separator: "\n"))")
    }

    @Test func unitRunsTheDaemonAsDesigned() async throws {
        let unit = try ServiceTestSupport.UnitFile(path: ServiceTestSupport.unitFile)
        #expect(unit["Service", "Type"] == ["notify"])
        #expect(
            unit["Service", "ExecStart"] == [
                "\(ServiceTestSupport.installedBinary) serve --config /etc/facewatch/facewatch.conf"
            ])
        #expect(unit["Service", "ExecReload"] == ["/bin/kill -HUP $MAINPID"])
        #expect(unit["Service", "Restart"] == ["on-failure"])
        #expect(unit["Service", "User"] == ["facewatch"])
        #expect(unit["Service", "Group"] == ["facewatch"])
        #expect(unit["Service", "StateDirectory"] == ["facewatch"])
        #expect(unit["Service", "ReadWritePaths"] == ["/var/lib/facewatch"])
        // AF_UNIX only: the datagram to $NOTIFY_SOCKET is the one socket the daemon opens.
        #expect(unit["Service", "RestrictAddressFamilies"] == ["AF_UNIX"])
        #expect(unit["Install", "WantedBy"] == ["multi-user.target"])
        // The filter denies @resources, and libdispatch's worker threads call setpriority() (OpenBLAS
        // calls mbind()): with systemd's default action, SIGSYS, the daemon dies at once. EPERM is
        // ignored by both. (Checked by running the daemon under an equivalent seccomp filter.)
        #expect(unit["Service", "SystemCallFilter"]?.contains { $0.contains("@resources") } == true)
        #expect(unit["Service", "SystemCallErrorNumber"] == ["EPERM"])
        #expect(unit["Service", "MemoryDenyWriteExecute"] == ["yes"])

        // The stop timeout covers the daemon's own graceful-shutdown bound plus time to commit and
        // write stats; the watchdog fires long after the interval at which the daemon pings.
        let stop = try #require(unit["Service", "TimeoutStopSec"]?.last.flatMap(ValueParsing.seconds))
        let drain = DaemonConfiguration(root: "/var/lib/facewatch").shutdownTimeout
        #expect(stop >= drain + 10, "TimeoutStopSec=\(stop)s leaves no margin over the \(drain)s drain")
        let watchdog = try #require(unit["Service", "WatchdogSec"]?.last.flatMap(ValueParsing.seconds))
        #expect(watchdog >= 30)
        let environment = ["WATCHDOG_USEC": String(Int(watchdog * 1_000_000))]
        #expect(SystemdWatchdog.interval(environment: environment, processID: 1) == .seconds(watchdog / 2))
    }

    @Test(.enabled(if: getuid() == 0, "systemd-tmpfiles chowns to the facewatch user: needs root"))
    func sysusersAndTmpfilesCreateTheStateRoot() async throws {
        let sysusers = try ServiceTestSupport.tool("systemd-sysusers")
        let tmpfiles = try ServiceTestSupport.tool("systemd-tmpfiles")
        // An empty root laid out as `make install` lays out a system.
        let root = try ServiceTestSupport.TemporaryDirectory()
        for directory in ["/etc", "/usr/lib/sysusers.d", "/usr/lib/tmpfiles.d"] {
            try FileManager.default.createDirectory(atPath: root.path + directory, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(
            atPath: ServiceTestSupport.repository + "/systemd/facewatch.sysusers",
            toPath: root.path + "/usr/lib/sysusers.d/facewatch.conf")
        try FileManager.default.copyItem(
            atPath: ServiceTestSupport.repository + "/systemd/facewatch.tmpfiles",
            toPath: root.path + "/usr/lib/tmpfiles.d/facewatch.conf")

        let users = try await runProgram(sysusers, ["--root=\(root.path)"])
        #expect(users.status == 0, "systemd-sysusers: \(users.stderr)")
        let passwd = try String(contentsOfFile: root.path + "/etc/passwd", encoding: .utf8)
        let group = try String(contentsOfFile: root.path + "/etc/group", encoding: .utf8)
        let user = try #require(
            passwd.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false) }
                .first { $0.first == "facewatch" })
        let facewatchGroup = try #require(
            group.split(separator: "\n").map { $0.split(separator: ":", omittingEmptySubsequences: false) }
                .first { $0.first == "facewatch" })
        let uid = try #require(UInt32(user[2]))
        let gid = try #require(UInt32(facewatchGroup[2]))
        #expect(UInt32(user[3]) == gid, "the user's primary group is facewatch")
        #expect(uid < 1000, "a system user")
        #expect(user[6] == "/usr/sbin/nologin")

        let files = try await runProgram(tmpfiles, ["--root=\(root.path)", "--create"])
        #expect(files.status == 0, "systemd-tmpfiles: \(files.stderr)")
        let expected: [(String, mode_t)] = [
            ("", 0o755), ("/inbox", 0o3770), ("/store", 0o700), ("/results", 0o750), ("/db", 0o700),
        ]
        for (directory, mode) in expected {
            var info = stat()
            let path = root.path + "/var/lib/facewatch" + directory
            #expect(stat(path, &info) == 0, "\(path) missing")
            #expect(info.st_mode & S_IFMT == S_IFDIR)
            #expect(
                info.st_mode & 0o7777 == mode,
                "\(path): \(String(info.st_mode & 0o7777, radix: 8)) instead of \(String(mode, radix: 8))")
            #expect(info.st_uid == uid && info.st_gid == gid, "\(path) not owned by facewatch:facewatch")
        }

        // The unit's state directory is the one tmpfiles makes, with the same mode (systemd warns
        // when they differ).
        let unit = try ServiceTestSupport.UnitFile(path: ServiceTestSupport.unitFile)
        #expect(unit["Service", "StateDirectoryMode"] == ["0755"])
    }
}

/// What the service tests share: where the repository's files are, how to run systemd's tools.
enum ServiceTestSupport {
    /// The repository root (the tests read nothing outside the repository).
    static var repository: String { repositoryRoot }

    /// systemd/facewatch.service.
    static var unitFile: String { repository + "/systemd/facewatch.service" }

    /// The binary's path in the unit as shipped; `make install` rewrites the prefix.
    static let installedBinary = "/usr/local/bin/facewatch"

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// `systemd-analyze`, or an error that says how to get it.
    static func systemdAnalyze() throws -> String { try tool("systemd-analyze") }

    /// A program on $PATH (or in /usr/bin, /bin), or an error that says how to get it.
    static func tool(_ name: String) throws -> String {
        guard let path = programPath(name) else {
            throw Missing(
                description:
                    "\(name) not found: install Debian's `systemd` package (`make deps` does); these tests check the unit with systemd's own tools"
            )
        }
        return path
    }

    /// The `facewatch` executable this build made, next to the test runner.
    static func builtBinary() throws -> String {
        guard let facewatchBinary else {
            throw Missing(
                description: "no facewatch executable next to the tests: build it (swift build) before the tests")
        }
        return facewatchBinary
    }

    /// The number on `→ Overall exposure level for facewatch.service: 0.2 SAFE`.
    static func overallExposure(_ output: String) -> Double? {
        // "→ Overall exposure level for facewatch.service: 0.2 SAFE 😀" (":-}" in place of the
        // face where the locale is not UTF-8): the number after the unit's name and its colon.
        for line in output.split(separator: "\n") {
            guard let label = line.range(of: "Overall exposure level for "),
                let colon = line[label.upperBound...].range(of: ": ")
            else { continue }
            let number = line[colon.upperBound...].prefix { $0.isNumber || $0 == "." }
            return Double(number)
        }
        return nil
    }

    /// A unit file's `Key=value` assignments by section, in order (a key may repeat).
    struct UnitFile {
        var sections: [String: [(key: String, value: String)]] = [:]

        init(path: String) throws {
            var section = ""
            for rawLine in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
                let line = rawLine.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
                if line.hasPrefix("[") && line.hasSuffix("]") {
                    section = String(line.dropFirst().dropLast())
                    continue
                }
                guard let equals = line.firstIndex(of: "=") else { continue }
                let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                sections[section, default: []].append((key, value))
            }
        }

        /// Every value assigned to `key` in `section`, in order; nil when it is never assigned.
        subscript(section: String, key: String) -> [String]? {
            let values = (sections[section] ?? []).filter { $0.key == key }.map(\.value)
            return values.isEmpty ? nil : values
        }
    }

    /// A fresh directory, removed with everything in it when the value goes away.
    final class TemporaryDirectory {
        let path: String
        init() throws {
            path = NSTemporaryDirectory() + "facewatch-service-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }
}
