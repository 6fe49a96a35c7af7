import FaceCore
import Foundation

/// A person found among the faces, as the report's People page shows it.
public struct ReportPerson: Sendable, Equatable {
    /// The picture's file name under `people/`: `<result uuid>-<face>.jpg`, named after the photo it
    /// is cut from, so that a forget of that photo finds it.
    public var pictureName: String { bestResult.uuidString.lowercased() + "-\(bestFace).jpg" }

    /// 16 hex digits.
    public var id: String
    /// The known person most of its faces are labelled with, or nil.
    public var name: String?
    public var faces: Int
    /// The results holding its faces.
    public var photos: [UUID]
    /// The best face: its result, its number there, where it is, and the stored original's path.
    public var bestResult: UUID
    public var bestFace: Int
    public var bestLocation: FaceLocation
    public var bestImagePath: String

    public init(
        id: String, name: String?, faces: Int, photos: [UUID], bestResult: UUID, bestFace: Int,
        bestLocation: FaceLocation, bestImagePath: String
    ) {
        self.bestFace = bestFace
        self.id = id
        self.name = name
        self.faces = faces
        self.photos = photos
        self.bestResult = bestResult
        self.bestLocation = bestLocation
        self.bestImagePath = bestImagePath
    }
}

extension RGBImage {
    /// The part of the image around `box`: the box grown by half its width and height on each side,
    /// clipped to the image.
    public func cropped(around box: FaceLocation) -> RGBImage {
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

/// The People page (`people.html`): one face per person found, its name or id, how many faces, and
/// a link to the result of each of its photos.
enum ReportPeoplePage {
    static let fileName = "people.html"

    /// `crops`: each person's picture path relative to the report directory (nil: none could be
    /// made); `resultLink`: a result's document relative to the report directory.
    static func render(
        people: [ReportPerson], crops: [String: String], resultLink: (UUID) -> String, generatedAt: Date,
        root: String
    ) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>facewatch report – people</title>
            <style>\(ReportPages.style)</style></head><body>
            <header><h1>facewatch: people</h1><p>\(HTMLText.escape(root)) · generated \(Timestamp.format(generatedAt)) · \
            <a href="index.html">report</a></p></header>
            <section><h2>\(people.count) people found among the faces</h2>

            """
        if people.isEmpty {
            html += "<p class=\"none\">No person found yet.</p>"
        } else {
            html += "<div class=\"gallery\">"
            for person in people {
                let title = person.name.map(HTMLText.escape) ?? "unnamed"
                html += "<figure class=\"person\" id=\"p\(person.id)\">"
                if let crop = crops[person.id] {
                    html += "<img src=\"\(HTMLText.escape(crop))\" alt=\"\(title)\" loading=\"lazy\">"
                }
                html += "<figcaption><b>\(title)</b> <code>\(person.id)</code><br>\(person.faces) faces in "
                html += "\(person.photos.count) photos: "
                html += person.photos.enumerated().map { index, id in
                    "<a href=\"\(HTMLText.escape(resultLink(id)))\">\(index + 1)</a>"
                }.joined(separator: " ")
                html += "</figcaption></figure>"
            }
            html += "</div>"
        }
        html += "</section>\n</body></html>\n"
        return html
    }
}
