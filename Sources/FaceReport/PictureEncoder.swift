import CImageCodec

/// The file formats a picture is written in.
public enum PictureFormat: String, Sendable, CaseIterable {
    case jpeg
    case png

    /// The format a file name asks for: `.png` gives PNG, anything else JPEG.
    public static func forFileName(_ name: String) -> PictureFormat {
        name.lowercased().hasSuffix(".png") ? .png : .jpeg
    }
}

/// A picture could not be encoded (a programming error or no memory).
public struct PictureEncodingError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension RGBImage {
    /// The picture as a JPEG (`quality` 1...100) or PNG file, through the codec's libjpeg/libpng.
    ///
    /// - Throws: `PictureEncodingError` when the library refuses or memory runs out.
    public func encoded(as format: PictureFormat, quality: Int = 90) throws(PictureEncodingError) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(FWC_MESSAGE_CAPACITY))
        let status = pixels.withUnsafeBufferPointer { rgb in
            fwc_encode(
                rgb.baseAddress, rgb.count, UInt32(width), UInt32(height),
                format == .png ? FWC_OUTPUT_PNG : FWC_OUTPUT_JPEG, Int32(quality), &output, &size, &message,
                message.count)
        }
        defer { fwc_free(output) }
        guard status == FWC_OK, let output else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw PictureEncodingError(description: text.isEmpty ? "the picture could not be encoded" : text)
        }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
