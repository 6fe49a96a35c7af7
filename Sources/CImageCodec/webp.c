/*
 * webp.c - WebP (lossy VP8, lossless VP8L, extended VP8X with alpha, animation and metadata)
 * through libwebp, as Pillow's WebP plugin reads it.
 *
 * Pillow opens every WebP with libwebp's WebPAnimDecoder and shows its first frame: the canvas
 * (VP8X's size, else the bitstream's) starts transparent black and the first frame is decoded into
 * it at its offset, unblended (the first frame is always a key frame). convert("RGB") then drops
 * the alpha channel, never blends it. Here the first frame is decoded the same way, straight into
 * RGB (libwebp's MODE_RGB gives the colour samples of RGBA without alpha), so the pixels are the
 * same: VP8/VP8L decoding and libwebp's YUV->RGB with fancy upsampling are fixed by the library.
 *
 * The header (size, frames) is read by WebPDemux, which only walks the RIFF chunks, before any
 * pixel memory is allocated. EXIF ("EXIF" chunk) and XMP ("XMP " chunk) give the orientation as for
 * JPEG: they are read in place, so metadata costs no memory. A damaged or truncated file fails as
 * Pillow fails it: WebPDemux refuses incomplete files, and libwebp refuses a bitstream that ends
 * early.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

static const char *vp8_status_text(VP8StatusCode status) {
    switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
    case VP8_STATUS_OK: break;
    }
    return "no error";
}

/* The orientation from the EXIF and XMP chunks, as for JPEG: EXIF first, XMP as Pillow's fallback. */
static uint32_t read_orientation(WebPDemuxer *demux) {
    WebPChunkIterator chunk;
    int value = FWC_EXIF_ABSENT;
    if (WebPDemuxGetChunk(demux, "EXIF", 1, &chunk)) {
        if (chunk.chunk.size > 0) value = fwc_exif_orientation(chunk.chunk.bytes, chunk.chunk.size);
        WebPDemuxReleaseChunkIterator(&chunk);
    }
    if (value == FWC_EXIF_ABSENT && WebPDemuxGetChunk(demux, "XMP ", 1, &chunk)) {
        value = fwc_xmp_orientation(chunk.chunk.bytes, chunk.chunk.size);
        WebPDemuxReleaseChunkIterator(&chunk);
    }
    return fwc_effective_orientation(value);
}

/* Decodes one frame's bitstream into `rgb` (stride bytes per row), which holds exactly its rows. */
static fwc_status decode_frame(const uint8_t *bytes, size_t size, uint8_t *rgb, size_t stride,
                               uint32_t width, uint32_t height, fwc_report *report) {
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config))
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "WebP: libwebp version mismatch");
    VP8StatusCode status = WebPGetFeatures(bytes, size, &config.input);
    if (status != VP8_STATUS_OK)
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt WebP: %s in the first frame",
                        vp8_status_text(status));
    if ((uint32_t)config.input.width != width || (uint32_t)config.input.height != height)
        return fwc_fail(report, FWC_CORRUPT_IMAGE,
                        "corrupt WebP: the first frame's bitstream is %dx%d, its header says %ux%u",
                        config.input.width, config.input.height, (unsigned)width, (unsigned)height);
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = rgb;
    config.output.u.RGBA.stride = (int)stride;
    config.output.u.RGBA.size = stride * (height - 1) + (size_t)width * 3;
    status = WebPDecode(bytes, size, &config);
    WebPFreeDecBuffer(&config.output); /* external memory: frees nothing of ours */
    if (status == VP8_STATUS_OK) return FWC_OK;
    if (status == VP8_STATUS_OUT_OF_MEMORY)
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the WebP");
    if (status == VP8_STATUS_NOT_ENOUGH_DATA)
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "truncated WebP data");
    return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt WebP: %s", vp8_status_text(status));
}

