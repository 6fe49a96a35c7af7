import FaceTestSupport
import Foundation
import Testing

@testable import FaceLedgerPostgres

#if canImport(Glibc)
import Glibc
#endif

/// A ledger URL without its password finds it where libpq would.
@Suite struct PostgresPasswordTests {
    @Test func aPasswordFileLineIsMatchedByHostPortDatabaseAndUser() throws {
        let text = """
            # comment
            other.example:5432:faces:fw:wrong
            db.example:5433:faces:fw:pa\\:ss\\\\word
            *:*:*:fw:fallback
            """
        let tcp = try PostgresLocation(url: "postgres://fw@db.example:5433/faces?passfile=/nonexistent")
        #expect(PostgresPassword.lookup(text, for: tcp) == "pa:ss\\word")
        let elsewhere = try PostgresLocation(url: "postgres://fw@db.example/other?passfile=/nonexistent")
        #expect(PostgresPassword.lookup(text, for: elsewhere) == "fallback")
        let stranger = try PostgresLocation(url: "postgres://someone@db.example/faces?passfile=/nonexistent")
        #expect(PostgresPassword.lookup(text, for: stranger) == nil)
        let socket = try PostgresLocation(url: "postgres://fw@/faces?host=/run/postgresql&passfile=/nonexistent")
        #expect(PostgresPassword.lookup("localhost:5432:faces:fw:local\n", for: socket) == "local")
    }

    @Test func theURLTheEnvironmentAndTheFilesAreTriedInLibpqsOrder() throws {
        let scratch = ScratchDirectory()
        defer { scratch.remove() }
        let file = scratch.appending("pgpass")
        try "*:*:*:*:from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(chmod(file, 0o600) == 0)
        let location = try PostgresLocation(url: "postgres://fw@db.example/faces?passfile=\(file)")
        #expect(location.password == "from-file")
        #expect(!location.passwordInURL)
        #expect(!location.redacted.contains("from-file"))
        // PGPASSWORD, then PGPASSFILE, when the URL names no file.
        #expect(
            PostgresPassword.find(for: location, passfile: nil, environment: ["PGPASSWORD": "env"]).password == "env")
        #expect(
            PostgresPassword.find(for: location, passfile: nil, environment: ["PGPASSFILE": file]).password
                == "from-file")
        #expect(
            PostgresPassword.find(for: location, passfile: nil, environment: ["HOME": scratch.path]).password == nil)
        // A file its group may read is passed over, and the reason says so.
        #expect(chmod(file, 0o640) == 0)
        let (password, ignored) = PostgresPassword.find(for: location, passfile: file, environment: [:])
        #expect(password == nil)
        #expect(ignored?.contains("chmod 0600") == true)
        // A password in the URL wins, and is known to be there.
        let inURL = try PostgresLocation(url: "postgres://fw:secret@db.example/faces?passfile=\(file)")
        #expect(inURL.password == "secret" && inURL.passwordInURL)
    }
}
