#if canImport(Glibc)
import Glibc
#endif
import FaceLedger
import Foundation

/// Where a ledger's password comes from when its URL has none, as libpq looks for it: the URL's
/// `passfile=` parameter, else `PGPASSWORD`, else the password file `PGPASSFILE` names, else
/// `~/.pgpass`. A password file has lines `host:port:database:user:password` (`*` matches
/// anything, `\:` and `\\` escape); the first line that matches is used; for a Unix socket the
/// host is `localhost` (or the socket directory). Like libpq, a password file that its group or
/// everyone may read is ignored (with the reason in `ignored`), since anyone could read it.
enum PostgresPassword {
    /// The password for `location`, and why a password file was passed over, if one was.
    static func find(
        for location: PostgresLocation, passfile: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> (password: String?, ignored: String?) {
        if passfile == nil, let password = environment["PGPASSWORD"], !password.isEmpty { return (password, nil) }
        let path: String
        if let passfile {
            path = passfile
        } else if let named = environment["PGPASSFILE"], !named.isEmpty {
            path = named
        } else if let home = environment["HOME"] ?? homeDirectory() {
            path = (home as NSString).appendingPathComponent(".pgpass")
        } else {
            return (nil, nil)
        }
        var status = stat()
        guard stat(path, &status) == 0 else { return (nil, nil) }
        guard status.st_mode & 0o077 == 0 else {
            let mode = String(status.st_mode & 0o777, radix: 8)
            return (
                nil,
                "the password file \(path) is ignored: its group or everyone may read it (mode 0\(mode)); chmod 0600 it"
            )
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return (nil, nil) }
        return (lookup(text, for: location), nil)
    }

    /// The password of the first line of `text` that matches `location`.
    static func lookup(_ text: String, for location: PostgresLocation) -> String? {
        let hosts = location.socketDirectory.map { ["localhost", $0] } ?? [location.host ?? "localhost"]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let fields = split(String(line))
            guard fields.count == 5 else { continue }
            func matches(_ field: String, _ values: [String]) -> Bool { field == "*" || values.contains(field) }
            if matches(fields[0], hosts), matches(fields[1], [String(location.port)]),
                matches(fields[2], [location.database]), matches(fields[3], [location.user])
            {
                return fields[4]
            }
        }
        return nil
    }

    /// A password-file line's fields: split on unescaped `:`, escapes removed.
    private static func split(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }

    private static func homeDirectory() -> String? {
        guard let entry = getpwuid(geteuid()), let directory = entry.pointee.pw_dir else { return nil }
        return String(cString: directory)
    }
}
