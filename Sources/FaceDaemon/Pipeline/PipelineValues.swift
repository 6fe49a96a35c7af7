import FaceCore
import FaceImage
import FaceEncoding
import FaceLedger
import FaceRoot
import Foundation
import Logging
import Synchronization

/// What the pipeline did with one record, reported after the final commit.
public struct FinalResult: Sendable {
    /// The record as committed (`completed` or `failed`).
    public var record: LedgerRecord
    /// How the result was reached.
    public var how: How
    /// Seconds spent encoding (0 unless `how` is `.encoded`).
    public var encodeSeconds: Double

    /// How a result was reached.
    public enum How: String, Sendable {
        /// The engine ran.
        case encoded
        /// The faces of a completed record with the same SHA-256 were reused.
        case deduplicated
        /// Failed as `crashed` without encoding: earlier attempts took the process down.
        case crashed
        /// Failed when it was taken from the inbox (or found in the store), never opened: not a
        /// regular file.
        case notARegularFile
        /// Failed when it was taken from the inbox, never read: larger than `max_bytes`.
        case refusedAtIntake
    }
}

/// What the pipeline is doing, readable from any thread without waiting (for a watchdog or a
/// status line).
public struct PipelineActivity: Sendable, Equatable {
    /// Files on an encoder worker now.
    public var encoding: Int = 0
    /// When the longest-running of them started.
    public var oldestEncodingStart: Date?
    /// Records made final since the pipeline started.
    public var finished: Int = 0
    /// Seconds encoder workers have spent on this pipeline's jobs (recording the attempt, reading,
    /// decoding, detecting, encoding), summed over workers, running jobs included. Only grows.
    public var workerBusySeconds: Double = 0
}

/// Settings of the pipeline that may change while it runs (a reload).
public struct PipelineSettings: Sendable, Equatable {
    /// Records held at once (planned, queued in the pool, encoding, committing).
    public var maxInFlight: Int
    /// Reuse the faces of completed records with the same content.
    public var dedup: Bool
    /// Limits handed to the engine with each file.
    public var limits: ImageLimits
    /// A record that crashed the daemon this many times while it ran alone (`Ledger.beginRun`) is
    /// failed as `crashed`.
    public var maxAttempts: Int
    /// A record that was running alone this many times when the daemon was killed from outside (the
    /// OOM killer, `kill -9`) is failed as `crashed` too: more than crashes, since a kill may be
    /// unrelated to the file, but finite, so an image that gets the daemon OOM-killed does not loop.
    public var maxKills = 10
    /// Memory the images being encoded may take at once (`MemoryBudget`), in bytes.
    public var memoryBudget: Int
    /// The detector's upsampling, which the memory estimate of an image depends on.
    public var upsample: Int
    /// The detector, which the memory estimate of an image depends on too.
    public var detector: DetectorKind
    /// Whether each face's landmarks are committed with its record (and so shown in its document).
    public var keepLandmarks: Bool

    public init(
        maxInFlight: Int, dedup: Bool = true, limits: ImageLimits = ImageLimits(), maxAttempts: Int = 3,
        memoryBudget: Int = Int.max / 4, upsample: Int = 1, detector: DetectorKind = .hog, keepLandmarks: Bool = false
    ) {
        self.keepLandmarks = keepLandmarks
        self.memoryBudget = memoryBudget
        self.upsample = upsample
        self.detector = detector
        self.maxInFlight = maxInFlight
        self.dedup = dedup
        self.limits = limits
        self.maxAttempts = maxAttempts
    }
}
