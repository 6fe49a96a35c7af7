/*
 * png.c - PNG header and decoding through libpng, with Pillow's conversion to RGB.
 *
 * The header (IHDR) is parsed here before libpng sees the file, so the size is checked against
 * the limits before anything is allocated. libpng then decodes with only two transforms:
 * png_set_strip_16 (16-bit samples keep their high byte, as Pillow's ";16B" raw modes do) and
 * png_set_packing (1/2/4-bit samples one per byte). The rest is done here, as Pillow's
 * convert("RGB") does it: gray is scaled (1-bit x255, 2-bit x85, 4-bit x17) and replicated,
 * alpha is dropped (never blended), palette indexes are looked up (an index past the palette is
 * black) and tRNS is ignored. No gamma correction. Ancillary chunks are skipped by libpng.
 *
 * libpng's progressive reader is used, as Pillow feeds zlib progressively: a row counts as soon as
 * it can be decoded, so a file whose every row was decoded is accepted even if what follows the
 * rows (the end of the zlib stream, CRCs, IEND) is missing or damaged, and one that ends before
 * its last row is "truncated PNG data". libpng errors longjmp back to fwc_png_read. Interlaced
 * passes are placed by hand (Adam7), so no full-size intermediate image is needed.
 */
#include "png_metadata.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zlib.h>

typedef struct png_job {
    fwc_report *report;
    const uint8_t *data;
    size_t size;
    png_structp png;
    png_infop info;
    /* Image layout (from IHDR). */
    uint32_t width, height;
    int bit_depth, color_type, interlaced;
    png_color palette[256];
    int palette_size;
    int channels;            /* samples per pixel libpng delivers (8 bits each) */
    /* Progress: libpng's progressive reader hands over each row as soon as it is decoded. */
    uint64_t rows_expected;  /* rows over all interlace passes */
    uint64_t rows_decoded;
    uint8_t *band;           /* non-interlaced: RGB rows waiting to be placed */
    uint32_t band_y0, band_count;
    uint8_t *pass_rgb;       /* interlaced: one pass row converted to RGB */
    const fwc_output *output;
    uint32_t orientation;
} png_job;

static void on_error(png_structp png, png_const_charp text) {
    png_job *job = png_get_error_ptr(png);
    if (strstr(text, "memory") != NULL)
        fwc_fail(job->report, FWC_OUT_OF_MEMORY, "not enough memory to decode the PNG (%s)", text);
    else
        fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt PNG: %s", text);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text; /* never print */
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* IHDR, checked as libpng will check it, so that a bad header fails before any allocation. */
static fwc_status read_ihdr(png_job *job, fwc_header *header) {
    const uint8_t *d = job->data;
    if (job->size < 8 + 8 + 13 + 4)
        return fwc_fail(job->report, FWC_CORRUPT_IMAGE, "truncated PNG data (no complete header)");
    if (be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
        return fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt PNG: the first chunk is not IHDR");
    const uint8_t *ihdr = d + 16;
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), d + 12, 17);
    if (crc != be32(d + 29))
        return fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt PNG: IHDR checksum mismatch");
    uint32_t w = be32(ihdr), h = be32(ihdr + 4);
    int depth = ihdr[8], type = ihdr[9];
    if (w > 0x7FFFFFFFu || h > 0x7FFFFFFFu)
        return fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt PNG: invalid size %ux%u",
                        (unsigned)w, (unsigned)h);
    int valid;
    switch (type) {
    case 0: valid = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16; break;
    case 3: valid = depth == 1 || depth == 2 || depth == 4 || depth == 8; break;
    case 2: case 4: case 6: valid = depth == 8 || depth == 16; break;
    default: valid = 0; break;
    }
    if (!valid)
        return fwc_fail(job->report, FWC_CORRUPT_IMAGE,
                        "corrupt PNG: invalid color type %d with bit depth %d", type, depth);
    if (ihdr[10] != 0 || ihdr[11] != 0 || ihdr[12] > 1)
        return fwc_fail(job->report, FWC_CORRUPT_IMAGE,
                        "corrupt PNG: unknown compression, filter or interlace method");
    job->width = w;
    job->height = h;
    job->bit_depth = depth;
    job->color_type = type;
    job->interlaced = ihdr[12];
    header->stored_width = w;
    header->stored_height = h;
    return FWC_OK;
}

/*
 * Pillow verifies the CRC of every chunk before the image data and refuses the file on a mismatch
 * (libpng would only drop a damaged ancillary chunk, and is told not to check critical ones so
 * that, like Pillow, damaged CRCs in the image data itself do not matter).
 */
