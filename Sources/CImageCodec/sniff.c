/*
 * sniff.c - recognising image formats by their magic bytes (never by file name).
 *
 * Only JPEG and PNG are decoded; the other signatures exist so that a GIF or a HEIC photo gets
 * "unsupported_format" with the format's name instead of "not_an_image". Signatures that are
 * short or textual are checked with a little structure so that ordinary text is not mistaken
 * for an image.
 */
#include "internal.h"

#include <string.h>

static int starts_with(const uint8_t *data, size_t size, const void *magic, size_t n) {
    return size >= n && memcmp(data, magic, n) == 0;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* ISO base media file format ("....ftyp"): HEIF/HEIC/AVIF by major or compatible brand. */
static fwc_format sniff_ftyp(const uint8_t *data, size_t size) {
    if (size < 12 || memcmp(data + 4, "ftyp", 4) != 0) return FWC_FORMAT_UNKNOWN;
    size_t box = be32(data);
    if (box < 16 || box > size) box = size < 64 ? size : 64; /* look at what we have */
    static const char *const avif[] = {"avif", "avis"};
    static const char *const heif[] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                       "mif1", "msf1", "mif2"};
    fwc_format found = FWC_FORMAT_UNKNOWN;
    for (size_t at = 8; at + 4 <= box; at += 4) {
        if (at == 12) continue; /* minor version, not a brand */
        const uint8_t *brand = data + at;
        for (size_t i = 0; i < sizeof avif / sizeof avif[0]; i++)
            if (memcmp(brand, avif[i], 4) == 0) return FWC_FORMAT_AVIF;
        for (size_t i = 0; i < sizeof heif / sizeof heif[0]; i++)
            if (memcmp(brand, heif[i], 4) == 0) found = FWC_FORMAT_HEIF;
    }
    return found;
}

fwc_format fwc_sniff(const uint8_t *data, size_t size) {
    if (data == NULL || size == 0) return FWC_FORMAT_UNKNOWN;

    if (starts_with(data, size, "\xFF\xD8\xFF", 3)) return FWC_FORMAT_JPEG;
    if (starts_with(data, size, "\x89PNG\r\n\x1A\n", 8)) return FWC_FORMAT_PNG;

    if (starts_with(data, size, "GIF87a", 6) || starts_with(data, size, "GIF89a", 6))
        return FWC_FORMAT_GIF;
    if (size >= 18 && data[0] == 'B' && data[1] == 'M') {
        uint32_t dib = le32(data + 14);
        if (dib == 12 || dib == 16 || dib == 40 || dib == 52 || dib == 56 || dib == 64 ||
            dib == 108 || dib == 124)
            return FWC_FORMAT_BMP;
    }
    if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return FWC_FORMAT_WEBP;
    if (starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4) ||
        starts_with(data, size, "II+\0", 4) || starts_with(data, size, "MM\0+", 4))
        return FWC_FORMAT_TIFF;
    fwc_format ftyp = sniff_ftyp(data, size);
    if (ftyp != FWC_FORMAT_UNKNOWN) return ftyp;
    if (starts_with(data, size, "\0\0\0\x0CjP  \r\n\x87\n", 12) ||
        starts_with(data, size, "\xFF\x4F\xFF\x51", 4))
        return FWC_FORMAT_JPEG2000;
    if (starts_with(data, size, "\0\0\0\x0CJXL \r\n\x87\n", 12) ||
        starts_with(data, size, "\xFF\x0A", 2))
        return FWC_FORMAT_JPEGXL;
    if (size >= 10 && data[0] == 0 && data[1] == 0 && (data[2] == 1 || data[2] == 2) &&
        data[3] == 0) {
        unsigned count = (unsigned)data[4] | (unsigned)data[5] << 8;
        if (count >= 1 && count <= 512 && data[9] == 0) return FWC_FORMAT_ICO; /* 9: reserved */
    }
    if (size >= 6 && memcmp(data, "8BPS", 4) == 0 && data[4] == 0 && (data[5] == 1 || data[5] == 2))
        return FWC_FORMAT_PSD;
    if (starts_with(data, size, "qoif", 4)) return FWC_FORMAT_QOI;
    if (starts_with(data, size, "\x76\x2F\x31\x01", 4)) return FWC_FORMAT_OPENEXR;
    if (starts_with(data, size, "\x8AMNG\r\n\x1A\n", 8) ||
        starts_with(data, size, "\x8BJNG\r\n\x1A\n", 8))
        return FWC_FORMAT_MNG;
    if (size >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7' && is_space(data[2]))
        return FWC_FORMAT_PNM;

    return FWC_FORMAT_UNKNOWN;
}

const char *fwc_format_name(fwc_format format) {
    switch (format) {
    case FWC_FORMAT_JPEG: return "JPEG";
    case FWC_FORMAT_PNG: return "PNG";
    case FWC_FORMAT_GIF: return "GIF";
    case FWC_FORMAT_BMP: return "BMP";
    case FWC_FORMAT_WEBP: return "WebP";
    case FWC_FORMAT_TIFF: return "TIFF";
    case FWC_FORMAT_HEIF: return "HEIF";
    case FWC_FORMAT_AVIF: return "AVIF";
    case FWC_FORMAT_JPEG2000: return "JPEG 2000";
    case FWC_FORMAT_JPEGXL: return "JPEG XL";
    case FWC_FORMAT_ICO: return "ICO";
    case FWC_FORMAT_PSD: return "PSD";
    case FWC_FORMAT_QOI: return "QOI";
    case FWC_FORMAT_PNM: return "PNM";
    case FWC_FORMAT_OPENEXR: return "OpenEXR";
    case FWC_FORMAT_MNG: return "MNG";
    case FWC_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}
