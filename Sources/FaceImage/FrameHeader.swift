import FaceCore

/// Finds a JPEG's frame header (SOFn: its width and height) wherever it is in the file, by walking
/// the marker segments from the start, reading only each segment's 4-byte head and skipping its
/// body. ``ImageHeader`` reads the first MiB; a file can put more than that before its frame header
/// (17 comment segments of 64 KiB do), and the memory budget must still see its real size.
///
/// Bounded by the file: every step moves forward by at least 2 bytes and no read goes past
/// `fileSize`, so a hostile file costs at most one small read per segment (a 50 MB file of empty
/// segments, 12.5 million reads, is the worst; real files have a dozen segments).
public enum FrameHeader {
    /// Reads `count` bytes at `offset` (fewer at the end of the file; none on error).
    public typealias Reader = (_ offset: Int64, _ count: Int) -> [UInt8]

    /// The JPEG's size from its first frame header, or nil: not a JPEG (no SOI), a scan or the end
    /// before any frame header, a truncated segment, or a zero dimension.
    public static func jpeg(fileSize: Int64, read: Reader) -> ImageInfo? {
        guard fileSize >= 4, read(0, 2) == [0xFF, 0xD8] else { return nil }
        var offset: Int64 = 2
        while offset + 4 <= fileSize {
            let head = read(offset, 4)
            guard head.count == 4, head[0] == 0xFF else { return nil }
            let marker = head[1]
            if marker == 0xFF {
                offset += 1  // a fill byte before the marker
                continue
            }
            // Markers without a length: TEM, RSTn, SOI (a second one: malformed, keep walking).
            if marker == 0x01 || (0xD0...0xD8).contains(marker) {
                offset += 2
                continue
            }
            if marker == 0xD9 || marker == 0xDA { return nil }  // EOI, SOS: no frame header first
            let length = Int64(head[2]) << 8 | Int64(head[3])
            guard length >= 2, offset + 2 + length <= fileSize else { return nil }
            if isStartOfFrame(marker) {
                guard length >= 7 else { return nil }
                let frame = read(offset + 4, 5)  // precision, height (2), width (2)
                guard frame.count == 5 else { return nil }
                let height = Int(frame[1]) << 8 | Int(frame[2])
                let width = Int(frame[3]) << 8 | Int(frame[4])
                guard width > 0, height > 0 else { return nil }
                return ImageInfo(format: .jpeg, width: width, height: height)
            }
            offset += 2 + length
        }
        return nil
    }

    /// The PNG's size from its IHDR chunk, which the format puts first (at byte 8), so no chunk
    /// before it can push it out of the prefix; nil when `prefix` is no PNG or its IHDR is malformed.
    public static func png(prefix: [UInt8]) -> ImageInfo? {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard prefix.count >= 24, Array(prefix[0..<8]) == signature,
            Array(prefix[8..<16]) == [0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        else { return nil }
        func word(_ at: Int) -> Int { prefix[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let width = word(16)
        let height = word(20)
        guard width > 0, height > 0 else { return nil }
        return ImageInfo(format: .png, width: width, height: height)
    }

    /// SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC), which share the range.
    static func isStartOfFrame(_ marker: UInt8) -> Bool {
        (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
    }
}
