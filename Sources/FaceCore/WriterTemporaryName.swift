/// Names that writers use while a file is incomplete: dotfiles (rsync, `facewatch submit`), `*.part`
/// (curl, browsers), `*.tmp` (any case) and `*~` (editors). The inbox ignores them until renamed, and
/// `facewatch encode` and `facewatch submit` skip them when they list a folder: one rule for all.
///
/// The rule reads raw bytes, because Linux names need not be UTF-8: rsync's temporary name for a
/// Latin-1 `été.jpg` is `.\xE9t\xE9.jpg.XXXXXX`, a temporary name all the same, which the inbox must
/// leave alone (renaming it under rsync would make rsync's final rename fail).
public enum WriterTemporaryName {
    /// Whether `name` (a last path component) is a writer's temporary name.
    public static func matches(_ name: String) -> Bool {
        matches(bytes: Array(name.utf8))
    }

    /// Whether the raw name `bytes` (a last path component, any bytes but `/` and NUL) is a writer's
    /// temporary name. Only ASCII is compared; the suffixes without regard to ASCII case.
    public static func matches(bytes: some Collection<UInt8>) -> Bool {
        guard let first = bytes.first else { return false }
        if first == UInt8(ascii: ".") { return true }
        let tail = bytes.suffix(5).map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
        if tail.last == UInt8(ascii: "~") { return true }
        return tail.suffix(5).elementsEqual(".part".utf8) || tail.suffix(4).elementsEqual(".tmp".utf8)
    }
}
