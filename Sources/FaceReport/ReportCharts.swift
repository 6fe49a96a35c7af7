import FaceCore
import Foundation

/// The report's two plots as inline SVG: throughput over time (completed and failed per interval,
/// stacked) and failures by code (horizontal bars). Plain shapes with `<title>`s (hovering shows the
/// figure); no script.
enum ReportCharts {
    static let completedColor = "#2b8a3e"
    static let failedColor = "#c92a2a"

    /// Stacked bars of the final results per bucket, with a time axis (UTC) and a count axis.
    static func throughput(_ data: ReportData) -> String {
        let (width, height) = (960.0, 260.0)
        let (left, right, top, bottom) = (56.0, 12.0, 14.0, 40.0)
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let highest = data.buckets.map { $0.completed + $0.failed }.max() ?? 0
        let ticks = countTicks(highest: highest)
        let scaleMax = Double(ticks.last ?? 1)
        let barWidth = plotWidth / Double(max(1, data.buckets.count))
        var svg = """
            <svg class="chart" role="img" aria-labelledby="throughput-title" viewBox="0 0 \(Int(width)) \(Int(height))" \
            xmlns="http://www.w3.org/2000/svg"><title id="throughput-title">Images finished per \
            \(duration(data.bucketSeconds)), completed and failed</title>
            """
        // Horizontal grid lines with their counts.
        for value in ticks {
            let y = top + plotHeight - plotHeight * Double(value) / scaleMax
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - right))\" y2=\"\(f(y))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" class=\"axis\" text-anchor=\"end\">\(value)</text>"
        }
        let labelEvery = max(1, Int((Double(data.buckets.count) / 8).rounded(.up)))
        for (index, bucket) in data.buckets.enumerated() {
            let x = left + Double(index) * barWidth
            let completedHeight = plotHeight * Double(bucket.completed) / scaleMax
            let failedHeight = plotHeight * Double(bucket.failed) / scaleMax
            let base = top + plotHeight
            let tip = "\(clock(bucket.start)): \(bucket.completed) completed, \(bucket.failed) failed"
            if bucket.completed > 0 {
                svg +=
                    "<rect x=\"\(f(x + 0.5))\" y=\"\(f(base - completedHeight))\" width=\"\(f(max(0.5, barWidth - 1)))\" "
                svg += "height=\"\(f(completedHeight))\" fill=\"\(completedColor)\"><title>\(tip)</title></rect>"
            }
            if bucket.failed > 0 {
                svg += "<rect x=\"\(f(x + 0.5))\" y=\"\(f(base - completedHeight - failedHeight))\" "
                svg += "width=\"\(f(max(0.5, barWidth - 1)))\" height=\"\(f(failedHeight))\" fill=\"\(failedColor)\">"
                svg += "<title>\(tip)</title></rect>"
            }
            if index % labelEvery == 0 {
                svg +=
                    "<text x=\"\(f(x))\" y=\"\(f(height - bottom + 16))\" class=\"axis\">\(clock(bucket.start))</text>"
            }
        }
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(width - right))\" "
        svg += "y2=\"\(f(top + plotHeight))\" class=\"baseline\"/>"
        svg +=
            "<text x=\"\(f(left))\" y=\"\(f(height - 6))\" class=\"axis\">UTC; one bar per \(duration(data.bucketSeconds))"
        svg +=
            " (<tspan fill=\"\(completedColor)\">completed</tspan>, <tspan fill=\"\(failedColor)\">failed</tspan>)</text>"
        return svg + "</svg>"
    }

    /// One bar per failure code seen in the window, largest first; a sentence when there is none.
    static func failures(_ data: ReportData) -> String {
        let rows = data.failuresByCode.sorted {
            $0.value != $1.value ? $0.value > $1.value : $0.key.rawValue < $1.key.rawValue
        }
        guard let largest = rows.first?.value else { return "<p class=\"none\">No failures in this window.</p>" }
        let rowHeight = 26.0
        let (width, labelWidth) = (960.0, 190.0)
        let height = rowHeight * Double(rows.count) + 8
        var svg = """
            <svg class="chart" role="img" aria-labelledby="failures-title" viewBox="0 0 \(Int(width)) \(Int(height))" \
            xmlns="http://www.w3.org/2000/svg"><title id="failures-title">Failures by code</title>
            """
        for (index, row) in rows.enumerated() {
            let y = 4 + Double(index) * rowHeight
            let barWidth = (width - labelWidth - 70) * Double(row.value) / Double(largest)
            svg += "<text x=\"\(f(labelWidth - 8))\" y=\"\(f(y + 17))\" text-anchor=\"end\" class=\"label\">"
            svg += "\(row.key.rawValue)</text>"
            svg +=
                "<rect x=\"\(f(labelWidth))\" y=\"\(f(y + 3))\" width=\"\(f(max(1, barWidth)))\" height=\"\(f(rowHeight - 6))\" "
            svg += "fill=\"\(failedColor)\"><title>\(row.key.rawValue): \(row.value)</title></rect>"
            svg +=
                "<text x=\"\(f(labelWidth + max(1, barWidth) + 6))\" y=\"\(f(y + 17))\" class=\"label\">\(row.value)</text>"
        }
        return svg + "</svg>"
    }

    /// The count axis's ticks for bars up to `highest`: 0, then equal whole steps (1, 2, 5, 10, 20…
    /// apart) up to the first multiple of the step at or above `highest`; at most five ticks, and
    /// every one a different count (a 0–2 axis reads 0, 1, 2).
    static func countTicks(highest: Int) -> [Int] {
        let top = max(1, highest)
        let step = niceCeiling((top + 3) / 4)
        let steps = (top + step - 1) / step
        return (0...steps).map { $0 * step }
    }

    /// 1, 2, 5, 10, 20, 50... at or above `value`.
    static func niceCeiling(_ value: Int) -> Int {
        var magnitude = 1
        while true {
            for factor in [1, 2, 5] where factor * magnitude >= value { return factor * magnitude }
            magnitude *= 10
        }
    }

    /// `5 min`, `1 h`, `1 day`.
    static func duration(_ seconds: TimeInterval) -> String {
        if seconds >= 86_400 && seconds.truncatingRemainder(dividingBy: 86_400) == 0 {
            let days = Int(seconds / 86_400)
            return days == 1 ? "day" : "\(days) days"
        }
        if seconds >= 3600 && seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600)) h" }
        return "\(Int(seconds / 60)) min"
    }

    /// `HH:MM` in UTC, with the day (`MM-DD HH:MM`) at midnight.
    static func clock(_ date: Date) -> String {
        let text = Timestamp.format(date)  // 2026-11-24T18:00:00.123Z
        let time = text.dropFirst(11).prefix(5)
        return time == "00:00" ? String(text.dropFirst(5).prefix(5)) + " " + time : String(time)
    }

    private static func f(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }
}
