import CImageCodec
import FaceCore

#if canImport(Glibc)
import Glibc
#endif

/// Decodes JPEG, PNG, WebP, HEIF (HEIC) and AVIF files to 8-bit RGB as face_recognition loads them
/// (Pillow's `Image.open(f).convert("RGB")`, with pillow-heif for HEIF), then applies the EXIF
/// orientation as Pillow's `ImageOps.exif_transpose` does (for HEIF and AVIF: their irot/imir
/// boxes). docs/formats.md says what each format's decoder takes from the file.
///
/// - Formats are sniffed from magic bytes, never from a file name.
/// - Gray is replicated, alpha is dropped (not blended), palettes are expanded, 16-bit PNG samples
///   keep their high byte, CMYK JPEGs are converted as Pillow converts them, an animated WebP
///   gives its first frame, HEIF and AVIF samples of more than 8 bits are reduced to 8.
/// - The limits are checked from the header before anything is decoded.
/// - No input crashes the process: every failure is a ``Failure`` with a stable code.
public enum ImageDecoder {
    /// Sniffs, checks the limits, decodes and applies the EXIF orientation.
    ///
    /// Fails with `empty_file`, `too_large`, `not_an_image`, `unsupported_format`,
    /// `too_many_pixels` or `corrupt_image`.
    public static func decode(_ bytes: [UInt8], limits: ImageLimits) throws(Failure) -> DecodedImage {
        let cLimits = limits.cLimits
        var header = fwc_header()
        var message = [CChar](repeating: 0, count: Int(FWC_MESSAGE_CAPACITY))

        let probed = bytes.withUnsafeBufferPointer { input in
            fwc_probe(input.baseAddress, input.count, cLimits, &header, &message, message.count)
        }
        guard probed == FWC_OK else { throw failure(probed, message, header) }

        let count = Int(header.width) * Int(header.height) * 3
        var decoded = FWC_OK
        var decodedHeader = fwc_header()
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            // The probe's header is passed on, so the metadata (EXIF, PNG text) is read once.
            decoded = bytes.withUnsafeBufferPointer { input in
                fwc_decode_probed(
                    input.baseAddress, input.count, cLimits, &header, output.baseAddress, output.count,
                    &decodedHeader, &message, message.count)
            }
            // UInt8 needs no initialisation to be valid; on failure the array is dropped anyway.
            initialized = count
        }
        guard decoded == FWC_OK else { throw failure(decoded, message, header) }

        guard let format = SniffedFormat(header.format).imageFormat else {
            preconditionFailure("the codec decoded a format it does not name")
        }
        return DecodedImage(
            info: ImageInfo(format: format, width: Int(header.width), height: Int(header.height)),
            pixels: pixels)
    }

    /// The format the first bytes announce (at most 64 bytes are looked at).
    public static func sniff(_ bytes: [UInt8]) -> SniffedFormat {
        SniffedFormat(bytes.withUnsafeBufferPointer { fwc_sniff($0.baseAddress, $0.count) })
    }

    static func failure(_ status: fwc_status, _ message: [CChar], _ header: fwc_header) -> Failure {
        let text = String(cMessage: message)
        if status == FWC_OUT_OF_MEMORY {
            // The machine's memory at this moment, not a property of the file (its size passed the
            // limits): an `ENOMEM` `io_error`, which the daemon retries rather than records.
            let detail = text.isEmpty ? "an allocation failed while decoding" : text
            return Failure(.ioError, "out of memory: \(detail)", systemError: ENOMEM)
        }
        let code: FailureCode =
            switch status {
            case FWC_EMPTY_FILE: .emptyFile
            case FWC_NOT_AN_IMAGE: .notAnImage
            case FWC_UNSUPPORTED_FORMAT: .unsupportedFormat
            case FWC_TOO_LARGE: .tooLarge
            case FWC_TOO_MANY_PIXELS: .tooManyPixels
            default: .corruptImage
            }
        return Failure(code, text.isEmpty ? "the image could not be decoded" : text)
    }
}

extension ImageLimits {
    /// Negative limits allow nothing.
    package var cLimits: fwc_limits {
        fwc_limits(max_bytes: UInt64(max(0, maxBytes)), max_pixels: UInt64(max(0, maxPixels)))
    }
}
