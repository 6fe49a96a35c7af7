import CImageCodec
import FaceCore

/// What a file's first bytes say it is. JPEG, PNG, WebP, HEIF and AVIF are decoded; the other
/// formats are recognised so that they fail with `unsupported_format` and their name rather than
/// `not_an_image`.
public enum SniffedFormat: String, Sendable, CaseIterable {
    case jpeg, png, gif, bmp, webp, tiff, heif, avif, jpeg2000, jpegXL, ico, psd, qoi, pnm, openEXR, mng
    /// No known image signature (or no bytes at all).
    case unknown

    /// The format facewatch decodes, or nil for every other one.
    public var imageFormat: ImageFormat? {
        switch self {
        case .jpeg: .jpeg
        case .png: .png
        case .webp: .webp
        case .heif: .heif
        case .avif: .avif
        default: nil
        }
    }

    /// A short name for a person: "JPEG", "GIF", "JPEG 2000"...
    public var displayName: String { String(cString: fwc_format_name(cValue)) }

    init(_ format: fwc_format) {
        self =
            switch format {
            case FWC_FORMAT_JPEG: .jpeg
            case FWC_FORMAT_PNG: .png
            case FWC_FORMAT_GIF: .gif
            case FWC_FORMAT_BMP: .bmp
            case FWC_FORMAT_WEBP: .webp
            case FWC_FORMAT_TIFF: .tiff
            case FWC_FORMAT_HEIF: .heif
            case FWC_FORMAT_AVIF: .avif
            case FWC_FORMAT_JPEG2000: .jpeg2000
            case FWC_FORMAT_JPEGXL: .jpegXL
            case FWC_FORMAT_ICO: .ico
            case FWC_FORMAT_PSD: .psd
            case FWC_FORMAT_QOI: .qoi
            case FWC_FORMAT_PNM: .pnm
            case FWC_FORMAT_OPENEXR: .openEXR
            case FWC_FORMAT_MNG: .mng
            default: .unknown
            }
    }

    var cValue: fwc_format {
        switch self {
        case .jpeg: FWC_FORMAT_JPEG
        case .png: FWC_FORMAT_PNG
        case .gif: FWC_FORMAT_GIF
        case .bmp: FWC_FORMAT_BMP
        case .webp: FWC_FORMAT_WEBP
        case .tiff: FWC_FORMAT_TIFF
        case .heif: FWC_FORMAT_HEIF
        case .avif: FWC_FORMAT_AVIF
        case .jpeg2000: FWC_FORMAT_JPEG2000
        case .jpegXL: FWC_FORMAT_JPEGXL
        case .ico: FWC_FORMAT_ICO
        case .psd: FWC_FORMAT_PSD
        case .qoi: FWC_FORMAT_QOI
        case .pnm: FWC_FORMAT_PNM
        case .openEXR: FWC_FORMAT_OPENEXR
        case .mng: FWC_FORMAT_MNG
        case .unknown: FWC_FORMAT_UNKNOWN
        }
    }
}
