import FaceCore
import Foundation

/// Appends little-endian integers, floats and length-prefixed strings to a byte array.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { append(v.littleEndian) }
    mutating func u32(_ v: UInt32) { append(v.littleEndian) }
    mutating func u64(_ v: UInt64) { append(v.littleEndian) }
    mutating func i32(_ v: Int32) { append(v.littleEndian) }
    mutating func i64(_ v: Int64) { append(v.littleEndian) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func raw(_ v: some Sequence<UInt8>) { bytes.append(contentsOf: v) }

    /// A UTF-8 string preceded by its byte count as a u32.
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    private mutating func append<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what `ByteWriter` writes from borrowed memory, checking every length: running off the end or
/// finding invalid UTF-8 throws `LedgerError.corrupt` instead of trapping.
struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private(set) var offset = 0
    /// What is being decoded, for error messages.
    private let what: String

    init(_ buffer: UnsafeRawBufferPointer, what: String) {
        self.buffer = buffer
        self.what = what
    }

    var remaining: Int { buffer.count - offset }

    mutating func u8() throws(LedgerError) -> UInt8 { try load(UInt8.self) }
    mutating func u16() throws(LedgerError) -> UInt16 { UInt16(littleEndian: try load(UInt16.self)) }
    mutating func u32() throws(LedgerError) -> UInt32 { UInt32(littleEndian: try load(UInt32.self)) }
    mutating func u64() throws(LedgerError) -> UInt64 { UInt64(littleEndian: try load(UInt64.self)) }
    mutating func i32() throws(LedgerError) -> Int32 { Int32(littleEndian: try load(Int32.self)) }
    mutating func i64() throws(LedgerError) -> Int64 { Int64(littleEndian: try load(Int64.self)) }
    mutating func f32() throws(LedgerError) -> Float { Float(bitPattern: try u32()) }
    mutating func f64() throws(LedgerError) -> Double { Double(bitPattern: try u64()) }

    /// `count` raw bytes.
    mutating func raw(_ count: Int) throws(LedgerError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw LedgerError.corrupt("\(what) is truncated") }
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
        offset += count
        return slice
    }

    /// A u32 length and that many bytes of valid UTF-8.
    mutating func string() throws(LedgerError) -> String {
        let count = Int(try u32())
        let bytes = try raw(count)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw LedgerError.corrupt("\(what) holds invalid UTF-8")
        }
        return s
    }

    /// `count` little-endian float32 values.
    mutating func floats(_ count: Int) throws(LedgerError) -> [Float] {
        let bytes = try raw(count * 4)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            for i in 0..<count {
                out[i] = Float(
                    bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
            initialized = count
        }
    }

    /// Throws unless every byte was consumed.
    func expectEnd() throws(LedgerError) {
        if remaining != 0 { throw LedgerError.corrupt("\(what) has \(remaining) unexpected trailing bytes") }
    }

    private mutating func load<T: FixedWidthInteger>(_: T.Type) throws(LedgerError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw LedgerError.corrupt("\(what) is truncated") }
        let v = buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return v
    }
}

extension UUID {
    /// The 16 bytes of the UUID, in order.
    var bytes: [UInt8] {
        withUnsafeBytes(of: uuid) { Array($0) }
    }

    /// A UUID from exactly 16 bytes.
    init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: bytes) }
        self.init(uuid: value)
    }
}

/// Lowercase hex SHA-256 <-> its 32 bytes, as records store it.
enum SHA256Hex {
    /// The 32 bytes of a 64-digit lowercase hex string, or nil if it is not one.
    static func bytes(_ hex: String) -> [UInt8]? {
        guard hex.utf8.count == 64 else { return nil }
        return Hex.decode(hex)
    }

    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        Hex.encode(bytes)
    }
}
