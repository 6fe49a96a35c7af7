import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A face table file (`FaceTableFile`) mapped read-only into memory: its components are scanned
/// where they lie, so a search after the first one finds them in the page cache instead of copying
/// hundreds of megabytes into fresh memory; a row's reference is decoded when asked for.
///
/// The file is never changed in place (a new table is written under a temporary name and renamed
/// over it, a forget unlinks it), so the mapping keeps the whole table it was opened with. Its
/// size was checked against its header before it was mapped (`FaceTableFile.read`).
final class MappedFaceTable: @unchecked Sendable {
    // @unchecked Sendable: the mapping is read-only (PROT_READ) and unmapped only in deinit, when
    // nothing can read it any more.
    let rows: Int
    let components: UnsafeBufferPointer<Float>
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private let referencesStart: UnsafeRawPointer

    /// Maps `length` bytes of `descriptor` (a header of `headerSize` bytes, `rows` rows of
    /// components, then their references), or nil when the file cannot be mapped.
    init?(descriptor: Int32, length: Int, headerSize: Int, rows: Int) {
        guard length > 0,
            let address = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, descriptor, 0),
            address != UnsafeMutableRawPointer(bitPattern: -1)
        else { return nil }
        base = address
        self.length = length
        self.rows = rows
        let floats = rows * FaceTable.dimensions
        components = UnsafeBufferPointer(
            start: UnsafeRawPointer(address + headerSize).assumingMemoryBound(to: Float.self), count: floats)
        referencesStart = UnsafeRawPointer(address + headerSize + floats * 4)
    }

    deinit { munmap(base, length) }

    /// The reference of row `row` (its result's UUID, 16 bytes, and the face's index, a little-endian u32).
    func reference(at row: Int) -> FaceTable.Reference {
        precondition(row >= 0 && row < rows, "row \(row) of \(rows)")
        let at = referencesStart + row * 20
        let id = UUID(uuid: at.loadUnaligned(as: uuid_t.self))
        let face = UInt32(littleEndian: at.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        return FaceTable.Reference(id: id, face: Int(face))
    }
}
