import FaceCore
import FaceLedger
import FaceReport
import FaceRoot
import Foundation

/// A stored image and its faces as `facewatch annotate UUID` draws them.
public struct StoredImage: Sendable {
    /// The original in the store.
    public var path: String
    /// The faces, with their known-people matches when the result document has them.
    public var faces: [AnnotatedFace]
}

extension Queries {
    /// The original of image `id` and its faces: from `results/<uuid>.json` when it is there (it
    /// carries the `matches`), else from the ledger's record.
    ///
    /// - Throws: `ClientError` when the ledger has no such image, it has not completed, or the
    ///   ledger cannot be read.
    public func storedImage(_ id: UUID) throws(ClientError) -> StoredImage {
        let found: LedgerRecord?
        do {
            found = try ledger.record(id)
        } catch {
            throw ClientError("cannot read the ledger: \(error)")
        }
        guard let record = found else {
            throw ClientError("no image \(id.uuidString.lowercased()) in \(configuration.root)")
        }
        guard record.status == .completed else {
            let why = record.error.map { "failed (\($0.code.rawValue): \($0.message))" } ?? "not encoded yet"
            throw ClientError("image \(id.uuidString.lowercased()) is \(why)")
        }
        let location = StoreLocation(root: configuration.root, store: configuration.store)
        let path = location.locate(id: id, recorded: record.storePath)
        guard FileManager.default.fileExists(atPath: path) else {
            throw ClientError(
                "the original of image \(id.uuidString.lowercased()) is no longer stored (keep_originals removes "
                    + "originals past their time; the result stays): \(path)")
        }
        var faces = record.faces.map { AnnotatedFace(location: $0.location) }
        let resultFile = (configuration.results as NSString).appendingPathComponent(
            id.uuidString.lowercased() + ".json")
        if let data = FileManager.default.contents(atPath: resultFile),
            let documented = try? AnnotatedFace.faces(fromResultJSON: data), documented.count == faces.count
        {
            faces = documented
        }
        return StoredImage(path: path, faces: faces)
    }
}
