import FaceRoot
import FaceTestSupport
import Foundation
import Testing

@testable import FaceDaemon

#if canImport(Glibc)
import Glibc
#endif

/// The start-up warning about a config file that gives the ledger's password away.
@Suite struct ConfigFileSecrecyTests {
    func configuration(_ text: String, mode: mode_t, in scratch: ScratchDirectory) throws -> DaemonConfiguration {
        let path = scratch.appending("facewatch.conf")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(chmod(path, mode) == 0)
        return try DaemonConfiguration.resolve(configFile: path, flags: [:], environment: [:], currentDirectory: "/")
    }

    @Test func aPasswordReadableByTheGroupOrEveryoneIsWarnedAbout() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let withPassword = "root = /r\nledger = postgres://fw:s3cret@db.example/fw\n"
        let everyone = try configuration(withPassword, mode: 0o644, in: scratch)
        let warning = try #require(ConfigFileSecrecy.warning(for: everyone))
        #expect(warning.contains("every user may read it (mode 0644)"), "\(warning)")
        #expect(warning.contains("chmod 0600 \(scratch.appending("facewatch.conf"))"))
        #expect(!warning.contains("s3cret"))
        let group = try configuration(withPassword, mode: 0o640, in: scratch)
        #expect(ConfigFileSecrecy.warning(for: group)?.contains("the members of its group") == true)
        #expect(ConfigFileSecrecy.warning(for: try configuration(withPassword, mode: 0o600, in: scratch)) == nil)
        // No password in the file: nothing to give away.
        let none = "root = /r\nledger = postgres://fw@db.example/fw\n"
        #expect(ConfigFileSecrecy.warning(for: try configuration(none, mode: 0o644, in: scratch)) == nil)
    }
}