static fwc_status check_chunks_before_image(png_job *job) {
    const uint8_t *d = job->data;
    size_t size = job->size, pos = 8;
    while (size - pos >= 12) {
        uint32_t length = be32(d + pos);
        if (memcmp(d + pos + 4, "IDAT", 4) == 0) break;
        if (length > size - pos - 12) break; /* cut short: libpng reports the truncation */
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), d + pos + 4, (uInt)length + 4);
        if (crc != be32(d + pos + 8 + length)) {
            char name[5];
            for (int i = 0; i < 4; i++) {
                uint8_t c = d[pos + 4 + i];
                name[i] = (char)((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? c : '?');
            }
            name[4] = '\0';
            return fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt PNG: %s chunk checksum mismatch",
                            name);
        }
        pos += 12 + (size_t)length;
    }
    return FWC_OK;
}

/* `count` pixels as libpng delivers them (8 bits per sample after the transforms) to RGB. */
static void convert_pixels(const png_job *job, const uint8_t *src, uint8_t *dst, uint32_t count) {
    switch (job->color_type) {
    case PNG_COLOR_TYPE_GRAY: {
        unsigned scale = job->bit_depth == 1 ? 255 : job->bit_depth == 2 ? 85
                       : job->bit_depth == 4 ? 17 : 1;
        for (uint32_t x = 0; x < count; x++, dst += 3) {
            uint8_t v = (uint8_t)(src[x] * scale);
            dst[0] = dst[1] = dst[2] = v;
        }
        break;
    }
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        for (uint32_t x = 0; x < count; x++, dst += 3) dst[0] = dst[1] = dst[2] = src[2 * x];
        break;
    case PNG_COLOR_TYPE_RGB:
        memcpy(dst, src, (size_t)count * 3);
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        for (uint32_t x = 0; x < count; x++, dst += 3, src += 4) {
            dst[0] = src[0];
            dst[1] = src[1];
            dst[2] = src[2];
        }
        break;
    case PNG_COLOR_TYPE_PALETTE:
        for (uint32_t x = 0; x < count; x++, dst += 3) {
            int i = src[x];
            if (i < job->palette_size) {
                dst[0] = job->palette[i].red;
                dst[1] = job->palette[i].green;
                dst[2] = job->palette[i].blue;
            } else {
                dst[0] = dst[1] = dst[2] = 0;
            }
        }
        break;
    }
}

static void flush_band(png_job *job) {
    fwc_orient_rows(job->output->rgb, job->width, job->height, job->orientation, job->band,
                    (size_t)job->width * 3, job->band_y0, job->band_count);
    job->band_y0 += job->band_count;
    job->band_count = 0;
}

/* Adam7: pass p holds the pixels (x0 + i*dx, y0 + r*dy). */
static const uint8_t adam7_x0[7] = {0, 4, 0, 2, 0, 1, 0}, adam7_dx[7] = {8, 8, 4, 4, 2, 2, 1};
static const uint8_t adam7_y0[7] = {0, 0, 4, 0, 2, 0, 1}, adam7_dy[7] = {8, 8, 8, 4, 4, 2, 2};

static void on_row(png_structp png, png_bytep row, png_uint_32 row_number, int pass) {
    png_job *job = png_get_progressive_ptr(png);
    if (row == NULL) return;
    if (!job->interlaced) {
        if (row_number != job->band_y0 + job->band_count) png_error(png, "rows out of order");
        size_t rgb_row = (size_t)job->width * 3;
        convert_pixels(job, row, job->band + (size_t)job->band_count * rgb_row, job->width);
        job->rows_decoded++;
        if (++job->band_count == FWC_BAND_ROWS) flush_band(job);
        return;
    }
    /* A row of one interlace pass: its pixels go straight to their oriented places. */
    if (pass < 0 || pass > 6) png_error(png, "bad interlace pass");
    uint32_t cols = PNG_PASS_COLS(job->width, pass);
    uint64_t y = (uint64_t)adam7_y0[pass] + (uint64_t)row_number * adam7_dy[pass];
    if (y >= job->height) png_error(png, "interlaced row out of range");
    convert_pixels(job, row, job->pass_rgb, cols);
    for (uint32_t i = 0; i < cols; i++) {
        uint32_t x = adam7_x0[pass] + i * adam7_dx[pass];
        fwc_orient_pixel(job->output->rgb, job->width, job->height, job->orientation,
                              job->pass_rgb + (size_t)i * 3, x, (uint32_t)y);
    }
    job->rows_decoded++;
}

