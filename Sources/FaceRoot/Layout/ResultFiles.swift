import FaceCore
import Foundation

/// Where an image's result document is (`results/<uuid>.json`) and how a reader reads one. The
/// daemon's `ResultsWriter` writes them; clients only read.
public enum ResultFiles {
    /// The document file of an image.
    public static func path(for id: UUID, in directory: String) -> String {
        (directory as NSString).appendingPathComponent(id.uuidString.lowercased() + ".json")
    }

    /// Reads a document written by the daemon, or nil if there is none (or it cannot be parsed).
    public static func read(id: UUID, in directory: String) -> ResultDocument? {
        guard let data = FileManager.default.contents(atPath: path(for: id, in: directory)) else { return nil }
        return try? JSONDecoder().decode(ResultDocument.self, from: data)
    }
}
