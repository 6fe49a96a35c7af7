#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceCore
import FaceRoot
import Foundation
import Logging
import Synchronization

/// The daemon's log format: one line per event on standard error,
/// `2026-11-24T18:00:00.123Z info ingested bytes=41770 id=6f1c… name="my photo.jpg"`, readable in
/// the journal. The message says what happened; the values it is about are swift-log metadata
/// (`logger.info("ingested", metadata: ["id": …])`), written after it as `key=value`, sorted by key.
///
/// The level can change while the daemon runs (a reload): every handler made by one `LogOutput`
/// reads the shared level, unless a logger set its own.
public final class LogOutput: Sendable {
    private let state: Mutex<Logger.Level>
    private let descriptor: Int32
    private let writeLock = Mutex(())

    /// Writes to `descriptor` (standard error by default) at `level` and above.
    public init(level: Logger.Level, descriptor: Int32 = STDERR_FILENO) {
        state = Mutex(level)
        self.descriptor = descriptor
    }

    /// The least severe level written.
    public var level: Logger.Level {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    /// A logger writing through this output.
    public func logger(label: String = "facewatch") -> Logger {
        Logger(label: label) { _ in Handler(output: self) }
    }

    /// Makes every `Logger(label:)` in the process write through this output. Call once per process.
    public func bootstrap() {
        LoggingSystem.bootstrap { _ in Handler(output: self) }
    }

    /// Writes one formatted line (a single `write(2)`, so lines from several threads never mix).
    func emit(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        writeLock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// `time level message key=value…`: metadata sorted by key, values quoted when they hold blanks.
    public static func format(
        date: Date, level: Logger.Level, message: String, metadata: Logger.Metadata
    ) -> String {
        var line = Timestamp.format(date) + " " + level.rawValue + " " + message
        for key in metadata.keys.sorted() {
            line += " " + LogField.pair(key, metadata[key]!.description)
        }
        return line.replacingOccurrences(of: "\n", with: "\\n")
    }

    struct Handler: LogHandler {
        let output: LogOutput
        var metadata: Logger.Metadata = [:]
        var ownLevel: Logger.Level?

        var logLevel: Logger.Level {
            get { ownLevel ?? output.level }
            set { ownLevel = newValue }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { $1 } }
            output.emit(
                LogOutput.format(date: Date(), level: event.level, message: event.message.description, metadata: merged)
            )
        }
    }
}
