import FaceCore
import FaceImage
import FaceLedger
import Foundation

/// Writes the static HTML report of a facewatch root into a directory: `index.html` (totals,
/// throughput and failures plots, the first gallery page), `page-N.html` (the other gallery pages)
/// and `thumbs/<uuid>.jpg` (one small JPEG per gallery image, made once and kept while the image is
/// in the gallery). The gallery is the newest `galleryLimit` images of the window, `pageSize` per
/// page, so however many results the root holds, a page stays small and each regeneration decodes
/// only the images that are new to the gallery.
public struct ReportGenerator: Sendable {
    /// What to show and how much.
    public struct Options: Sendable, Equatable {
        /// Images in the gallery (the newest of the window).
        public var galleryLimit: Int
        /// Images per gallery page.
        public var pageSize: Int
        /// The longer side of a thumbnail, in pixels.
        public var thumbnailSize: Int

        public init(galleryLimit: Int = 960, pageSize: Int = 48, thumbnailSize: Int = 320) {
            self.galleryLimit = galleryLimit
            self.pageSize = pageSize
            self.thumbnailSize = thumbnailSize
        }
    }

    /// What one generation did.
    public struct Summary: Sendable, Equatable {
        /// Gallery pages written (index.html included).
        public var pages: Int
        /// Images in the gallery.
        public var galleryImages: Int
        /// Thumbnails made this time (the others were already there).
        public var thumbnailsMade: Int
        /// Gallery images whose original could not be read or decoded (shown without a picture).
        public var thumbnailsFailed: Int
    }

    private let ledger: any Ledger
    private let root: String
    private let resultsDirectory: String
    private let imagePath: @Sendable (ReportData.GalleryEntry) -> String
    private let limits: ImageLimits
    private let options: Options
    private let people: (@Sendable () throws -> [ReportPerson])?

    /// A generator over `ledger`, whose result documents are in `resultsDirectory` and whose
    /// originals `imagePath` finds; `limits` bound what is decoded for a thumbnail. With `people`,
    /// the report has a People page (`people.html`) of the people it gives.
    public init(
        ledger: any Ledger, root: String, resultsDirectory: String, limits: ImageLimits, options: Options = Options(),
        people: (@Sendable () throws -> [ReportPerson])? = nil,
        imagePath: @escaping @Sendable (ReportData.GalleryEntry) -> String
    ) {
        self.people = people
        self.ledger = ledger
        self.root = root
        self.resultsDirectory = resultsDirectory
        self.limits = limits
        self.options = options
        self.imagePath = imagePath
    }

    /// Writes the report for the images created in the `since` seconds before `now` into `directory`
    /// (created if missing).
    ///
    /// - Throws: `LedgerError` when the ledger cannot be read, an error naming the file when the
    ///   directory or a page cannot be written.
    @discardableResult
    public func write(
        to directory: String, since: TimeInterval, imagesPerMinute: Double, now: Date = Date()
    ) throws -> Summary {
        let data = try ReportData.gather(
            ledger: ledger, from: now.addingTimeInterval(-since), to: now,
            galleryLimit: max(0, options.galleryLimit), imagesPerMinute: imagesPerMinute)
        let thumbs = (directory as NSString).appendingPathComponent("thumbs")
        try ReportFiles.makePrivateDirectory(directory)
        try ReportFiles.makePrivateDirectory(thumbs)

        var summary = Summary(pages: 0, galleryImages: data.gallery.count, thumbnailsMade: 0, thumbnailsFailed: 0)
        var tiles: [GalleryTile] = []
        tiles.reserveCapacity(data.gallery.count)
        for entry in data.gallery {
            tiles.append(tile(for: entry, directory: directory, thumbs: thumbs, summary: &summary))
        }

        let pageSize = max(1, options.pageSize)
        let pageCount = max(1, (tiles.count + pageSize - 1) / pageSize)
        for page in 1...pageCount {
            let slice = Array(tiles.dropFirst((page - 1) * pageSize).prefix(pageSize))
            let html = ReportPages.render(
                page: page, pageCount: pageCount, data: data, tiles: slice, generatedAt: now, root: root,
                peopleLink: people != nil)
            try ReportFiles.write(
                Array(html.utf8), to: (directory as NSString).appendingPathComponent(ReportPages.fileName(page: page)),
                durable: true)
        }
        summary.pages = pageCount
        if let people { try writePeople(try people(), to: directory, now: now) }
        removeStale(directory: directory, thumbs: thumbs, pageCount: pageCount, keep: Set(data.gallery.map(\.id)))
        ReportFiles.syncDirectory(directory)
        return summary
    }

