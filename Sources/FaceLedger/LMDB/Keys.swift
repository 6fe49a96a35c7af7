import Foundation

/// Key layouts of the named databases.
///
/// - `records`: the 16 UUID bytes.
/// - `by_time` and `queue`: 8 bytes of creation time then the 16 UUID bytes. The time is microseconds
///   since 1970 (rounded down) as a signed 64-bit integer with its sign bit flipped, big-endian, so
///   LMDB's byte-wise key order is chronological order (ties broken by UUID bytes).
/// - `by_sha`: the 32 raw bytes of the SHA-256.
/// - `meta`: ASCII names (see `MetaKey`).
package enum Keys {
    static let timeKeySize = 24

    /// Microseconds since 1970, rounded down, clamped to the Int64 range.
    package static func micros(_ date: Date) -> Int64 {
        let us = (date.timeIntervalSince1970 * 1_000_000).rounded(.down)
        if us.isNaN { return 0 }
        if us >= 9.2e18 { return Int64.max }
        if us <= -9.2e18 { return Int64.min }
        return Int64(us)
    }

    /// The 8 order-preserving bytes of a time.
    static func timePrefix(_ micros: Int64) -> [UInt8] {
        let biased = UInt64(bitPattern: micros) ^ (1 << 63)
        return withUnsafeBytes(of: biased.bigEndian) { Array($0) }
    }

    /// `by_time` / `queue` key of a record.
    static func timeKey(createdAt: Date, id: UUID) -> [UInt8] {
        timePrefix(micros(createdAt)) + id.bytes
    }

    /// The smallest key at or after `date` (every record created at or after it sorts at or after this).
    static func timeLowerBound(_ date: Date) -> [UInt8] {
        timePrefix(micros(date)) + [UInt8](repeating: 0, count: 16)
    }

    /// The microseconds stored in a time key (missing bytes read as zero).
    static func micros(ofTimeKey key: UnsafeRawBufferPointer) -> Int64 {
        var biased: UInt64 = 0
        for i in 0..<8 { biased = biased << 8 | UInt64(i < key.count ? key[i] : 0) }
        return Int64(bitPattern: biased ^ (1 << 63))
    }

    /// The UUID in a time key.
    static func id(ofTimeKey key: UnsafeRawBufferPointer) throws(LedgerError) -> UUID {
        guard key.count == timeKeySize, let id = UUID(bytes: UnsafeRawBufferPointer(rebasing: key[8..<24])) else {
            throw LedgerError.corrupt("time index key of \(key.count) bytes")
        }
        return id
    }
}
