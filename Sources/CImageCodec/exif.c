/*
 * exif.c - the EXIF (and XMP) Orientation, read exactly the way Pillow 13's Image.getexif() and
 * ImageOps.exif_transpose() see it.
 *
 * Pillow's rules reproduced here (TiffImagePlugin.ImageFileDirectory_v2.load):
 * - up to two leading "Exif\0\0" prefixes are removed;
 * - the 8-byte header must be "II*\0", "MM\0*" or the byte-swapped "II\0*", "MM*\0"; BigTIFF
 *   headers make Pillow fail, so they give no orientation;
 * - IFD0 entries are read until the data ends (entries read so far still count);
 * - the first entry of a tag wins; entries of an unknown type are skipped;
 * - a value larger than 4 bytes is read from its offset, and skipped once the running total of
 *   such values exceeds the block's size; an offset past the end stops the whole directory;
 * - a multi-valued Orientation uses its first value; integer, float and rational values that are
 *   whole numbers count, byte/string/undefined values select no transform.
 * When Pillow fails on the block itself (not a TIFF header, fewer than 8 bytes, BigTIFF), its
 * getexif() stays empty and does not look at XMP either: FWC_EXIF_INVALID.
 * Every read is bounds-checked: hostile offsets and counts cannot read outside the block.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define TAG_ORIENTATION 0x0112

typedef struct tiff_reader {
    const uint8_t *data;
    size_t size;
    int big_endian;
} tiff_reader;

static uint16_t rd16(const tiff_reader *t, const uint8_t *p) {
    return t->big_endian ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t rd32(const tiff_reader *t, const uint8_t *p) {
    return t->big_endian
               ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t rd64(const tiff_reader *t, const uint8_t *p) {
    uint64_t a = rd32(t, p), b = rd32(t, p + 4);
    return t->big_endian ? a << 32 | b : b << 32 | a;
}

/* Size in bytes of one value of a TIFF type, 0 for types Pillow does not load. */
static unsigned type_size(uint16_t type) {
    switch (type) {
    case 1: case 2: case 6: case 7: return 1;   /* BYTE ASCII SBYTE UNDEFINED */
    case 3: case 8: return 2;                   /* SHORT SSHORT */
    case 4: case 9: case 11: case 13: return 4; /* LONG SLONG FLOAT IFD */
    case 5: case 10: case 12: case 16: return 8; /* RATIONAL SRATIONAL DOUBLE LONG8 */
    default: return 0;
    }
}

/* A double that is a whole number in [1, 8] as that number, anything else as 0. */
static int whole_orientation(double v) {
    if (!(v >= 1.0 && v <= 8.0)) return 0; /* also rejects NaN */
    return v == floor(v) ? (int)v : 0;
}

static int clamp_orientation(int64_t v) {
    return v >= 1 && v <= 8 ? (int)v : 0;
}

/* The first value of an Orientation entry of the given type, as exif_transpose would use it. */
static int orientation_value(const tiff_reader *t, uint16_t type, const uint8_t *p) {
    switch (type) {
    case 3: return clamp_orientation(rd16(t, p));
    case 8: return clamp_orientation((int16_t)rd16(t, p));
    case 4: case 13: return clamp_orientation(rd32(t, p));
    case 9: return clamp_orientation((int32_t)rd32(t, p));
    case 6: return clamp_orientation((int8_t)p[0]);
    case 16: {
        uint64_t v = rd64(t, p);
        return v <= 8 ? clamp_orientation((int64_t)v) : 0;
    }
    case 11: {
        uint32_t bits = rd32(t, p);
        float f;
        memcpy(&f, &bits, sizeof f);
        return whole_orientation(f);
    }
    case 12: {
        uint64_t bits = rd64(t, p);
        double d;
        memcpy(&d, &bits, sizeof d);
        return whole_orientation(d);
    }
    case 5: {
        uint32_t num = rd32(t, p), den = rd32(t, p + 4);
        if (den == 0 || num % den != 0) return 0;
        return clamp_orientation(num / den);
    }
    case 10: {
        int64_t num = (int32_t)rd32(t, p), den = (int32_t)rd32(t, p + 4);
        if (den == 0 || num % den != 0) return 0;
        return clamp_orientation(num / den);
    }
    default: return 0; /* BYTE, ASCII, UNDEFINED: bytes or text, which selects no transform */
    }
}

