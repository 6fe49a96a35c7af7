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
            picture = try image.crop(around: best.location).encoded(as: .jpeg, quality: 92)
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

extension RGBImage {
    /// The part of the image around `box`: the box grown by half its width and height on each side,
    /// clipped to the image.
    func crop(around box: FaceLocation) -> RGBImage {
        let grow = (x: (box.right - box.left) / 2, y: (box.bottom - box.top) / 2)
        let x0 = max(0, box.left - grow.x)
        let y0 = max(0, box.top - grow.y)
        let x1 = min(width, box.right + grow.x)
        let y1 = min(height, box.bottom + grow.y)
        guard x1 > x0, y1 > y0 else { return self }
        var pixels: [UInt8] = []
        pixels.reserveCapacity((x1 - x0) * (y1 - y0) * 3)
        for y in y0..<y1 { pixels += self.pixels[(y * width + x0) * 3..<(y * width + x1) * 3] }
        return RGBImage(width: x1 - x0, height: y1 - y0, pixels: pixels)
    }
}
