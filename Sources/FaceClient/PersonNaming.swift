import FaceCore
import FaceImage
import FaceReport
import FaceRoot
import Foundation

extension Queries {
    /// Names a found person: writes a picture of its best face (the face's box grown by half its
    /// size on each side, clipped to the photo, as a JPEG) to `known/NAME/person-<id>.jpg`. The
    /// known folder stays the truth of names: the daemon reads the picture as any other, and the
    /// person's faces are then labelled NAME (`people` shows the name). Naming two people with one
    /// name puts both under it. Returns the picture's path.
    ///
    /// - Throws: `ClientError` when the name is not a folder name, no single person has an id
    ///   starting with `person` (4 hex digits at least), or the photo cannot be read or the
    ///   picture written.
    public func name(_ person: String, as name: String) throws(ClientError) -> String {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), !name.contains("\0") else {
            throw ClientError("`\(name)` cannot be a known person's name (a folder name: no /, not starting with .)")
        }
        let found = try foundPeople()
        guard let chosen = found.person(person) else {
            throw ClientError(
                "no person has the id \(person) (`facewatch people` lists them; give at least 4 hex digits of one)")
        }
        let best = chosen.best
        let location = StoreLocation(root: configuration.root, store: configuration.store)
        let photo = location.locate(id: best.record, recorded: best.storePath)
        let picture: [UInt8]
        do {
            let bytes = try ImageFile.read(atPath: photo, maxBytes: configuration.maxBytes).get()
            let image = RGBImage(try ImageDecoder.decode(bytes, limits: configuration.limits))
            picture = try image.cropped(around: best.location).encoded(as: .jpeg, quality: 92)
        } catch {
            throw ClientError("cannot make a picture of person \(chosen.id)'s face from \(photo): \(error)")
        }
        let folder = (configuration.known as NSString).appendingPathComponent(name)
        let path = (folder as NSString).appendingPathComponent("person-\(chosen.id).jpg")
        do {
            try DurableFile.createDirectories(folder)
            try DurableFile.writeAtomically(picture, to: path, permissions: 0o644)
        } catch {
            throw ClientError("cannot write \(path): \(error)")
        }
        return path
    }
}
