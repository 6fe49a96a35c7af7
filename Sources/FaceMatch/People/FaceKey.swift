import FaceCore

/// A face's name in the grouping: 128 bits derived from what the face is (the photo's content and
/// the face's place in it), never from when or where it arrived, so the same photos give the same
/// keys on any host and in any order. Keys order faces: the ordering breaks every tie of the
/// grouping, and the smallest core face key of a person is the person's id.
public struct FaceKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The key of face number `face` of the photo whose content has SHA-256 `contentDigest`: the
    /// first 128 bits of SHA-256(digest ‖ face as 4 bytes little-endian). Uniformly spread, so the
    /// smallest key of a group is a random member, and it changes with probability 1/(n+1) when an
    /// (n+1)-th face joins.
    public static func of(contentDigest: [UInt8], face: Int) -> FaceKey {
        var bytes = contentDigest
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: face).littleEndian) { bytes.append(contentsOf: $0) }
        let digest = SHA256.digest(bytes)
        var high: UInt64 = 0
        var low: UInt64 = 0
        for i in 0..<8 {
            high = high << 8 | UInt64(digest[i])
            low = low << 8 | UInt64(digest[8 + i])
        }
        return FaceKey(high: high, low: low)
    }

    /// 32 lowercase hex digits.
    public var description: String {
        let hex = String(high, radix: 16) + "|" + String(low, radix: 16)
        let parts = hex.split(separator: "|").map { String(repeating: "0", count: 16 - $0.count) + $0 }
        return parts.joined()
    }

    /// Parses 32 hex digits (as `description` writes them).
    public init?(_ text: String) {
        guard text.count == 32, let high = UInt64(text.prefix(16), radix: 16),
            let low = UInt64(text.suffix(16), radix: 16)
        else { return nil }
        self.init(high: high, low: low)
    }

    public static func < (a: FaceKey, b: FaceKey) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }
}

/// A person found by the grouping, named by the smallest key among its core faces. The id is a
/// function of the set of faces: a person keeps it as faces join unless a joining core face has a
/// smaller key (for keys spread uniformly, probability 1/(n+1) for the (n+1)-th core face), and of two
/// people that merge the one with the smaller id keeps it.
public struct PersonID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var key: FaceKey

    public init(key: FaceKey) { self.key = key }

    /// The id as the command line and the documents show it: the first 16 hex digits of the key.
    public var description: String {
        let hex = String(key.high, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    public static func < (a: PersonID, b: PersonID) -> Bool { a.key < b.key }
}
