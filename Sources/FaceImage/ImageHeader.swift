import CImageCodec
import FaceCore

/// An image's format and size read from its first bytes, before anything is decoded: what the
/// memory budget needs to know what decoding it will cost.
public enum ImageHeader {
    /// The image described by `prefix`, the first bytes of a file (the whole file when it is small;
    /// JPEG, PNG and WebP put their size in the first few kilobytes, HEIF and AVIF in their meta box
    /// near the start), or nil when they do not say.
    public static func info(ofPrefix prefix: UnsafeRawBufferPointer) -> ImageInfo? {
        guard let base = prefix.baseAddress?.assumingMemoryBound(to: UInt8.self), !prefix.isEmpty else { return nil }
        var header = fwc_header()
        let unlimited = fwc_limits(max_bytes: UInt64.max, max_pixels: UInt64.max)
        guard fwc_probe(base, prefix.count, unlimited, &header, nil, 0) == FWC_OK else { return nil }
        guard let format = SniffedFormat(header.format).imageFormat else { return nil }
        return ImageInfo(format: format, width: Int(header.width), height: Int(header.height))
    }
}