static void on_end(png_structp png, png_infop info) {
    (void)png;
    (void)info;
}

static uint64_t rows_in_passes(uint32_t w, uint32_t h, int interlaced) {
    if (!interlaced) return h;
    uint64_t rows = 0;
    for (int pass = 0; pass < 7; pass++)
        if (PNG_PASS_COLS(w, pass) > 0) rows += PNG_PASS_ROWS(h, pass);
    return rows;
}

/* Called by libpng once the chunks before the image data are read: set up the transforms. */
static void on_info(png_structp png, png_infop info) {
    png_job *job = png_get_progressive_ptr(png);
    /* libpng calls this again for an IDAT chunk that follows another chunk once the zlib stream
     * has ended (found by the fuzzer). The image is set up once: a second band leaked the first. */
    if (job->band != NULL || job->pass_rgb != NULL) return;
    if (png_get_image_width(png, info) != job->width ||
        png_get_image_height(png, info) != job->height ||
        png_get_bit_depth(png, info) != job->bit_depth ||
        png_get_color_type(png, info) != job->color_type)
        png_error(png, "inconsistent header");
    if (job->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp palette = NULL;
        int count = 0;
        if (png_get_PLTE(png, info, &palette, &count) != 0 && palette != NULL) {
            if (count > 256) count = 256;
            memcpy(job->palette, palette, (size_t)count * sizeof *palette);
            job->palette_size = count;
        }
    }
    png_set_strip_16(png);
    png_set_packing(png);
    png_read_update_info(png, info);

    job->channels = png_get_channels(png, info);
    if (png_get_rowbytes(png, info) != (size_t)job->width * (size_t)job->channels)
        png_error(png, "unexpected row layout");
    size_t rgb_row = (size_t)job->width * 3;
    if (job->interlaced)
        job->pass_rgb = malloc(rgb_row);
    else
        job->band = malloc(rgb_row * FWC_BAND_ROWS);
    if (job->pass_rgb == NULL && job->band == NULL) png_error(png, "out of memory");
}

static fwc_status png_work(png_job *job) {
    png_structp png = job->png;
    png_set_progressive_read_fn(png, job, on_info, on_row, on_end);
    png_set_user_limits(png, 0x7FFFFFFFu, 0x7FFFFFFFu);
    png_set_benign_errors(png, 1);
    /* Like Pillow: no CRC check on the image data (IHDR's is checked in read_ihdr). */
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_DEFAULT);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    job->rows_expected = rows_in_passes(job->width, job->height, job->interlaced);
    png_process_data(png, job->info, (png_bytep)job->data, job->size);
    return FWC_OK;
}

fwc_status fwc_png_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                        const fwc_header *probed, fwc_header *header, const fwc_output *output,
                        fwc_report *report) {
    /* On the heap so nothing longjmp could leave indeterminate lives in this frame. */
    png_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the PNG");
    job->report = report;
    job->data = data;
    job->size = size;
    job->output = output;

    fwc_status status = read_ihdr(job, header);
    if (status == FWC_OK) status = check_chunks_before_image(job);
    if (status == FWC_OK) {
        if (probed != NULL)
            header->orientation = probed->orientation; /* the probe read the metadata */
        else
            status = fwc_png_metadata(data, size, &header->orientation, report);
        job->orientation = header->orientation;
        if (status == FWC_OK) status = fwc_accept_header(header, limits, output, probed, report);
    }
    if (status != FWC_OK || output == NULL) {
        free(job);
        return status;
    }

    job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, on_error, on_warning);
    if (job->png != NULL) job->info = png_create_info_struct(job->png);
    if (job->png == NULL || job->info == NULL) {
        status = fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the PNG");
    } else {
        if (setjmp(png_jmpbuf(job->png)) == 0) png_work(job);
        if (job->rows_expected > 0 && job->rows_decoded == job->rows_expected) {
            /* Every row is decoded. Like Pillow, a failure in what follows (end of the zlib
             * stream, a damaged chunk after the image data) does not matter. */
            report->status = FWC_OK;
            report->message[0] = '\0';
            if (!job->interlaced) flush_band(job);
            status = FWC_OK;
        } else if (report->status != FWC_OK) {
            status = report->status;
        } else {
            status = fwc_fail(report, FWC_CORRUPT_IMAGE, "truncated PNG data");
        }
    }

    png_destroy_read_struct(&job->png, job->info ? &job->info : NULL, NULL);
    free(job->band);
    free(job->pass_rgb);
    free(job);
    return status;
}
