/// The extension facewatch keeps for a file it names itself (`store/ab/<uuid>.<ext>`, the inbox
/// name `submit` gives): the original's, lowercased, with everything but ASCII letters and digits
/// removed, cut to 8 characters.
public enum FileExtension {
    /// `ext` cleaned as above; nil if nothing is left.
    public static func sanitized(_ ext: String) -> String? {
        let kept = ext.lowercased().unicodeScalars.filter {
            $0.isASCII && (("a"..."z").contains($0) || ("0"..."9").contains($0))
        }
        guard !kept.isEmpty else { return nil }
        return String(String.UnicodeScalarView(kept.prefix(8)))
    }
}
