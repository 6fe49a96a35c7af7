/// Names that writers use while a file is incomplete: dotfiles (rsync, `facewatch submit`), `*.part`
/// (curl, browsers), `*.tmp` (any case) and `*~` (editors). The inbox ignores them until renamed, and
/// `facewatch encode` skips them when it lists a folder: one rule for both.
public enum WriterTemporaryName {
    /// Whether `name` (a last path component) is a writer's temporary name.
    public static func matches(_ name: String) -> Bool {
        if name.hasPrefix(".") || name.hasSuffix("~") { return true }
        let lower = name.lowercased()
        return lower.hasSuffix(".part") || lower.hasSuffix(".tmp")
    }
}
