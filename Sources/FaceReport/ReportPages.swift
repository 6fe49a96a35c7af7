import FaceCore
import Foundation

/// One gallery tile as a page shows it.
struct GalleryTile: Sendable {
    var entry: ReportData.GalleryEntry
    /// The thumbnail's path relative to the report directory and its size, nil when there is no
    /// picture (a failure, a missing original).
    var thumbnail: (path: String, width: Int, height: Int)?
    /// The faces with their matches, read from the result document (boxes only without one).
    var faces: [AnnotatedFace]
    /// The link to the result JSON, relative to the report directory.
    var resultLink: String
}

/// The report's HTML: page 1 (`index.html`) has the totals, the two plots and the first gallery
/// page; `page-N.html` the other gallery pages. Self-contained: inline CSS and SVG, no script, no
/// request beyond the thumbnails and result files beside it.
enum ReportPages {
    static func fileName(page: Int) -> String { page == 1 ? "index.html" : "page-\(page).html" }

    static func render(
        page: Int, pageCount: Int, data: ReportData, tiles: [GalleryTile], generatedAt: Date, root: String,
        peopleLink: Bool = false
    ) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>facewatch report\(page > 1 ? " – page \(page)" : "")</title>
            <style>\(style)</style></head><body>
            <header><h1>facewatch</h1><p>\(HTMLText.escape(root)) · generated \(Timestamp.format(generatedAt)) · \
            window \(Timestamp.format(data.from)) to \(Timestamp.format(data.to))\
            \(peopleLink ? " · <a href=\"\(ReportPeoplePage.fileName)\">people</a>" : "")</p></header>

