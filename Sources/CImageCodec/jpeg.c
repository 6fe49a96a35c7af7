/*
 * jpeg.c - JPEG header, EXIF orientation and decoding through libjpeg(-turbo).
 *
 * Decodes like Pillow does (the pixels must be byte-identical): libjpeg's defaults, that is the
 * accurate integer IDCT (JDCT_ISLOW) and fancy upsampling; gray JPEGs are replicated to RGB; 4-
 * component (CMYK/YCCK) JPEGs are taken as Adobe-inverted CMYK, as Pillow's "CMYK;I" raw mode
 * does, and converted with Pillow's CMYK->RGB formula.
 *
 * libjpeg reports errors through error_exit, which longjmps back to fwc_jpeg_read; warnings are
 * ignored (as Pillow ignores them) except "Premature end of JPEG file" before the last row was
 * decoded: that is a truncated file, which Pillow refuses too.
 */
#include "internal.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* A progressive JPEG needs about 10 scans; thousands of tiny scans are a known way to make a
 * small file take minutes to decode (each scan walks the whole image). 500 is the limit
 * libjpeg-turbo recommends; Pillow has none. */
#define FWC_JPEG_MAX_SCANS 500

static const char xmp_prefix[] = "http://ns.adobe.com/xap/1.0/"; /* followed by a NUL */

typedef struct jpeg_job {
    struct jpeg_error_mgr error; /* first: libjpeg hands it back as cinfo->err */
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int created;
    int saw_eof; /* libjpeg ran out of data and made up an end-of-image marker */
    fwc_report *report;
    uint8_t *band;        /* decoded rows waiting to be converted and placed */
    uint8_t *exif_joined; /* several Exif APP1 segments concatenated, as Pillow does */
} jpeg_job;

static jpeg_job *job_of(j_common_ptr cinfo) {
    return (jpeg_job *)(void *)cinfo->err;
}

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_job *job = job_of(cinfo);
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    switch (cinfo->err->msg_code) {
    case JERR_OUT_OF_MEMORY:
        fwc_fail(job->report, FWC_OUT_OF_MEMORY, "not enough memory to decode the JPEG (%s)", text);
        break;
    case JERR_BAD_PRECISION:
    case JERR_SOF_UNSUPPORTED:
    case JERR_ARITH_NOTIMPL:
    case JERR_NOT_COMPILED:
        fwc_fail(job->report, FWC_UNSUPPORTED_FORMAT, "unsupported kind of JPEG: %s", text);
        break;
    default:
        if (job->saw_eof)
            fwc_fail(job->report, FWC_CORRUPT_IMAGE, "truncated JPEG data (%s)", text);
        else
            fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt JPEG: %s", text);
        break;
    }
    longjmp(job->jump, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return; /* trace messages */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) job_of(cinfo)->saw_eof = 1;
    cinfo->err->num_warnings++;
}

static void on_output_message(j_common_ptr cinfo) {
    (void)cinfo; /* never print */
}

static void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > FWC_JPEG_MAX_SCANS) {
        jpeg_job *job = job_of(cinfo);
        fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt JPEG: more than %d scans",
                 FWC_JPEG_MAX_SCANS);
        longjmp(job->jump, 1);
    }
}

/* The orientation from the APP1 markers libjpeg saved: Exif first, XMP as Pillow's fallback. */
static fwc_status read_orientation(jpeg_job *job, uint32_t *orientation) {
    const uint8_t *exif = NULL, *xmp = NULL;
    size_t exif_size = 0, xmp_size = 0, exif_segments = 0, joined_size = 0;
    const size_t xmp_prefix_size = sizeof xmp_prefix; /* includes the NUL */
    for (jpeg_saved_marker_ptr m = job->cinfo.marker_list; m != NULL; m = m->next) {
        if (m->marker != JPEG_APP0 + 1) continue;
        if (m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            if (exif_segments++ == 0) {
                exif = m->data;
                exif_size = m->data_length;
                joined_size = exif_size;
            } else {
                joined_size += m->data_length - 6;
            }
        } else if (m->data_length >= xmp_prefix_size &&
                   memcmp(m->data, xmp_prefix, xmp_prefix_size) == 0) {
            xmp = m->data + xmp_prefix_size; /* the last XMP segment wins */
            xmp_size = m->data_length - xmp_prefix_size;
        }
    }
    if (exif_segments > 1) {
        /* Pillow appends every further Exif segment, without its prefix, to the first one. */
        job->exif_joined = malloc(joined_size);
        if (job->exif_joined == NULL)
            return fwc_fail(job->report, FWC_OUT_OF_MEMORY, "not enough memory to read JPEG EXIF");
        size_t at = 0;
        int first = 1;
        for (jpeg_saved_marker_ptr m = job->cinfo.marker_list; m != NULL; m = m->next) {
            if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 ||
                memcmp(m->data, "Exif\0\0", 6) != 0)
                continue;
            size_t skip = first ? 0 : 6;
            memcpy(job->exif_joined + at, m->data + skip, m->data_length - skip);
            at += m->data_length - skip;
            first = 0;
        }
        exif = job->exif_joined;
        exif_size = joined_size;
    }
    int value = exif != NULL ? fwc_exif_orientation(exif, exif_size) : FWC_EXIF_ABSENT;
    if (value == FWC_EXIF_ABSENT && xmp != NULL) value = fwc_xmp_orientation(xmp, xmp_size);
    *orientation = fwc_effective_orientation(value);
    return FWC_OK;
}

