/// `key=value` fields for log messages, in the order written.
public enum LogField {
    /// `key=value`, the value in double quotes (with `"` and `\` escaped) when it is empty or holds a
    /// blank, a quote, `=` or a control character.
    public static func pair(_ key: String, _ value: String) -> String {
        key + "=" + quoted(value)
    }

    /// The value as `pair` writes it.
    public static func quoted(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty
            || value.unicodeScalars.contains {
                $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value < 0x20 || $0 == "\u{7f}"
            }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
