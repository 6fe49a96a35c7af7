import FaceCore
import FaceImage
import Foundation

/// Encodes a list of files on an `EncoderPool` and hands back one `ResultDocument` per file, in the
/// order of the list, each as soon as it and every file before it are done (`facewatch encode`).
public struct BatchEncoder: Sendable {
    /// One file's outcome.
    public struct Item: Sendable {
        /// The file's position in the list.
        public var index: Int
        /// The result object, with `file` set to the path.
        public var document: ResultDocument
        /// Where the time went (nil when the file could not be read).
        public var timings: EncodeTimings?
    }

    public let pool: EncoderPool
    /// How many files may be in flight (being encoded, or done and waiting for an earlier one).
    public let window: Int

    public init(pool: EncoderPool, window: Int? = nil) {
        self.pool = pool
        self.window = max(1, window ?? pool.workerCount * 4)
    }

    /// Encodes every file and calls `deliver` once per file, in list order.
    public func run(files: [String], limits: ImageLimits, deliver: (Item) -> Void) async {
        guard !files.isEmpty else { return }
        await withTaskGroup(of: Item.self) { group in
            var nextToStart = 0
            var nextToDeliver = 0
            var done: [Int: Item] = [:]
            func startNext() {
                let index = nextToStart
                let path = files[index]
                nextToStart += 1
                group.addTask { await encode(path, index: index, limits: limits) }
            }
            while nextToStart < min(window, files.count) { startNext() }
            for await item in group {
                done[item.index] = item
                while let ready = done.removeValue(forKey: nextToDeliver) {
                    deliver(ready)
                    nextToDeliver += 1
                }
                if nextToStart < files.count { startNext() }
            }
        }
    }

    /// Reads, hashes and encodes one file on a worker.
    private func encode(_ path: String, index: Int, limits: ImageLimits) async -> Item {
        let createdAt = Date()
        let item = await pool.perform { engine -> Item in
            let started = Stopwatch()
            switch ImageFile.read(atPath: path, maxBytes: limits.maxBytes) {
            case .failure(let failure):
                return Item(
                    index: index,
                    document: ResultDocument(
                        file: path, status: .failed, createdAt: createdAt, completedAt: Date(), error: failure),
                    timings: nil)
            case .success(let bytes):
                let source = SourceInfo(name: path, bytes: Int64(bytes.count), sha256: SHA256.hex(bytes))
                let readSeconds = started.seconds
                switch engine.encode(bytes: bytes, limits: limits) {
                case .failure(let failure):
                    return Item(
                        index: index,
                        document: ResultDocument(
                            file: path, status: .failed, source: source, createdAt: createdAt, completedAt: Date(),
                            error: failure), timings: nil)
                case .success(var encoded):
                    encoded.timings.decode += readSeconds
                    // The score is printed; the landmarks are the daemon's (`result_landmarks`).
                    for index in encoded.faces.indices { encoded.faces[index].landmarks = nil }
                    return Item(
                        index: index,
                        document: ResultDocument(
                            file: path, status: .completed, source: source, image: encoded.image, faces: encoded.faces,
                            createdAt: createdAt, completedAt: Date()), timings: encoded.timings)
                }
            }
        }
        return item
            ?? Item(
                index: index,
                document: ResultDocument(
                    file: path, status: .failed, createdAt: createdAt, completedAt: Date(),
                    error: EncoderPool.stoppedFailure),
                timings: nil)
    }
}
