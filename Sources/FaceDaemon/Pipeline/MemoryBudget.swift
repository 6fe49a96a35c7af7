import CMalloc
import FaceCore
import FaceRoot
import FaceEncoding
import Foundation
import Synchronization

/// How much memory the images being encoded may take at once, and who waits for it.
///
/// Each image reserves its estimated cost (`MemoryBudget.cost`) before it goes to a worker and
/// releases it when the worker is done. An image starts only when its cost fits in what is left; one
/// that costs more than the whole budget starts only when nothing else holds any (it runs alone).
/// Waiting images do not hold a worker, so smaller images that fit keep flowing past a big one.
/// The budget covers the images only: the daemon's own base (models, one engine per worker, about
/// 100 MB plus 30 MB per worker) comes on top.
public final class MemoryBudget: Sendable {
    private struct State {
        var limit: Int
        var reserved = 0
        var waiting: [(cost: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    /// A budget of `bytes`.
    public init(bytes: Int) {
        state = Mutex(State(limit: max(1, bytes)))
    }

    /// The budget in bytes.
    public var limit: Int { state.withLock { $0.limit } }

    /// Bytes reserved by the images being encoded now.
    public var reserved: Int { state.withLock { $0.reserved } }

    /// The budget, what is reserved of it and how many images wait, in one snapshot.
    public struct Use: Sendable, Equatable {
        /// The budget in bytes.
        public var budget: Int
        /// Bytes reserved by the images being encoded.
        public var reserved: Int
        /// Images waiting for their cost to fit.
        public var waiting: Int

        public init(budget: Int, reserved: Int, waiting: Int) {
            self.budget = budget
            self.reserved = reserved
            self.waiting = waiting
        }
    }

    /// The budget in use now.
    public var use: Use {
        state.withLock { Use(budget: $0.limit, reserved: $0.reserved, waiting: $0.waiting.count) }
    }

    /// Changes the budget (a reload); images already running keep their reservation.
    public func update(limit bytes: Int) {
        let resumed = state.withLock { state in
            state.limit = max(1, bytes)
            return Self.admit(&state)
        }
        for continuation in resumed { continuation.resume() }
    }

    /// Waits until `cost` bytes fit (or, for a cost over the budget, until nothing is reserved), then
    /// reserves them. Returns the amount reserved, to give back with `release`.
    public func reserve(_ cost: Int) async -> Int {
        let cost = max(0, cost)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumed = state.withLock { state in
                state.waiting.append((cost, continuation))
                return Self.admit(&state)
            }
            for continuation in resumed { continuation.resume() }
        }
        return cost
    }

    /// Gives back what `reserve` returned.
    public func release(_ amount: Int) {
        let resumed = state.withLock { state in
            state.reserved -= amount
            return Self.admit(&state)
        }
        for continuation in resumed { continuation.resume() }
    }

    /// Admits every waiting image that fits, in arrival order, skipping those that do not (so small
    /// ones pass a big one); one bigger than the whole budget is admitted when nothing is reserved.
    private static func admit(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        var resumed: [CheckedContinuation<Void, Never>] = []
        var index = 0
        while index < state.waiting.count {
            let cost = state.waiting[index].cost
            let fits = state.reserved + cost <= state.limit || state.reserved == 0
            if fits {
                state.reserved += cost
                resumed.append(state.waiting.remove(at: index).continuation)
            } else {
                index += 1
            }
        }
        return resumed
    }

    /// Makes the allocator give large blocks (decoded images, detector planes) back to the system
    /// when they are freed. glibc otherwise raises its mmap threshold after the first such free, and
    /// later big blocks come from per-thread heaps that keep their pages: two workers encoding big
    /// images one after the other would then hold both images' memory, and the budget, which
    /// counts live images, would not bound the process. Call once at start.
    public static func returnLargeBlocksToTheSystem() {
        _ = mallopt(M_MMAP_THRESHOLD, 1 << 20)
    }

    // MARK: - Estimates

    /// Peak bytes per pixel of an image while it is detected and encoded, by `upsample` (0, 1),
    /// measured with `facewatch encode --workers 1` and the default `hog` detector (peak RSS of a
    /// 12-megapixel minus a 3-megapixel JPEG, divided by the 9 million pixels between them: 8.4 and
    /// 17.5; dlib's scanner, `dlib-hog`, takes about 14 and 52). Each further upsampling is assumed
    /// to quadruple it.
    static let bytesPerPixel: [Double] = [9, 18]

    /// The same for facewatch's CNN (`cnn`), by `upsample` (0, 1), besides `cnnFixedBytes`: it makes
    /// dlib's tiled pyramid row by row and streams the network's layers in windows of rows, so what
    /// grows with the image is the image itself and the pyramid's small levels, kept whole up to 16
    /// bytes per image pixel (the rest is recomputed). Measured with a C++ loop running its detection
    /// alone on an 8660 x 5773 photo (50 megapixels, upsample 1): peak RSS 1,035,808 KiB with the image
    /// and the model, 21.2 bytes per pixel. At upsample 0 the pyramid and the windows are smaller and
    /// the part kept whole the same: taken as equal.
    static let cnnBytesPerPixel: [Double] = [22, 22]

    /// What facewatch's CNN holds whatever the image's size: up to 64 MiB of the pyramid kept whole
    /// (an image of up to half a megapixel keeps all of it) and its windows of rows.
    static let cnnFixedBytes: Double = 80 * 1_048_576

    /// The same for dlib's network code (`dlib-cnn`), by `upsample` (0, 1): dlib's tiled image pyramid
    /// (three floats per pyramid pixel, about 3.8 pyramid pixels per pixel of the detected image) and
    /// the network's planes are stored whole. Measured when facewatch's `cnn` stored the pyramid as dlib
    /// does (peak RSS of a 12-megapixel minus a 3-megapixel JPEG over the 9 million pixels between
    /// them: 54.4 and 215.3), plus 9 for the copies of the image the engine holds; dlib's own network
    /// code takes more.
    static let dlibCnnBytesPerPixel: [Double] = [64, 225]

    /// Peak bytes per pixel of decoding alone, the RGB image included: what a format's decoder holds
    /// at once besides it (libheif's YCbCr planes and RGB image, libde265's pictures). Measured as
    /// the peak RSS of decoding a 2048x1536 file minus that of reading its header
    /// (docs/formats.md): JPEG 2.9, WebP 2.8, AVIF 5.2, HEIF 8.0 at 8 bits and 12.3 at 10 bits.
    static func decodingBytesPerPixel(_ format: ImageFormat) -> Double {
        switch format {
        case .heif: 13
        case .avif: 6
        case .jpeg, .png, .webp: 3
        }
    }

    /// The estimated peak memory of encoding an image: its pixels times the bytes per pixel of the
    /// detection at `upsample` (by detector) (or of decoding, when the format's decoder needs more), plus the file
    /// itself, plus, for `cnn`, what its detector holds whatever the size. Without a known size (ingest walks a JPEG's segments to its frame header and reads the
    /// other formats' headers, so this is a file in no decoded format, or a broken one) it is charged
    /// `maxPixels`, the most the decoder lets through: a size the daemon could not find is never
    /// taken to be small.
    public static func cost(
        image: ImageInfo?, fileBytes: Int64, upsample: Int, maxPixels: Int, detector: DetectorKind = .hog
    ) -> Int {
        let table =
            switch detector {
            case .cnn: cnnBytesPerPixel
            case .dlibCnn: dlibCnnBytesPerPixel
            case .hog, .dlibHog: bytesPerPixel
            }
        let detection =
            upsample < table.count
            ? table[max(0, upsample)]
            : table[table.count - 1] * pow(4, Double(upsample - table.count + 1))
        let perPixel = image.map { max(detection, decodingBytesPerPixel($0.format)) } ?? detection
        let pixels = image.map { Double($0.width) * Double($0.height) } ?? Double(maxPixels)
        let fixed = detector == .cnn ? cnnFixedBytes : 0
        return Int(min(Double(Int.max / 2), pixels * perPixel + fixed + Double(fileBytes)))
    }

    /// The default budget (`MemoryDefaults.budgetBytes`): three quarters of the service's cgroup
    /// limit when one is set, else half of the machine's memory.
    public static func defaultBytes(
        cgroupDirectory: String? = MemoryDefaults.currentCgroupDirectory(),
        physicalMemory: UInt64 = ProcessInfo.processInfo.physicalMemory
    ) -> Int {
        MemoryDefaults.budgetBytes(cgroupDirectory: cgroupDirectory, physicalMemory: physicalMemory)
    }
}
