import FaceCore
import Foundation

/// Parsers for the value syntaxes used by the config file and the command line: sizes, durations,
/// booleans. Each returns nil for text it does not accept; callers name the key in their errors.
public enum ValueParsing {
    /// A size in bytes: `50000000`, `50M`, `50MB`, `48MiB`, `2k`, `1.5G`. `k`/`M`/`G`/`T` (with or
    /// without `B`) are powers of 1000; `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024. Case-insensitive.
    public static func byteCount(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard !digits.isEmpty, let number = Double(digits), number >= 0 else { return nil }
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
        ]
        guard let multiplier = multipliers[unit] else { return nil }
        let bytes = (number * multiplier).rounded()
        guard bytes < Double(Int.max) else { return nil }
        return Int(bytes)
    }

    /// A duration in seconds: `30` (seconds), `250ms`, `30s`, `90m`, `24h`, `7d`, `2w`, or a sum such as
    /// `1h30m`. Negative durations are refused.
    public static func seconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !trimmed.isEmpty else { return nil }
        if let plain = Double(trimmed) { return plain >= 0 && plain.isFinite ? plain : nil }
        let units: [String: Double] = ["ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        var total = 0.0
        var rest = Substring(trimmed)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            guard !digits.isEmpty, let number = Double(digits), let multiplier = units[String(unit)] else { return nil }
            total += number * multiplier
        }
        return total.isFinite ? total : nil
    }

    /// `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0` (case-insensitive).
    public static func bool(_ text: String) -> Bool? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "on", "1": true
        case "false", "no", "off", "0": false
        default: nil
        }
    }

    /// A point in time: RFC 3339 (`2026-11-24T18:00:00Z`, with or without fractional seconds or a
    /// zone offset), or a UTC date `2026-11-24` (its midnight), or `now`.
    public static func date(_ text: String, now: Date = Date()) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "now" { return now }
        if let date = Timestamp.parse(trimmed) { return date }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(trimmed + "Z") {
            return date
        }
        if let date = try? Date.ISO8601FormatStyle().parse(trimmed + "Z") { return date }
        if trimmed.count == 10, let date = try? Date.ISO8601FormatStyle().year().month().day().parse(trimmed) {
            return date
        }
        return nil
    }
}
