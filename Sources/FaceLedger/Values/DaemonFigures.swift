import FaceCore
import Foundation

/// What the daemon serving a ledger publishes about itself for `facewatch status`: its process,
/// its workers and their busy time, the rate, the engine runs and failures by code it counted.
///
/// Kept in `meta` under `daemon_figures` and rewritten by the daemon (at most once a second, with
/// its stats flush, and once more with `running == false` when it stops), so that a client reads
/// the daemon's figures with the ledger's counters in one place, whether or not the daemon still
/// runs. Whether a daemon holds the root *now* is the root lock's answer, not this value's.
///
/// Value format 2 (little-endian): u8 format = 2; u8 running; i32 pid; f64 started at, updated at
/// (seconds since 1970); u32 workers; f64 worker busy seconds, images per minute; u64 engine runs;
/// f64 engine seconds; u32 number of codes, then per code a string and a u64 count; then u64 memory
/// budget, u64 memory reserved, u32 images waiting for memory, and a string: why the daemon is
/// paused (empty while it is not). Format 1 (without the part after the codes) is still read.
public struct DaemonFigures: Sendable, Equatable {
    static let format: UInt8 = 2

    /// False once the daemon that published these figures has stopped.
    public var running: Bool
    /// Its process id.
    public var pid: Int32
    /// When it started.
    public var startedAt: Date
    /// When these figures were published.
    public var updatedAt: Date
    /// Encoder workers configured (0 once stopped).
    public var workers: Int
    /// Seconds its workers spent encoding, summed over workers, since it started.
    public var workerBusySeconds: Double
    /// Final results per minute over the last minute.
    public var imagesPerMinute: Double
    /// Engine runs recorded in the ledger (counted at its start, then as they happen).
    public var encodes: Int
    /// Their total seconds.
    public var encodeSeconds: Double
    /// Failed records by error code; codes with no failure are left out.
    public var failedByCode: [FailureCode: Int]
    /// The memory budget for images being encoded, in bytes (0: not published).
    public var memoryBudget: Int
    /// Bytes of it reserved by the images being encoded when the figures were published.
    public var memoryReserved: Int
    /// Images waiting for their estimate to fit in the budget then.
    public var waitingForMemory: Int
    /// Why the daemon takes and encodes no files now (a store, results or db directory whose
    /// identity marker is missing or foreign), or nil while it works normally.
    public var paused: String?

    public init(
        running: Bool, pid: Int32, startedAt: Date, updatedAt: Date, workers: Int, workerBusySeconds: Double,
        imagesPerMinute: Double, encodes: Int, encodeSeconds: Double, failedByCode: [FailureCode: Int],
        memoryBudget: Int = 0, memoryReserved: Int = 0, waitingForMemory: Int = 0, paused: String? = nil
    ) {
        self.memoryBudget = memoryBudget
        self.memoryReserved = memoryReserved
        self.waitingForMemory = waitingForMemory
        self.paused = paused
        self.running = running
        self.pid = pid
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.workers = workers
        self.workerBusySeconds = workerBusySeconds
        self.imagesPerMinute = imagesPerMinute
        self.encodes = encodes
        self.encodeSeconds = encodeSeconds
        self.failedByCode = failedByCode.filter { $0.value > 0 }
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        w.u8(Self.format)
        w.u8(running ? 1 : 0)
        w.i32(pid)
        w.f64(startedAt.timeIntervalSince1970)
        w.f64(updatedAt.timeIntervalSince1970)
        w.u32(UInt32(clamping: workers))
        w.f64(workerBusySeconds)
        w.f64(imagesPerMinute)
        w.u64(UInt64(max(0, encodes)))
        w.f64(encodeSeconds)
        let codes = FailureCode.allCases.filter { (failedByCode[$0] ?? 0) > 0 }
        w.u32(UInt32(codes.count))
        for code in codes {
            w.string(code.rawValue)
            w.u64(UInt64(failedByCode[code] ?? 0))
        }
        w.u64(UInt64(max(0, memoryBudget)))
        w.u64(UInt64(max(0, memoryReserved)))
        w.u32(UInt32(clamping: max(0, waitingForMemory)))
        w.string(paused ?? "")
        return w.bytes
    }

    package init(decoding bytes: UnsafeRawBufferPointer) throws(LedgerError) {
        var r = ByteReader(bytes, what: "meta daemon figures")
        let format = try r.u8()
        guard format == 1 || format == Self.format else {
            throw LedgerError.corrupt("unknown daemon figures format \(format)")
        }
        running = try r.u8() != 0
        pid = try r.i32()
        startedAt = Date(timeIntervalSince1970: try r.f64())
        updatedAt = Date(timeIntervalSince1970: try r.f64())
        workers = Int(try r.u32())
        workerBusySeconds = try r.f64()
        imagesPerMinute = try r.f64()
        encodes = Int(clamping: try r.u64())
        encodeSeconds = try r.f64()
        var failed: [FailureCode: Int] = [:]
        for _ in 0..<(try r.u32()) {
            let name = try r.string()
            let count = Int(clamping: try r.u64())
            // A code this build does not know (written by a newer one) is skipped, not an error.
            if let code = FailureCode(rawValue: name) { failed[code] = count }
        }
        failedByCode = failed
        if format >= 2 {
            memoryBudget = Int(clamping: try r.u64())
            memoryReserved = Int(clamping: try r.u64())
            waitingForMemory = Int(try r.u32())
            let reason = try r.string()
            paused = reason.isEmpty ? nil : reason
        } else {
            (memoryBudget, memoryReserved, waitingForMemory, paused) = (0, 0, 0, nil)
        }
        try r.expectEnd()
    }
}

extension LMDBLedger {
    /// Replaces the published daemon figures (one small write transaction). Called by the daemon
    /// only, at most once a second.
    ///
    /// - Throws: `LedgerError` (`.readOnly` on a read-only ledger, `.mapFull`, `.lmdb`).
    public func publish(_ figures: DaemonFigures) throws(LedgerError) {
        let dbs = environment.databases
        let value = figures.encoded()
        try write { txn throws(LedgerError) in
            try txn.put(dbs.meta, MetaKey.daemonFigures, value)
        }
    }

    /// The figures the last daemon published, or nil when none ever did.
    ///
    /// - Throws: `LedgerError` (`.corrupt` for a value this build cannot read, `.lmdb`).
    public func daemonFigures() throws(LedgerError) -> DaemonFigures? {
        let dbs = environment.databases
        return try environment.read { txn throws(LedgerError) -> DaemonFigures? in
            guard let value = try txn.get(dbs.meta, MetaKey.daemonFigures) else { return nil }
            return try DaemonFigures(decoding: value)
        }
    }
}