            """
        if page == 1 {
            html += totals(data)
            html += "<section><h2>Throughput</h2>\(ReportCharts.throughput(data))</section>\n"
            html += "<section><h2>Failures by code</h2>\(ReportCharts.failures(data))</section>\n"
        }
        html += "<section><h2>Recent images</h2>"
        if data.gallery.isEmpty {
            html += "<p class=\"none\">No images in this window.</p>"
        } else {
            html += pager(page: page, pageCount: pageCount)
            html += "<div class=\"gallery\">"
            for tile in tiles { html += figure(tile) }
            html += "</div>"
            html += pager(page: page, pageCount: pageCount)
        }
        html += "</section>\n</body></html>\n"
        return html
    }

    private static func totals(_ data: ReportData) -> String {
        let t = data.totals
        let cells: [(String, String, String)] = [
            ("total", "total", String(t.total)), ("created", "waiting", String(t.created)),
            ("completed", "completed", String(t.completed)), ("failed", "failed", String(t.failed)),
            ("faces", "faces", String(t.faces)),
            ("images_per_minute", "images/min", String(format: "%.1f", t.imagesPerMinute)),
        ]
        var html = "<section><h2>Totals</h2><dl class=\"totals\">"
        for (key, label, value) in cells {
            html += "<div><dt>\(label)</dt><dd id=\"\(key)\">\(value)</dd></div>"
        }
        html += "</dl><p>In this window: \(data.imagesInWindow) images, \(data.facesInWindow) faces.</p></section>\n"
        return html
    }

    private static func pager(page: Int, pageCount: Int) -> String {
        guard pageCount > 1 else { return "" }
        var html = "<nav class=\"pager\">"
        if page > 1 { html += "<a href=\"\(fileName(page: page - 1))\" rel=\"prev\">← newer</a>" }
        for number in 1...pageCount {
            html +=
                number == page
                ? "<span class=\"current\">\(number)</span>" : "<a href=\"\(fileName(page: number))\">\(number)</a>"
        }
        if page < pageCount { html += "<a href=\"\(fileName(page: page + 1))\" rel=\"next\">older →</a>" }
        return html + "</nav>"
    }

    private static func figure(_ tile: GalleryTile) -> String {
        let entry = tile.entry
        let id = entry.id.uuidString.lowercased()
        var html = "<figure id=\"\(id)\"><a href=\"\(HTMLText.url(tile.resultLink))\" title=\"\(id).json\">"
        if let thumbnail = tile.thumbnail, let image = entry.image {
            // The SVG's coordinates are the original image's pixels, so the result's boxes apply as
            // they are; the thumbnail is stretched over the whole image.
            let (w, h) = (image.width, image.height)
            // About 16 CSS pixels in a 200-pixel-wide tile, whatever the image size.
            let font = max(10, max(w, h) / 12)
            html += "<svg class=\"thumb\" viewBox=\"0 0 \(w) \(h)\" xmlns=\"http://www.w3.org/2000/svg\">"
            html += "<image href=\"\(HTMLText.url(thumbnail.path))\" width=\"\(w)\" height=\"\(h)\"/>"
            for face in tile.faces {
                let l = face.location
                html += "<rect class=\"box\" x=\"\(l.left)\" y=\"\(l.top)\" width=\"\(l.right - l.left)\" "
                html += "height=\"\(l.bottom - l.top)\"/>"
                if let label = face.label {
                    let y = min(h - font / 4, l.bottom + font)
                    html +=
                        "<text class=\"name\" x=\"\(l.left)\" y=\"\(y)\" font-size=\"\(font)\">\(HTMLText.escape(label))</text>"
                }
            }
            html += "</svg>"
        } else {
            let reason = entry.error?.code.rawValue ?? (entry.status == .created ? "waiting" : "no picture")
            html += "<div class=\"thumb missing\">\(HTMLText.escape(reason))</div>"
        }
        html += "</a><figcaption><span class=\"file\">\(HTMLText.escape(entry.name))</span>"
        let names = tile.faces.compactMap { $0.matches.first?.name }
        let status =
            switch entry.status {
            case .completed: "\(entry.faces.count) face\(entry.faces.count == 1 ? "" : "s")"
            case .failed: "failed: \(entry.error?.code.rawValue ?? "")"
            case .created: "waiting"
            }
        html += "<span class=\"status \(entry.status.rawValue)\">\(HTMLText.escape(status))"
        if !names.isEmpty { html += " · " + HTMLText.escape(names.joined(separator: ", ")) }
        html += "</span><time>\(Timestamp.format(entry.createdAt))</time></figcaption></figure>"
        return html
    }

    static let style = """
        body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px 32px;color:#222;\
        background:#fafafa}header h1{margin:16px 0 0;font-size:24px}header p{margin:2px 0 12px;color:#666;\
        font-size:13px}h2{font-size:18px;margin:24px 0 8px}.totals{display:flex;flex-wrap:wrap;gap:8px;margin:0}\
        .totals div{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}\
        .totals dt{color:#666;font-size:12px;text-transform:uppercase}.totals dd{margin:0;font-size:24px;\
        font-weight:600}.chart{width:100%;height:auto;background:#fff;border:1px solid #ddd;border-radius:6px}\
        .chart .grid{stroke:#eee}.chart .baseline{stroke:#999}.chart .axis{font-size:11px;fill:#666}\
        .chart .label{font-size:13px;fill:#333}.none{color:#666}.gallery{display:grid;\
        grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}figure{margin:0;background:#fff;\
        border:1px solid #ddd;border-radius:6px;overflow:hidden}.thumb{display:block;width:100%;height:180px;\
        background:#eee}.thumb.missing{display:flex;align-items:center;justify-content:center;color:#c92a2a;\
        font-weight:600}.box{fill:none;stroke:#00ff00;stroke-width:3;vector-effect:non-scaling-stroke}\
        .name{fill:#00ff00;font-weight:700;paint-order:stroke;stroke:#000;stroke-width:3px;\
        vector-effect:non-scaling-stroke}figcaption{padding:6px 8px;font-size:12px;display:flex;\
        flex-direction:column}figcaption .file{font-weight:600;overflow:hidden;text-overflow:ellipsis;\
        white-space:nowrap}figcaption .failed{color:#c92a2a}figcaption time{color:#888}.pager{margin:10px 0;\
        display:flex;flex-wrap:wrap;gap:6px}.pager a,.pager span{padding:2px 8px;border:1px solid #ddd;\
        border-radius:4px;background:#fff;text-decoration:none}.pager .current{background:#222;color:#fff}
        """
}