int fwc_exif_orientation(const uint8_t *data, size_t size) {
    if (data == NULL) return FWC_EXIF_ABSENT;
    for (int i = 0; i < 2 && size >= 6 && memcmp(data, "Exif\0\0", 6) == 0; i++) {
        data += 6;
        size -= 6;
    }
    if (size == 0) return FWC_EXIF_ABSENT; /* Pillow: no EXIF at all */
    if (size < 8) return FWC_EXIF_INVALID;

    tiff_reader t = {data, size, 0};
    if (memcmp(data, "II*\0", 4) == 0 || memcmp(data, "II\0*", 4) == 0) {
        t.big_endian = 0;
    } else if (memcmp(data, "MM\0*", 4) == 0 || memcmp(data, "MM*\0", 4) == 0) {
        t.big_endian = 1;
    } else {
        return FWC_EXIF_INVALID; /* not TIFF, or BigTIFF (which Pillow fails to read here) */
    }

    uint32_t ifd = rd32(&t, data + 4);
    if (ifd > size || size - ifd < 2) return FWC_EXIF_ABSENT;
    uint32_t count = rd16(&t, data + ifd);
    size_t pos = (size_t)ifd + 2;

    uint8_t seen[65536 / 8]; /* one bit per tag number */
    memset(seen, 0, sizeof seen);
    uint64_t out_of_line_total = 0;

    for (uint32_t i = 0; i < count; i++) {
        if (size - pos < 12) break; /* the directory is cut short: keep what was read */
        const uint8_t *entry = data + pos;
        pos += 12;
        uint16_t tag = rd16(&t, entry);
        uint16_t type = rd16(&t, entry + 2);
        uint32_t n = rd32(&t, entry + 4);
        if (seen[tag >> 3] & (1u << (tag & 7))) continue; /* first entry of a tag wins */
        unsigned unit = type_size(type);
        if (unit == 0) continue;
        uint64_t bytes = (uint64_t)n * unit;
        const uint8_t *value;
        if (bytes > 4) {
            uint32_t offset = rd32(&t, entry + 8);
            out_of_line_total += bytes;
            if (out_of_line_total > size) continue;
            if (offset > size || size - offset < bytes) break; /* Pillow stops on a short read */
            value = data + offset;
        } else {
            if (bytes == 0) continue;
            value = entry + 8;
        }
        seen[tag >> 3] |= (uint8_t)(1u << (tag & 7));
        if (tag == TAG_ORIENTATION) return orientation_value(&t, type, value);
    }
    return FWC_EXIF_ABSENT;
}

int fwc_xmp_orientation(const uint8_t *data, size_t size) {
    static const char key[] = "tiff:Orientation";
    const size_t klen = sizeof key - 1;
    if (data == NULL || size < klen + 2) return -1;
    for (size_t i = 0; i + klen + 2 <= size; i++) {
        if (data[i] != 't' || memcmp(data + i, key, klen) != 0) continue;
        const uint8_t *p = data + i + klen;
        size_t left = size - i - klen;
        if (left >= 3 && p[0] == '=' && p[1] == '"' && p[2] >= '0' && p[2] <= '9') return p[2] - '0';
        if (p[0] == '>' && p[1] >= '0' && p[1] <= '9') return p[1] - '0';
    }
    return -1;
}

uint32_t fwc_effective_orientation(int value) {
    return value >= 2 && value <= 8 ? (uint32_t)value : 1;
}
