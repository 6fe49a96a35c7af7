#if canImport(Glibc)
import Glibc
#endif
import FaceLedgerPostgres
import Foundation

/// Whether the config file gives away the ledger's password: a `ledger = postgres://…` URL with a
/// password in a file that its group or everyone may read. The packaged file's group is the one
/// whose members drop files (untrusted), so a readable password is theirs.
package enum ConfigFileSecrecy {
    /// The warnings to log at start: a password in a config file others may read, a password file
    /// passed over because others may read it.
    package static func warnings(for configuration: DaemonConfiguration) -> [String] {
        guard configuration.ledgerIsShared, let location = try? PostgresLocation(url: configuration.ledger) else {
            return []
        }
        return [warning(for: configuration), location.passwordFileIgnored].compactMap { $0 }
    }

    /// The warning about the config file, or nil when it keeps its secret (or holds none).
    package static func warning(for configuration: DaemonConfiguration) -> String? {
        guard configuration.ledgerIsShared, let path = configuration.configFile,
            let location = try? PostgresLocation(url: configuration.ledger), location.passwordInURL
        else { return nil }
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & 0o044 != 0 else { return nil }
        let who = status.st_mode & 0o004 != 0 ? "every user" : "the members of its group"
        let user = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "the daemon's user"
        let mode = String(status.st_mode & 0o777, radix: 8)
        return
            "the config file \(path) holds the ledger's password and \(who) may read it (mode 0\(mode)): run chown \(user) \(path) && chmod 0600 \(path)"
    }
}