    private func tile(
        for entry: ReportData.GalleryEntry, directory: String, thumbs: String, summary: inout Summary
    ) -> GalleryTile {
        let name = entry.id.uuidString.lowercased()
        let resultPath = (resultsDirectory as NSString).appendingPathComponent(name + ".json")
        var faces = entry.faces.map { AnnotatedFace(location: $0) }
        if let data = FileManager.default.contents(atPath: resultPath),
            let withMatches = try? AnnotatedFace.faces(fromResultJSON: data), withMatches.count == faces.count
        {
            faces = withMatches
        }
        var tile = GalleryTile(
            entry: entry, thumbnail: nil, faces: faces,
            resultLink: ReportFiles.relativePath(from: directory, to: resultPath))
        guard entry.status == .completed, let image = entry.image else { return tile }
        let thumbnailPath = (thumbs as NSString).appendingPathComponent(name + ".jpg")
        if !FileManager.default.fileExists(atPath: thumbnailPath) {
            do {
                try makeThumbnail(of: imagePath(entry), at: thumbnailPath)
                summary.thumbnailsMade += 1
            } catch {
                summary.thumbnailsFailed += 1
                return tile
            }
        }
        tile.thumbnail = ("thumbs/" + name + ".jpg", image.width, image.height)
        return tile
    }

    /// `people.html` and one picture per person (`people/<result>-<face>.jpg`, its best face, made
    /// once); pictures no person's best face is cut from any more are removed.
    private func writePeople(_ people: [ReportPerson], to directory: String, now: Date) throws {
        let folder = (directory as NSString).appendingPathComponent("people")
        try ReportFiles.makePrivateDirectory(folder)
        var crops: [String: String] = [:]
        for person in people {
            let path = (folder as NSString).appendingPathComponent(person.pictureName)
            if !FileManager.default.fileExists(atPath: path) {
                do {
                    let bytes = try ImageFile.read(atPath: person.bestImagePath, maxBytes: limits.maxBytes).get()
                    let face = RGBImage(try ImageDecoder.decode(bytes, limits: limits)).cropped(
                        around: person.bestLocation)
                    try ReportFiles.write(
                        try face.scaledDown(toFit: 160).encoded(as: .jpeg, quality: 85), to: path, durable: false)
                } catch {
                    continue
                }
            }
            crops[person.id] = "people/" + person.pictureName
        }
        let html = ReportPeoplePage.render(
            people: people, crops: crops,
            resultLink: { id in
                ReportFiles.relativePath(
                    from: directory,
                    to: (resultsDirectory as NSString).appendingPathComponent(id.uuidString.lowercased() + ".json"))
            }, generatedAt: now, root: root)
        try ReportFiles.write(
            Array(html.utf8), to: (directory as NSString).appendingPathComponent(ReportPeoplePage.fileName),
            durable: true)
        let kept = Set(people.map(\.pictureName))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where !kept.contains(name) {
            try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
    }

    private func makeThumbnail(of source: String, at path: String) throws {
        let bytes = try ImageFile.read(atPath: source, maxBytes: limits.maxBytes).get()
        let decoded = try ImageDecoder.decode(bytes, limits: limits)
        let small = RGBImage(decoded).scaledDown(toFit: options.thumbnailSize)
        try ReportFiles.write(try small.encoded(as: .jpeg, quality: 82), to: path, durable: false)
    }

    /// Removes the pages past the last one and the thumbnails of images no longer in the gallery.
    private func removeStale(directory: String, thumbs: String, pageCount: Int, keep: Set<UUID>) {
        let files = FileManager.default
        for name in (try? files.contentsOfDirectory(atPath: directory)) ?? [] {
            guard name.hasPrefix("page-"), name.hasSuffix(".html"),
                let number = Int(name.dropFirst(5).dropLast(5)), number > pageCount
            else { continue }
            try? files.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
        for name in (try? files.contentsOfDirectory(atPath: thumbs)) ?? [] {
            guard name.hasSuffix(".jpg"), let id = UUID(uuidString: String(name.dropLast(4))), !keep.contains(id)
            else { continue }
            try? files.removeItem(atPath: (thumbs as NSString).appendingPathComponent(name))
        }
    }
}
