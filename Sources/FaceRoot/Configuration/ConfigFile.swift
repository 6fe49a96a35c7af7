import Foundation

/// A configuration file in facewatch's `key = value` format.
///
/// ```
/// # A comment: a line whose first non-blank character is `#`.
/// root = /var/lib/facewatch
/// workers = 4            # a comment may follow a value after a blank
/// max_bytes = 50MB
/// inbox = "/srv/drop #1" # double quotes keep blanks and `#`; \" and \\ escape inside them
/// ```
///
/// Keys are lowercase words joined by `_` (a `-` is read as `_`); each key may appear once. Blank
/// lines are ignored. Which keys exist and what their values mean is `DaemonConfiguration`'s business:
/// this type only splits the text and remembers where each value came from, for error messages.
public struct ConfigFile: Sendable, Equatable {
    /// One `key = value` line.
    public struct Entry: Sendable, Equatable {
        /// The key, with `-` replaced by `_`.
        public var key: String
        /// The value, unquoted.
        public var value: String
        /// 1-based line number in the file.
        public var line: Int
    }

    /// The file's path, or a name for text that came from elsewhere.
    public var path: String
    /// The entries, in file order.
    public var entries: [Entry]

    /// The value of `key`, if the file sets it.
    public subscript(key: String) -> String? {
        entries.first { $0.key == key }?.value
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedDescription
            throw ConfigurationError("cannot read config file \(path): \(reason)")
        }
        try self.init(text: text, path: path)
    }

    /// Parses `text`; `path` names it in error messages.
    public init(text: String, path: String) throws(ConfigurationError) {
        self.path = path
        entries = []
        var seen: [String: Int] = [:]
        // "\r\n" is one Character in Swift: split on every kind of line end.
        let lines = text.split(
            omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        for (index, line) in lines.enumerated() {
            let number = index + 1
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.first == "#" { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                // The line is not echoed: it may hold a password (a URL without its key), and this
                // message reaches the journal.
                throw ConfigurationError("\(path):\(number): expected `key = value`")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "-", with: "_")
            guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
                throw ConfigurationError(
                    "\(path):\(number): invalid key `\(trimmed[..<equals].trimmingCharacters(in: .whitespaces))`")
            }
            if let first = seen[key] {
                throw ConfigurationError("\(path):\(number): `\(key)` is already set on line \(first)")
            }
            seen[key] = number
            let value = try Self.parseValue(trimmed[trimmed.index(after: equals)...], path: path, line: number)
            entries.append(Entry(key: key, value: value, line: number))
        }
    }

    /// The value after `=`: blanks around it removed; a quoted value unquoted; an unquoted value ends
    /// at a `#` that follows a blank.
    private static func parseValue(_ raw: Substring, path: String, line: Int) throws(ConfigurationError) -> String {
        let text = raw.drop { $0 == " " || $0 == "\t" }
        if text.first == "\"" {
            var value = ""
            var index = text.index(after: text.startIndex)
            var closed = false
            while index < text.endIndex {
                let character = text[index]
                if character == "\\" {
                    let next = text.index(after: index)
                    guard next < text.endIndex else { break }
                    value.append(text[next])
                    index = text.index(after: next)
                    continue
                }
                if character == "\"" {
                    closed = true
                    index = text.index(after: index)
                    break
                }
                value.append(character)
                index = text.index(after: index)
            }
            guard closed else { throw ConfigurationError("\(path):\(line): unterminated quoted value") }
            let rest = text[index...].trimmingCharacters(in: .whitespaces)
            guard rest.isEmpty || rest.hasPrefix("#") else {
                throw ConfigurationError("\(path):\(line): unexpected text after the quoted value")
            }
            return value
        }
        var value = ""
        var previous: Character = " "
        for character in text {
            if character == "#", previous == " " || previous == "\t" { break }
            value.append(character)
            previous = character
        }
        return value.trimmingCharacters(in: .whitespaces)
    }
}

/// A configuration value or file that cannot be used; `message` says which and why, in one line.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, for a person.
    public var message: String

    /// An error saying `message`.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
