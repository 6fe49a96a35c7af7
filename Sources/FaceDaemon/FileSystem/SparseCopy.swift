import FaceRoot
import Glibc

/// Copies the first bytes of one open file into another, holes as holes: only the data extents the
/// source reports (`lseek(SEEK_DATA)`/`SEEK_HOLE`) are read and written, and the output is then
/// sized with `ftruncate`, so a sparse file costs the store what it costs its owner, not its length
/// (a member's 45 MB file of holes, linked 1,000 times, would otherwise write 45 GB). A file system
/// without `SEEK_DATA` gives one extent, the whole file.
enum SparseCopy {
    /// Copies at most `size` bytes of `input` (from offset 0) into `output` (empty, at offset 0);
    /// returns the bytes the source had (less than `size` if it shrank meanwhile).
    /// - Throws: ``FileSystemError`` with `inputName` for a failed read, `outputName` for a write.
    static func copy(_ input: Int32, _ output: Int32, size: Int64, inputName: String, outputName: String)
        throws(FileSystemError) -> Int64
    {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        var end = size
        while offset < end {
            let (start, stop) = nextExtent(input, from: offset, size: end)
            guard start < stop else { break }  // only a hole is left
            offset = start
            while offset < stop {
                let count = pread(input, buffer.baseAddress, Int(min(Int64(chunk), stop - offset)), off_t(offset))
                if count < 0 {
                    if errno == EINTR { continue }
                    throw .current("read", inputName)
                }
                if count == 0 {  // it shrank: what is there is copied
                    end = offset
                    break
                }
                var written = 0
                while written < count {
                    let n = pwrite(output, buffer.baseAddress! + written, count - written, off_t(offset) + written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw .current("write", outputName)
                    }
                    written += n
                }
                offset += Int64(count)
            }
        }
        if ftruncate(output, off_t(end)) != 0 { throw .current("ftruncate", outputName) }
        return end
    }

    /// `SEEK_DATA` and `SEEK_HOLE` (Linux, `_GNU_SOURCE`; not imported by Glibc).
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4

    /// The next data extent at or after `offset`, clipped to `size`: (start, end); start == end
    /// when the rest is a hole. Without `SEEK_DATA`, the rest of the file.
    private static func nextExtent(_ fd: Int32, from offset: Int64, size: Int64) -> (Int64, Int64) {
        let data = lseek(fd, off_t(offset), seekData)
        if data < 0 {
            return errno == ENXIO ? (size, size) : (offset, size)  // ENXIO: nothing but a hole
        }
        let hole = lseek(fd, data, seekHole)
        let start = min(Int64(data), size)
        return (start, hole < 0 ? size : min(Int64(hole), size))
    }
}
