#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FaceRoot
import Foundation

/// Writes `metrics.prom`, the Prometheus text-format exposition (version 0.0.4) of a
/// `ServiceMetrics` registry as swift-prometheus emits it, for node_exporter's textfile collector
/// (`--collector.textfile.directory`) or any scraper that reads files.
///
/// The file is replaced atomically with `DurableFile.writeAtomically`: written to a hidden temporary
/// file in the same directory (`.metrics.prom.<random>.tmp`, which the collector ignores since it
/// does not end in `.prom`), fsynced, renamed over the old one, and the directory fsynced. It is made
/// readable by everyone (0644 unless told otherwise), whatever the daemon's umask: it holds only
/// counts, and the collector usually runs as another user.
public struct MetricsWriter: Sendable {
    /// The file name used next to `stats.json`.
    public static let fileName = "metrics.prom"

    /// The file written.
    public let path: String
    /// Permission bits of the file.
    public let mode: mode_t

    /// Writes to `path`.
    public init(path: String, mode: mode_t = 0o644) {
        self.path = path
        self.mode = mode
    }

    /// Writes `metrics.prom` in `directory`.
    public init(directory: String, mode: mode_t = 0o644) {
        self.init(path: (directory as NSString).appendingPathComponent(Self.fileName), mode: mode)
    }

    /// Emits the registry of `metrics` and replaces the file with it.
    ///
    /// - Throws: `FileSystemError` naming the path and the failed step; no temporary file is left.
    public func write(_ metrics: ServiceMetrics) throws(FileSystemError) {
        try DurableFile.writeAtomically(metrics.exposition(), to: path, permissions: mode)
    }
}
