/*
 * encode.c - RGB to JPEG or PNG in memory, for images people look at (annotated copies,
 * thumbnails). The input is the codec's own output (already upright), so nothing here reads
 * untrusted bytes; libjpeg and libpng errors still come back through setjmp, never abort().
 */
#include "internal.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/* ---- JPEG ---- */

typedef struct jpeg_encode_job {
    struct jpeg_error_mgr error; /* first: libjpeg hands it back as cinfo->err */
    jmp_buf jump;
    fwc_report *report;
    /* jpeg_mem_dest's buffer: in the job, whose address libjpeg holds, so it is in memory (not a
     * register) when libjpeg's error handler longjmps back. */
    unsigned char *buffer;
    unsigned long size;
} jpeg_encode_job;

static void on_jpeg_error(j_common_ptr cinfo) {
    jpeg_encode_job *job = (jpeg_encode_job *)(void *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    fwc_fail(job->report, FWC_CORRUPT_IMAGE, "libjpeg cannot encode: %s", text);
    longjmp(job->jump, 1);
}

static void on_jpeg_message(j_common_ptr cinfo) {
    (void)cinfo; /* never print */
}

/* The setjmp frame holds no local that changes after it; everything lives in *job and *cinfo. */
static void jpeg_compress_rows(struct jpeg_compress_struct *cinfo, const uint8_t *rgb,
                               uint32_t width, uint32_t height, int quality, unsigned char **out,
                               unsigned long *out_size) {
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, out, out_size);
    cinfo->image_width = width;
    cinfo->image_height = height;
    cinfo->input_components = 3;
    cinfo->in_color_space = JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality, TRUE);
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo->next_scanline * width * 3);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
}

static fwc_status encode_jpeg(const uint8_t *rgb, uint32_t width, uint32_t height, int quality,
                              uint8_t **out, size_t *out_size, fwc_report *report) {
    jpeg_encode_job job;
    memset(&job, 0, sizeof job);
    job.report = report;
    struct jpeg_compress_struct cinfo;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&job.error);
    job.error.error_exit = on_jpeg_error;
    job.error.output_message = on_jpeg_message;
    if (setjmp(job.jump) == 0) {
        jpeg_compress_rows(&cinfo, rgb, width, height, quality < 1 ? 1 : quality > 100 ? 100 : quality,
                           &job.buffer, &job.size);
    }
    jpeg_destroy_compress(&cinfo);
    if (report->status != FWC_OK) {
        free(job.buffer);
        return report->status;
    }
    *out = job.buffer;
    *out_size = job.size;
    return FWC_OK;
}

/* ---- PNG ---- */

typedef struct png_encode_job {
    fwc_report *report;
    uint8_t *data;
    size_t size;
    size_t capacity;
    int out_of_memory;
} png_encode_job;

static void on_png_error(png_structp png, png_const_charp text) {
    png_encode_job *job = png_get_error_ptr(png);
    if (job->out_of_memory)
        fwc_fail(job->report, FWC_OUT_OF_MEMORY, "not enough memory for the PNG");
    else
        fwc_fail(job->report, FWC_CORRUPT_IMAGE, "libpng cannot encode: %s", text);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void on_png_write(png_structp png, png_bytep bytes, size_t count) {
    png_encode_job *job = png_get_io_ptr(png);
    if (count > SIZE_MAX - job->size) png_error(png, "output too large");
    if (job->size + count > job->capacity) {
        size_t capacity = job->capacity < 4096 ? 4096 : job->capacity;
        while (capacity < job->size + count) capacity = capacity > SIZE_MAX / 2 ? SIZE_MAX : capacity * 2;
        uint8_t *grown = realloc(job->data, capacity);
        if (grown == NULL) {
            job->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        job->data = grown;
        job->capacity = capacity;
    }
    memcpy(job->data + job->size, bytes, count);
    job->size += count;
}

static void on_png_flush(png_structp png) {
    (void)png;
}

static void write_png_rows(png_structp png, png_infop info, const uint8_t *rgb, uint32_t width,
                           uint32_t height) {
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, info);
}

static fwc_status encode_png(const uint8_t *rgb, uint32_t width, uint32_t height, uint8_t **out,
                             size_t *out_size, fwc_report *report) {
    png_encode_job job = {report, NULL, 0, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, on_png_error, on_png_warning);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    if (png == NULL || info == NULL) {
        png_destroy_write_struct(&png, &info);
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory for libpng");
    }
    png_set_write_fn(png, &job, on_png_write, on_png_flush);
    if (setjmp(png_jmpbuf(png)) == 0) write_png_rows(png, info, rgb, width, height);
    png_destroy_write_struct(&png, &info);
    if (report->status != FWC_OK) {
        free(job.data);
        return report->status;
    }
    *out = job.data;
    *out_size = job.size;
    return FWC_OK;
}

/* ---- entry points ---- */

fwc_status fwc_encode(const uint8_t *rgb, size_t rgb_size, uint32_t width, uint32_t height,
                      fwc_output_format format, int quality, uint8_t **out, size_t *out_size,
                      char *message, size_t message_capacity) {
    fwc_report report = {FWC_OK, {0}};
    if (out != NULL) *out = NULL;
    if (out_size != NULL) *out_size = 0;
    if (rgb == NULL || out == NULL || out_size == NULL || width == 0 || height == 0)
        fwc_fail(&report, FWC_BAD_ARGUMENT, "fwc_encode: a NULL pointer or an empty image");
    else if ((uint64_t)width * height > SIZE_MAX / 3 || rgb_size != (size_t)width * height * 3)
        fwc_fail(&report, FWC_BAD_ARGUMENT, "fwc_encode: %zu bytes are not a %ux%u RGB image",
                 rgb_size, (unsigned)width, (unsigned)height);
    else if (format == FWC_OUTPUT_JPEG && (width > 65500 || height > 65500))
        fwc_fail(&report, FWC_BAD_ARGUMENT, "a JPEG is at most 65500 pixels wide and high");
    else if (format == FWC_OUTPUT_JPEG)
        encode_jpeg(rgb, width, height, quality, out, out_size, &report);
    else if (format == FWC_OUTPUT_PNG)
        encode_png(rgb, width, height, out, out_size, &report);
    else
        fwc_fail(&report, FWC_BAD_ARGUMENT, "fwc_encode: unknown output format %d", (int)format);
    if (message != NULL && message_capacity > 0)
        snprintf(message, message_capacity, "%s", report.status == FWC_OK ? "" : report.message);
    return report.status;
}

void fwc_free(void *buffer) {
    free(buffer);
}
