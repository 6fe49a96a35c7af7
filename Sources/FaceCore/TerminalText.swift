/// Text from untrusted places (a member's file name, a message quoting it) made safe to print on a
/// terminal: control characters, which a terminal acts on (`ESC [2J` clears the screen, an OSC
/// sequence sets the window title or a hyperlink), and the bidirectional overrides, which make a
/// name read as another, are written as `\u{XX}` instead.
public enum TerminalText {
    /// `text` with every C0 and C1 control character, DEL and bidirectional control written as
    /// `\u{XX}`; everything else as it is.
    public static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// True for a scalar a terminal acts on or that reorders text: C0 (0–0x1F), DEL, C1 (0x80–0x9F), and U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0...0x1F, 0x7F...0x9F, 0x061C, 0x200E...0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