static fwc_status webp_work(WebPDemuxer *demux, int complete, const fwc_limits *limits,
                            const fwc_header *probed, fwc_header *header, const fwc_output *output,
                            fwc_report *report) {
    uint32_t width = WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH);
    uint32_t height = WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
    header->stored_width = width;
    header->stored_height = height;
    header->orientation = probed != NULL ? probed->orientation : read_orientation(demux);
    fwc_status status = fwc_accept_header(header, limits, output, probed, report);
    if (status != FWC_OK) return status;
    if (!complete) {
        /* Only the first bytes of a file (the memory budget's look at a header): the size is known. */
        if (output == NULL) return FWC_OK;
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "truncated WebP data");
    }

    WebPIterator frame;
    if (!WebPDemuxGetFrame(demux, 1, &frame))
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt WebP: no image frame");
    /* The demuxer checked that the frame lies inside the canvas; checked again, cheaply. */
    uint32_t fx = (uint32_t)frame.x_offset, fy = (uint32_t)frame.y_offset;
    uint32_t fw = (uint32_t)frame.width, fh = (uint32_t)frame.height;
    if (frame.x_offset < 0 || frame.y_offset < 0 || fw == 0 || fh == 0 || fx > width ||
        fw > width - fx || fy > height || fh > height - fy) {
        WebPDemuxReleaseIterator(&frame);
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt WebP: the first frame is outside the canvas");
    }
    if (output == NULL) {
        WebPDemuxReleaseIterator(&frame);
        return FWC_OK;
    }

    /* Orientation 1: straight into the output. Otherwise into a stored-size image, then placed. */
    uint32_t orientation = header->orientation;
    size_t stride = (size_t)width * 3;
    uint8_t *canvas = output->rgb;
    if (orientation != 1) {
        canvas = malloc(stride * height);
        if (canvas == NULL) {
            WebPDemuxReleaseIterator(&frame);
            return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the WebP");
        }
    }
    if (fw != width || fh != height) memset(canvas, 0, stride * height); /* transparent black */
    status = decode_frame(frame.fragment.bytes, frame.fragment.size,
                          canvas + (size_t)fy * stride + (size_t)fx * 3, stride, fw, fh, report);
    WebPDemuxReleaseIterator(&frame);
    if (status == FWC_OK && orientation != 1) {
        fwc_orient_rows(output->rgb, width, height, orientation, canvas, stride, 0, height);
    }
    if (canvas != output->rgb) free(canvas);
    return status;
}

fwc_status fwc_webp_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report) {
    /* Pillow accepts a RIFF/WEBP file only when its first chunk is VP8, VP8L or VP8X. */
    if (size < 16 || (memcmp(data + 12, "VP8 ", 4) != 0 && memcmp(data + 12, "VP8L", 4) != 0 &&
                      memcmp(data + 12, "VP8X", 4) != 0))
        return fwc_fail(report, FWC_CORRUPT_IMAGE,
                        "corrupt WebP: the first chunk is not VP8, VP8L or VP8X");
    WebPData input = {data, size};
    WebPDemuxState state = WEBP_DEMUX_PARSE_ERROR;
    /* Partial: a file cut short still tells its size (WebPDemux would refuse it); decoding then
     * needs every chunk (state DONE), as Pillow's WebPAnimDecoder does. */
    WebPDemuxer *demux = WebPDemuxPartial(&input, &state);
    if (demux == NULL || state < WEBP_DEMUX_PARSED_HEADER) {
        WebPDemuxDelete(demux);
        return fwc_fail(report, FWC_CORRUPT_IMAGE,
                        state == WEBP_DEMUX_PARSE_ERROR ? "corrupt WebP: invalid RIFF chunks"
                                                        : "truncated WebP data");
    }
    fwc_status status =
        webp_work(demux, state == WEBP_DEMUX_DONE, limits, probed, header, output, report);
    WebPDemuxDelete(demux);
    return status;
}
