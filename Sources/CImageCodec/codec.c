/*
 * codec.c - the public entry points: limits, sniffing, dispatch to the JPEG, PNG, WebP and
 * HEIF/AVIF readers.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

fwc_status fwc_fail(fwc_report *report, fwc_status status, const char *format, ...) {
    if (report->status != FWC_OK) return report->status; /* the first failure is the cause */
    report->status = status;
    va_list args;
    va_start(args, format);
    vsnprintf(report->message, sizeof report->message, format, args);
    va_end(args);
    return status;
}

fwc_status fwc_accept_header(fwc_header *header, const fwc_limits *limits,
                             const fwc_output *output, const fwc_header *probed,
                             fwc_report *report) {
    const char *name = fwc_format_name(header->format);
    uint32_t sw = header->stored_width, sh = header->stored_height;
    if (probed != NULL && (probed->stored_width != sw || probed->stored_height != sh))
        return fwc_fail(report, FWC_BAD_ARGUMENT,
                        "the probed header (%ux%u) is not this %s's (%ux%u)",
                        (unsigned)probed->stored_width, (unsigned)probed->stored_height, name,
                        (unsigned)sw, (unsigned)sh);
    if (sw == 0 || sh == 0)
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "%s declares an empty image (%ux%u)", name,
                        (unsigned)sw, (unsigned)sh);
    uint64_t pixels = (uint64_t)sw * sh;
    if (pixels > limits->max_pixels)
        return fwc_fail(report, FWC_TOO_MANY_PIXELS,
                        "%s is %ux%u = %llu pixels, over the limit of %llu", name, (unsigned)sw,
                        (unsigned)sh, (unsigned long long)pixels,
                        (unsigned long long)limits->max_pixels);
    if (pixels > SIZE_MAX / 3)
        return fwc_fail(report, FWC_TOO_MANY_PIXELS,
                        "%s is %ux%u = %llu pixels, too many to address in memory", name,
                        (unsigned)sw, (unsigned)sh, (unsigned long long)pixels);
    fwc_oriented_size(header->orientation, sw, sh, &header->width, &header->height);
    if (output != NULL && output->size != (size_t)pixels * 3)
        return fwc_fail(report, FWC_BAD_ARGUMENT,
                        "the output buffer has %zu bytes, the %ux%u image needs %llu",
                        output->size, (unsigned)header->width, (unsigned)header->height,
                        (unsigned long long)pixels * 3);
    return FWC_OK;
}

static fwc_status read_image(const uint8_t *data, size_t size, fwc_limits limits,
                             const fwc_header *probed, fwc_header *header, uint8_t *rgb,
                             size_t rgb_size, fwc_report *report) {
    memset(header, 0, sizeof *header);
    header->orientation = 1;
    if (size == 0) return fwc_fail(report, FWC_EMPTY_FILE, "the file is empty (0 bytes)");
    if (data == NULL) return fwc_fail(report, FWC_BAD_ARGUMENT, "no data pointer given");
    if (size > limits.max_bytes)
        return fwc_fail(report, FWC_TOO_LARGE, "the file is %llu bytes, over the limit of %llu",
                        (unsigned long long)size, (unsigned long long)limits.max_bytes);

    fwc_format format = fwc_sniff(data, size);
    header->format = format;
    if (probed != NULL && probed->format != format)
        return fwc_fail(report, FWC_BAD_ARGUMENT, "the probed header is not this file's (%s, not %s)",
                        fwc_format_name(probed->format), fwc_format_name(format));
    fwc_output output = {rgb, rgb_size};
    fwc_output *out = rgb != NULL ? &output : NULL;
    switch (format) {
    case FWC_FORMAT_JPEG: return fwc_jpeg_read(data, size, &limits, probed, header, out, report);
    case FWC_FORMAT_PNG: return fwc_png_read(data, size, &limits, probed, header, out, report);
    case FWC_FORMAT_WEBP: return fwc_webp_read(data, size, &limits, probed, header, out, report);
    case FWC_FORMAT_HEIF: return fwc_heif_read(data, size, &limits, probed, header, out, report);
    case FWC_FORMAT_AVIF: return fwc_avif_read(data, size, &limits, probed, header, out, report);
    case FWC_FORMAT_UNKNOWN:
        return fwc_fail(report, FWC_NOT_AN_IMAGE,
                        "not an image: the content has no JPEG, PNG or other known image signature");
    default:
        return fwc_fail(report, FWC_UNSUPPORTED_FORMAT,
                        "%s images are not supported (JPEG, PNG, WebP, HEIF/HEIC and AVIF are)",
                        fwc_format_name(format));
    }
}

static void copy_message(const fwc_report *report, char *message, size_t capacity) {
    if (message == NULL || capacity == 0) return;
    if (report->status == FWC_OK) {
        message[0] = '\0';
        return;
    }
    snprintf(message, capacity, "%s", report->message);
}

fwc_status fwc_probe(const uint8_t *data, size_t size, fwc_limits limits, fwc_header *header,
                     char *message, size_t message_capacity) {
    fwc_report report = {FWC_OK, {0}};
    fwc_header local;
    fwc_status status =
        read_image(data, size, limits, NULL, header ? header : &local, NULL, 0, &report);
    copy_message(&report, message, message_capacity);
    return status;
}

fwc_status fwc_decode(const uint8_t *data, size_t size, fwc_limits limits, uint8_t *rgb,
                      size_t rgb_size, fwc_header *header, char *message,
                      size_t message_capacity) {
    fwc_report report = {FWC_OK, {0}};
    fwc_header local;
    fwc_status status;
    if (rgb == NULL)
        status = fwc_fail(&report, FWC_BAD_ARGUMENT, "no output buffer given");
    else
        status = read_image(data, size, limits, NULL, header ? header : &local, rgb, rgb_size,
                            &report);
    copy_message(&report, message, message_capacity);
    return status;
}

fwc_status fwc_decode_probed(const uint8_t *data, size_t size, fwc_limits limits,
                             const fwc_header *probed, uint8_t *rgb, size_t rgb_size,
                             fwc_header *header, char *message, size_t message_capacity) {
    fwc_report report = {FWC_OK, {0}};
    fwc_header local;
    fwc_status status;
    if (rgb == NULL)
        status = fwc_fail(&report, FWC_BAD_ARGUMENT, "no output buffer given");
    else if (probed == NULL)
        status = fwc_fail(&report, FWC_BAD_ARGUMENT, "no probed header given");
    else if (probed->orientation < 1 || probed->orientation > 8)
        status = fwc_fail(&report, FWC_BAD_ARGUMENT, "the probed header has orientation %u",
                          (unsigned)probed->orientation);
    else {
        /* Copied first: header may point at the same struct as probed. */
        fwc_header given = *probed;
        status = read_image(data, size, limits, &given, header ? header : &local, rgb, rgb_size,
                            &report);
    }
    copy_message(&report, message, message_capacity);
    return status;
}
