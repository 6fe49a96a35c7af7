/*
 * codec.h - facewatch's image decoding layer (plain C11 over libjpeg-turbo, libpng, libwebp,
 * libheif and libavif).
 *
 * Turns the bytes of a JPEG, PNG, WebP, HEIF (HEIC) or AVIF file into 8-bit RGB pixels the way
 * face_recognition loads images (Pillow's `Image.open(f).convert("RGB")`, pillow-heif for HEIF),
 * then applies the EXIF orientation like Pillow's `ImageOps.exif_transpose` (HEIF and AVIF: their
 * irot/imir transformations, as the Pillow plugins do). docs/formats.md has the details.
 *
 * - Formats are recognised by their magic bytes only (fwc_sniff), never by a file name.
 * - fwc_probe reads the header only: format, size after orientation, orientation. It enforces
 *   the limits (bytes, pixels) before any pixel memory is allocated.
 * - fwc_decode decodes into a buffer the caller allocated from fwc_probe's answer;
 *   fwc_decode_probed does the same without reading the metadata a second time.
 * - No input can crash or abort the process: libjpeg and libpng errors come back through
 *   setjmp/longjmp as an fwc_status with a one-line message, allocation failures too; libwebp,
 *   libheif and libavif return their errors.
 *
 * Every function is reentrant and thread-safe: there is no global state.
 */
#ifndef FACEWATCH_CODEC_H
#define FACEWATCH_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What the first bytes of a file say it is. JPEG, PNG, WebP, HEIF and AVIF are decoded. */
typedef enum fwc_format {
    FWC_FORMAT_UNKNOWN = 0, /**< nothing recognised (also: no bytes at all) */
    FWC_FORMAT_JPEG,        /**< FF D8 FF */
    FWC_FORMAT_PNG,         /**< 89 'PNG' 0D 0A 1A 0A */
    FWC_FORMAT_GIF,         /**< "GIF87a" / "GIF89a" */
    FWC_FORMAT_BMP,         /**< "BM" with a known DIB header size */
    FWC_FORMAT_WEBP,        /**< "RIFF" size "WEBP" */
    FWC_FORMAT_TIFF,        /**< "II*\0", "MM\0*" and BigTIFF */
    FWC_FORMAT_HEIF,        /**< ISO-BMFF "ftyp" with a HEIF/HEIC brand */
    FWC_FORMAT_AVIF,        /**< ISO-BMFF "ftyp" with an AVIF brand */
    FWC_FORMAT_JPEG2000,    /**< JP2 signature box or a J2K codestream */
    FWC_FORMAT_JPEGXL,      /**< JPEG XL codestream or container */
    FWC_FORMAT_ICO,         /**< Windows icon or cursor */
    FWC_FORMAT_PSD,         /**< "8BPS" */
    FWC_FORMAT_QOI,         /**< "qoif" */
    FWC_FORMAT_PNM,         /**< Netpbm "P1".."P7" followed by white space */
    FWC_FORMAT_OPENEXR,     /**< 76 2F 31 01 */
    FWC_FORMAT_MNG,         /**< MNG / JNG signatures (PNG's animated relatives) */
} fwc_format;

/** The outcome of fwc_probe / fwc_decode. The values map one to one to facewatch's error codes. */
typedef enum fwc_status {
    FWC_OK = 0,
    FWC_EMPTY_FILE,         /**< zero bytes */
    FWC_NOT_AN_IMAGE,       /**< no known image signature */
    FWC_UNSUPPORTED_FORMAT, /**< a known image format (or JPEG variant) that is not decoded */
    FWC_CORRUPT_IMAGE,      /**< an image that cannot be decoded (truncated, bad data...) */
    FWC_TOO_LARGE,          /**< more bytes than fwc_limits.max_bytes */
    FWC_TOO_MANY_PIXELS,    /**< width * height over fwc_limits.max_pixels */
    FWC_OUT_OF_MEMORY,      /**< an allocation failed while decoding */
    FWC_BAD_ARGUMENT,       /**< a programming error: NULL pointer or wrong buffer size */
} fwc_status;

/** The limits checked before decoding. */
typedef struct fwc_limits {
    uint64_t max_bytes;  /**< more input bytes than this: FWC_TOO_LARGE */
    uint64_t max_pixels; /**< width * height over this: FWC_TOO_MANY_PIXELS */
} fwc_limits;

