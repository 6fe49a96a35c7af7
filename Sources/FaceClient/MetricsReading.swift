import FaceDaemon
import Foundation

/// A `metrics.prom` read back (the Prometheus text format `MetricsWriter` writes), for
/// `facewatch status`: every sample with its labels and value.
public struct MetricsReading: Sendable, Equatable {
    /// One line `name{label="value",...} number`.
    public struct Sample: Sendable, Equatable {
        /// The metric name (`facewatch_files_failed_total`, `facewatch_encode_seconds_bucket`, ...).
        public var name: String
        /// The labels, unescaped.
        public var labels: [String: String]
        /// The value (`+Inf`, `-Inf` and `NaN` included).
        public var value: Double
    }

    /// The samples, in file order.
    public var samples: [Sample]

    /// Parses exposition text. Comment lines (`# HELP`, `# TYPE`) and blank lines are skipped, and
    /// so are lines that do not parse (a reader for people, not a validator).
    public init(text: String) {
        samples = text.split(separator: "\n").compactMap { Self.parse(Substring($0)) }
    }

    /// Reads the file at `path`; nil when it does not exist or cannot be read.
    public init?(path: String) {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        self.init(text: String(decoding: data, as: UTF8.self))
    }

    /// The value of the sample with this name and exactly these labels.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Every sample with this name.
    public func samples(named name: String) -> [Sample] {
        samples.filter { $0.name == name }
    }

    // MARK: - Parsing

    private static func parse(_ line: Substring) -> Sample? {
        let line = line.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty, !line.hasPrefix("#") else { return nil }
        var rest = Substring(line)
        guard let nameEnd = rest.firstIndex(where: { $0 == "{" || $0 == " " }) else { return nil }
        let name = String(rest[..<nameEnd])
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let equals = rest.firstIndex(of: "=") else { return nil }
                let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: " ,"))
                rest = rest[rest.index(after: equals)...]
                guard rest.first == "\"" else { return nil }
                rest = rest.dropFirst()
                var value = ""
                var escaped = false
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(character == "n" ? "\n" : character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
                labels[key] = value
                if rest.first == "," { rest = rest.dropFirst() }
                guard !rest.isEmpty else { return nil }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ")
        guard let text = fields.first else { return nil }
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let number = Double(text) else { return nil }
            value = number
        }
        return Sample(name: name, labels: labels, value: value)
    }
}
