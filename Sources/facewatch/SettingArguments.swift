import ArgumentParser
import FaceDaemon
import FaceEncoding
import FaceRoot
import Logging

// The typed values of `serve`'s options. Each parses with the same rules as the config file
// (`ValueParsing`), so a bad value is a usage error (exit 2) before anything starts, and keeps its
// text, which `DaemonConfiguration.resolve` reads like a config file's value.

extension Landmarks: ExpressibleByArgument {}
extension DetectorKind: ExpressibleByArgument {}
extension DaemonConfiguration.ResultFormat: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A size such as `50MB`, `48MiB` or a number of bytes.
struct SizeArgument: ExpressibleByArgument {
    let text: String

    init?(argument: String) {
        guard ValueParsing.byteCount(argument) != nil else { return nil }
        text = argument
    }
}

/// `auto` or a size.
struct MemoryBudgetArgument: ExpressibleByArgument {
    let text: String

    init?(argument: String) {
        guard argument.lowercased() == "auto" || ValueParsing.byteCount(argument) != nil else { return nil }
        text = argument
    }
}

/// A duration such as `30s`, `2m` or `1h30m`.
struct DurationArgument: ExpressibleByArgument {
    let text: String

    init?(argument: String) {
        guard ValueParsing.seconds(argument) != nil else { return nil }
        text = argument
    }
}

extension ArgumentHelp {
    /// The help of a `serve` option, from the settings table (`Setting.all`).
    static func setting(_ key: String) -> ArgumentHelp {
        let syntax = Setting.named(key)?.syntax ?? ""
        // Choices list their values themselves (CaseIterable); others name their syntax.
        let valueName = syntax.contains("|") ? nil : syntax.lowercased()
        return ArgumentHelp(Setting.help(for: key), valueName: valueName)
    }
}
