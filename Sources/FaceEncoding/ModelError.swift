/// A model directory or model file that cannot be used. Its description is one line that names the
/// file and says how to get the models.
public struct ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable, Equatable {
        /// No directory with the models was found, or the given one does not exist.
        case directoryNotFound
        /// A model file is missing or unreadable.
        case missing
        /// A model file exists but dlib cannot read it.
        case corrupt
        /// An engine could not be created from loaded models (out of memory).
        case engineFailed
    }

    public var kind: Kind
    /// The file (or directory) concerned.
    public var path: String
    /// What dlib or the file system said, starting with the path (`/dir/x.dat: No such file or directory`).
    public var detail: String

    public init(_ kind: Kind, path: String, detail: String) {
        self.kind = kind
        self.path = path
        self.detail = detail
    }

    /// How to fetch the models, appended to every message.
    public static let howToFetch =
        "run `make models` (or pass --models DIR, or set FACEWATCH_MODELS) to get the dlib models"

    public var description: String {
        switch kind {
        case .directoryNotFound: "no model directory: \(detail); \(Self.howToFetch)"
        case .missing: "model file missing: \(detail); \(Self.howToFetch)"
        case .corrupt: "model file unusable: \(detail); \(Self.howToFetch)"
        case .engineFailed: "cannot create a face engine: \(detail)"
        }
    }
}
