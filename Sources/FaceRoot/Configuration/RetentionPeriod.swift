import Foundation

/// The text of a retention setting: a duration (`ValueParsing.seconds`'s units, plus `y` for 365
/// days), at least one second.
public enum RetentionPeriod {
    /// Seconds, or nil when `text` is no duration of at least a second.
    public static func seconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let value: Double?
        if trimmed.hasSuffix("y"), let years = Double(trimmed.dropLast()), years >= 0 {
            value = years * 365 * 86_400
        } else {
            value = ValueParsing.seconds(trimmed)
        }
        guard let value, value >= 1, value.isFinite else { return nil }
        return value
    }

    /// The setting's text for `seconds`.
    public static func describe(_ seconds: Double) -> String {
        seconds.rounded() == seconds ? "\(Int(seconds))s" : "\(seconds)s"
    }
}