/* Adobe-inverted CMYK to RGB in place, exactly as Pillow's "CMYK;I" unpacker + cmyk2rgb. */
static void cmyk_to_rgb(uint8_t *row, uint32_t width) {
    for (uint32_t x = 0; x < width; x++) {
        const uint8_t *in = row + (size_t)x * 4;
        int c = 255 - in[0], m = 255 - in[1], y = 255 - in[2], nk = in[3]; /* nk = 255 - K */
        int t;
#define MULDIV255(a, b) (t = (a) * (b) + 128, ((t >> 8) + t) >> 8)
        uint8_t r = (uint8_t)(nk - MULDIV255(c, nk));
        uint8_t g = (uint8_t)(nk - MULDIV255(m, nk));
        uint8_t b = (uint8_t)(nk - MULDIV255(y, nk));
#undef MULDIV255
        uint8_t *out = row + (size_t)x * 3;
        out[0] = r;
        out[1] = g;
        out[2] = b;
    }
}

static fwc_status truncated(jpeg_job *job) {
    return fwc_fail(job->report, FWC_CORRUPT_IMAGE, "truncated JPEG data");
}

static fwc_status jpeg_work(jpeg_job *job, const uint8_t *data, size_t size,
                            const fwc_limits *limits, const fwc_header *probed,
                            fwc_header *header, const fwc_output *output) {
    j_decompress_ptr cinfo = &job->cinfo;
    job->created = 1; /* jpeg_destroy is safe even if creation fails half way */
    jpeg_create_decompress(cinfo);
    job->progress.progress_monitor = on_progress;
    cinfo->progress = &job->progress;
    if ((unsigned long)size != size) return fwc_fail(job->report, FWC_TOO_LARGE, "JPEG too large");
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);

    int components = cinfo->num_components;
    if (components != 1 && components != 3 && components != 4)
        return fwc_fail(job->report, FWC_UNSUPPORTED_FORMAT,
                        "JPEG with %d color components is not supported", components);
    header->stored_width = cinfo->image_width;
    header->stored_height = cinfo->image_height;
    fwc_status status = FWC_OK;
    if (probed != NULL)
        header->orientation = probed->orientation; /* the probe read the metadata */
    else
        status = read_orientation(job, &header->orientation);
    if (status != FWC_OK) return status;
    status = fwc_accept_header(header, limits, output, probed, job->report);
    if (status != FWC_OK || output == NULL) return status;

    cinfo->out_color_space = components == 4 ? JCS_CMYK : JCS_RGB;
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    jpeg_start_decompress(cinfo);
    if (job->saw_eof) return truncated(job);

    uint32_t width = cinfo->output_width, height = cinfo->output_height;
    int out_components = cinfo->output_components;
    if (width != header->stored_width || height != header->stored_height ||
        out_components != (components == 4 ? 4 : 3))
        return fwc_fail(job->report, FWC_CORRUPT_IMAGE, "corrupt JPEG: unexpected output format");

    uint32_t orientation = header->orientation;
    int direct = orientation == 1 && out_components == 3; /* decode straight into the output */
    size_t out_row_bytes = (size_t)width * 3;
    size_t band_row_bytes = (size_t)width * (size_t)out_components;
    if (!direct) {
        job->band = malloc(band_row_bytes * FWC_BAND_ROWS);
        if (job->band == NULL)
            return fwc_fail(job->report, FWC_OUT_OF_MEMORY, "not enough memory to decode the JPEG");
    }

    JSAMPROW rows[FWC_BAND_ROWS];
    while (cinfo->output_scanline < height) {
        uint32_t y0 = cinfo->output_scanline;
        uint32_t want = height - y0 < FWC_BAND_ROWS ? height - y0 : FWC_BAND_ROWS;
        for (uint32_t k = 0; k < want; k++)
            rows[k] = direct ? output->rgb + (size_t)(y0 + k) * out_row_bytes
                             : job->band + (size_t)k * band_row_bytes;
        uint32_t got = 0;
        while (got < want) {
            JDIMENSION n = jpeg_read_scanlines(cinfo, rows + got, want - got);
            if (n == 0) return truncated(job); /* only a suspending source returns 0 */
            got += n;
        }
        if (job->saw_eof) return truncated(job);
        if (!direct) {
            if (out_components == 4)
                for (uint32_t k = 0; k < got; k++) cmyk_to_rgb(rows[k], width);
            fwc_orient_rows(output->rgb, width, height, orientation, job->band, band_row_bytes,
                            y0, got);
        }
    }
    /* Like Pillow, read on to the end of the image; running out of data here (a missing EOI
     * marker) is fine once every row is decoded. */
    jpeg_finish_decompress(cinfo);
    return FWC_OK;
}

fwc_status fwc_jpeg_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report) {
    /* On the heap so nothing longjmp could leave indeterminate lives in this frame. */
    jpeg_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the JPEG");
    job->report = report;
    job->cinfo.err = jpeg_std_error(&job->error);
    job->error.error_exit = on_error_exit;
    job->error.emit_message = on_emit_message;
    job->error.output_message = on_output_message;

    fwc_status status;
    if (setjmp(job->jump) == 0)
        status = jpeg_work(job, data, size, limits, probed, header, output);
    else
        status = report->status != FWC_OK ? report->status : FWC_CORRUPT_IMAGE;

    if (job->created) jpeg_destroy_decompress(&job->cinfo);
    free(job->band);
    free(job->exif_joined);
    free(job);
    return status;
}