/** What a header says, before any pixel is decoded. */
typedef struct fwc_header {
    fwc_format format;       /**< JPEG, PNG, WEBP, HEIF or AVIF when fwc_probe succeeds */
    uint32_t width;          /**< width of the decoded image, after the EXIF orientation */
    uint32_t height;         /**< height of the decoded image, after the EXIF orientation */
    uint32_t stored_width;   /**< width as stored in the file */
    uint32_t stored_height;  /**< height as stored in the file */
    uint32_t orientation;    /**< EXIF orientation applied, 1 (none) to 8 */
} fwc_header;

/** Size of a message buffer that always holds a whole message. Shorter buffers truncate. */
#define FWC_MESSAGE_CAPACITY 256

/** Sniffs the format from the first bytes (at most 64 are looked at). NULL with size 0 is fine. */
fwc_format fwc_sniff(const uint8_t *data, size_t size);

/** A short human name for a format ("JPEG", "GIF", "JPEG 2000"...); never NULL. */
const char *fwc_format_name(fwc_format format);

/**
 * Reads the header: checks the byte limit, sniffs, reads the dimensions and the EXIF orientation,
 * checks the pixel limit. Allocates no pixel memory. Only the header needs to be in data: a
 * file's first bytes give its size (for HEIF and AVIF whose boxes do not all fit, the largest
 * ispe box they hold, with orientation 1), and decoding the whole file then checks the rest.
 *
 * On success fills *header and returns FWC_OK. On failure returns the status and writes a one-line
 * message (NUL-terminated, truncated to message_capacity) into message when it is not NULL.
 */
fwc_status fwc_probe(const uint8_t *data, size_t size, fwc_limits limits, fwc_header *header,
                     char *message, size_t message_capacity);

/**
 * Decodes to 8-bit RGB, row-major, 3 bytes per pixel, EXIF orientation applied.
 *
 * rgb must hold exactly header.width * header.height * 3 bytes of the header fwc_probe returns
 * for the same data and limits (rgb_size is checked: FWC_BAD_ARGUMENT otherwise). The header is
 * read again (cheap) and returned in *header when header is not NULL. On failure the contents of
 * rgb are unspecified and the message is written as for fwc_probe.
 */
fwc_status fwc_decode(const uint8_t *data, size_t size, fwc_limits limits, uint8_t *rgb,
                      size_t rgb_size, fwc_header *header, char *message, size_t message_capacity);

/**
 * fwc_decode for data fwc_probe has already accepted: probed is the header fwc_probe returned for
 * the same data and limits, and the metadata (EXIF and XMP orientation, PNG text chunks) is not
 * read again, so each file's metadata is parsed once. The format and stored size are still read
 * from the data and must equal probed's, and rgb_size is checked as in fwc_decode: a header from
 * other data gives FWC_BAD_ARGUMENT, never a write outside rgb. header may equal probed.
 */
fwc_status fwc_decode_probed(const uint8_t *data, size_t size, fwc_limits limits,
                             const fwc_header *probed, uint8_t *rgb, size_t rgb_size,
                             fwc_header *header, char *message, size_t message_capacity);

/* ---- encoding (encode.c): for pictures people look at (annotated images, thumbnails) ---- */

/** The output formats of fwc_encode. */
typedef enum fwc_output_format {
    FWC_OUTPUT_JPEG = 0, /**< baseline JPEG, 4:2:0, at the given quality */
    FWC_OUTPUT_PNG,      /**< 8-bit RGB PNG, zlib's default compression */
} fwc_output_format;

/**
 * Encodes width * height tightly packed 8-bit RGB pixels (rgb_size must be exactly
 * width * height * 3) as a JPEG (quality 1..100) or a PNG (quality ignored).
 *
 * On success *out holds a buffer of *out_size bytes allocated with malloc, which the caller frees
 * with fwc_free, and FWC_OK is returned. On failure *out is NULL, the status is FWC_BAD_ARGUMENT
 * (sizes, NULL pointers), FWC_OUT_OF_MEMORY, or FWC_CORRUPT_IMAGE (the library refused), and the
 * message is written as for fwc_probe. libjpeg and libpng errors come back through setjmp.
 */
fwc_status fwc_encode(const uint8_t *rgb, size_t rgb_size, uint32_t width, uint32_t height,
                      fwc_output_format format, int quality, uint8_t **out, size_t *out_size,
                      char *message, size_t message_capacity);

/** Frees a buffer fwc_encode returned (NULL is fine). */
void fwc_free(void *buffer);

#ifdef __cplusplus
}
#endif

#endif /* FACEWATCH_CODEC_H */
