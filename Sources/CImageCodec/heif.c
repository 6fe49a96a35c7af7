/*
 * heif.c - HEIF/HEIC (HEVC) through libheif with libde265, as pillow-heif reads it.
 *
 * The primary image is decoded with its transformations (irot rotation, imir mirroring, clap
 * crop), which is what the HEIF format prescribes and what pillow-heif does (libheif applies them);
 * the EXIF Orientation of such a file is not applied on top (pillow-heif resets it to 1), so the
 * header's orientation is always 1 and the size is the transformed one. Images of more than 8 bits
 * per sample come out at 8 bits (libheif's convert_hdr_to_8bit, which pillow-heif also asks for);
 * alpha is dropped. The colour conversion (YCbCr to RGB, chroma upsampling) is Debian's libheif
 * 1.15, not the newer libheif inside pillow-heif's wheel: docs/formats.md says how far the pixels
 * differ.
 *
 * Limits before pixels: libheif parses the boxes (the metadata, all of it inside the file: nothing
 * is allocated beyond the file's size and libheif's own limits on box counts), then the primary
 * image's size (ispe, and the transformed size) is checked before anything is decoded. For HEVC,
 * the size in the decoder configuration's sequence parameter set (hvcC) is checked too, so that a
 * small file cannot make the decoder allocate a picture larger than the header says (heif_sps.c).
 */
#include "heif_sps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libheif/heif.h>

static fwc_status heif_failure(fwc_report *report, const char *name, struct heif_error error) {
    /* libheif's messages may span lines: one line, at most a message's length. */
    char text[160];
    snprintf(text, sizeof text, "%s",
             error.message != NULL && error.message[0] != '\0' ? error.message : "error");
    size_t end = strlen(text);
    for (size_t i = 0; i < end; i++)
        if ((unsigned char)text[i] < 0x20) text[i] = ' ';
    while (end > 0 && text[end - 1] == ' ') text[--end] = '\0';
    switch (error.code) {
    case heif_error_Memory_allocation_error:
        /* libheif reports a file that declares more than its security limits allow (an iloc box
         * of 2 GB) as an allocation error: that is the file's property, not the machine's memory,
         * and is never retried. */
        if (error.subcode == heif_suberror_Security_limit_exceeded)
            return fwc_fail(report, FWC_CORRUPT_IMAGE, "the %s declares more than it may (%s)", name, text);
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the %s (%s)", name,
                        text);
    case heif_error_Unsupported_filetype:
    case heif_error_Unsupported_feature:
        return fwc_fail(report, FWC_UNSUPPORTED_FORMAT, "unsupported kind of %s: %s", name, text);
    default: break;
    }
    if (error.subcode == heif_suberror_End_of_data)
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "truncated %s data (%s)", name, text);
    if (error.subcode == heif_suberror_Security_limit_exceeded)
        return fwc_fail(report, FWC_TOO_MANY_PIXELS, "%s exceeds libheif's limits: %s", name, text);
    return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt %s: %s", name, text);
}

typedef struct heif_job {
    struct heif_context *context;
    struct heif_image_handle *handle;
    struct heif_image *image;
    struct heif_decoding_options *options;
} heif_job;

static fwc_status check_size(const char *name, const char *what, int width, int height,
                             const fwc_limits *limits, fwc_report *report) {
    if (width <= 0 || height <= 0)
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "%s declares an empty %s (%dx%d)", name, what,
                        width, height);
    uint64_t pixels = (uint64_t)width * (uint64_t)height;
    if (pixels > limits->max_pixels)
        return fwc_fail(report, FWC_TOO_MANY_PIXELS,
                        "%s's %s is %dx%d = %llu pixels, over the limit of %llu", name, what, width,
                        height, (unsigned long long)pixels, (unsigned long long)limits->max_pixels);
    return FWC_OK;
}

static fwc_status heif_work(heif_job *job, const uint8_t *data, size_t size,
                            const fwc_limits *limits, const fwc_header *probed,
                            fwc_header *header, const fwc_output *output, fwc_report *report) {
    const char *name = fwc_format_name(header->format);
    job->context = heif_context_alloc();
    if (job->context == NULL)
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to read the %s", name);
    /* Tiles are decoded on the calling thread: the daemon runs one decode per worker already. */
    heif_context_set_max_decoding_threads(job->context, 0);
    struct heif_error error =
        heif_context_read_from_memory_without_copy(job->context, data, size, NULL);
    if (error.code != heif_error_Ok)
        return output == NULL ? fwc_bmff_probe_fallback(data, size, limits, header, report,
                                                        heif_failure(report, name, error))
                              : heif_failure(report, name, error);
    error = heif_context_get_primary_image_handle(job->context, &job->handle);
    if (error.code != heif_error_Ok) return heif_failure(report, name, error);

    /* The coded size first (what the decoder allocates), then the size after the transformations. */
    fwc_status status = check_size(name, "coded image", heif_image_handle_get_ispe_width(job->handle),
                                   heif_image_handle_get_ispe_height(job->handle), limits, report);
    if (status != FWC_OK) return status;
    int width = heif_image_handle_get_width(job->handle);
    int height = heif_image_handle_get_height(job->handle);
    if (width <= 0 || height <= 0)
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "%s declares an empty image (%dx%d)", name,
                        width, height);
    header->stored_width = (uint32_t)width;
    header->stored_height = (uint32_t)height;
    header->orientation = 1; /* irot/imir are applied by the decoder, EXIF is not (see above) */
    status = fwc_accept_header(header, limits, output, probed, report);
    if (status != FWC_OK || output == NULL) return status;

    status = fwc_heif_check_coded_sizes(data, size, limits, name, report);
    if (status != FWC_OK) return status;

    job->options = heif_decoding_options_alloc();
    if (job->options == NULL)
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the %s", name);
    job->options->convert_hdr_to_8bit = 1;
    error = heif_decode_image(job->handle, &job->image, heif_colorspace_RGB,
                              heif_chroma_interleaved_RGB, job->options);
    if (error.code != heif_error_Ok) return heif_failure(report, name, error);

    int stride = 0;
    const uint8_t *plane =
        heif_image_get_plane_readonly(job->image, heif_channel_interleaved, &stride);
    if (plane == NULL || heif_image_get_width(job->image, heif_channel_interleaved) != width ||
        heif_image_get_height(job->image, heif_channel_interleaved) != height ||
        heif_image_get_bits_per_pixel(job->image, heif_channel_interleaved) != 24 ||
        stride < width * 3)
        return fwc_fail(report, FWC_CORRUPT_IMAGE,
                        "corrupt %s: the decoded image is not the %dx%d 8-bit RGB its header says",
                        name, width, height);
    size_t row = (size_t)width * 3;
    for (int y = 0; y < height; y++)
        memcpy(output->rgb + (size_t)y * row, plane + (size_t)y * (size_t)stride, row);
    return FWC_OK;
}

fwc_status fwc_heif_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report) {
    heif_job job = {NULL, NULL, NULL, NULL};
    fwc_status status = heif_work(&job, data, size, limits, probed, header, output, report);
    if (job.image != NULL) heif_image_release(job.image);
    if (job.options != NULL) heif_decoding_options_free(job.options);
    if (job.handle != NULL) heif_image_handle_release(job.handle);
    if (job.context != NULL) heif_context_free(job.context);
    return status;
}
