/*
 * internal.h - shared between the codec's C files; not part of the public API.
 */
#ifndef FACEWATCH_CODEC_INTERNAL_H
#define FACEWATCH_CODEC_INTERNAL_H

#include "codec.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/** A status with its one-line message, filled by whoever detects the failure first. */
typedef struct fwc_report {
    fwc_status status;
    char message[FWC_MESSAGE_CAPACITY];
} fwc_report;

/** Records a failure (printf-style message) and returns its status. */
fwc_status fwc_fail(fwc_report *report, fwc_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/** Where decoded pixels go: exactly width * height * 3 bytes. */
typedef struct fwc_output {
    uint8_t *rgb;
    size_t size;
} fwc_output;

/**
 * Called by the format readers once the stored size and the orientation are known, before any
 * pixel memory is allocated: rejects zero sizes and sizes over the pixel limit, and fills in the
 * oriented width and height. When output is not NULL, also checks that it has the right size.
 * When probed is not NULL (fwc_decode_probed), the stored size must be the one it gives.
 */
fwc_status fwc_accept_header(fwc_header *header, const fwc_limits *limits,
                             const fwc_output *output, const fwc_header *probed,
                             fwc_report *report);

/* ---- EXIF / XMP orientation (exif.c) ---- */

/** fwc_exif_orientation's answer when IFD0 has no Orientation entry Pillow would see. */
#define FWC_EXIF_ABSENT (-1)
/** fwc_exif_orientation's answer when Pillow fails on the block: no orientation, no XMP fallback. */
#define FWC_EXIF_INVALID (-2)

/**
 * The Orientation tag (0x0112) of IFD0 of an EXIF block (a TIFF structure, optionally preceded by
 * one or two "Exif\0\0" prefixes), read the way Pillow does. Returns FWC_EXIF_ABSENT when there is
 * no usable entry (XMP may then say), FWC_EXIF_INVALID when the block is unreadable, otherwise the
 * value (1..8), or 0 for a value that selects no transform. Never reads outside [data, data + size).
 */
int fwc_exif_orientation(const uint8_t *data, size_t size);

/**
 * Pillow's XMP fallback: the digit of the first `tiff:Orientation="D` or `tiff:Orientation>D`
 * in the packet, or -1 when there is none.
 */
int fwc_xmp_orientation(const uint8_t *data, size_t size);

/** Maps an orientation value from EXIF/XMP to the transform applied: 2..8, else 1. */
uint32_t fwc_effective_orientation(int value);

/* ---- orientation of decoded rows (orient.c) ---- */

/** Width and height after applying orientation o to a stored sw x sh image. */
void fwc_oriented_size(uint32_t orientation, uint32_t sw, uint32_t sh, uint32_t *w, uint32_t *h);

/**
 * Places `count` consecutive stored rows (RGB, `stride` bytes apart), the first being stored row
 * `y0`, into `dst` (the oriented image, tightly packed RGB) at the positions orientation puts them.
 */
void fwc_orient_rows(uint8_t *dst, uint32_t sw, uint32_t sh, uint32_t orientation,
                     const uint8_t *rows, size_t stride, uint32_t y0, uint32_t count);

/** Places one stored pixel (RGB at src), at stored position (x, y), into the oriented image. */
void fwc_orient_pixel(uint8_t *dst, uint32_t sw, uint32_t sh, uint32_t orientation,
                           const uint8_t *src, uint32_t x, uint32_t y);

/** Rows decoded per band before they are placed in the output. */
#define FWC_BAND_ROWS 16u

/* ---- format readers (jpeg.c, png.c, webp.c, heif.c, avif.c) ---- */

/**
 * Reads the header (and, when output is not NULL, the pixels) of a JPEG / PNG. header->format is
 * set by the caller. The limits are applied through fwc_accept_header before decoding. When
 * probed is not NULL, its orientation is used and the metadata is not read again.
 */
fwc_status fwc_jpeg_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report);
fwc_status fwc_png_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                        const fwc_header *probed, fwc_header *header, const fwc_output *output,
                        fwc_report *report);
fwc_status fwc_webp_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report);
fwc_status fwc_heif_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report);
fwc_status fwc_avif_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report);

#endif /* FACEWATCH_CODEC_INTERNAL_H */
