/*
 * avif.c - AVIF through libavif (with dav1d), as Pillow's own AVIF plugin reads it.
 *
 * Pillow decodes with libavif's defaults (automatic chroma upsampling, libyuv where it applies) to
 * 8-bit RGB, drops alpha in convert("RGB"), and turns the rotation and mirroring boxes (irot, imir)
 * into an EXIF Orientation that replaces the file's own, which ImageOps.exif_transpose then applies.
 * The same is done here: the pixels are libavif's (AV1 decoding is exact, and the conversion is the
 * same library's), irot/imir give the orientation, the EXIF Orientation is not read. The clean
 * aperture (clap) is not applied, as by Pillow; its validation is off, as in Pillow, and so is the
 * requirement for a pixi box (libheif before 1.12 wrote none).
 *
 * Limits before pixels: avifDecoderParse reads the boxes (nothing outside the file) and gives the
 * size from ispe before anything is decoded; libavif's imageSizeLimit, which libavif also hands to
 * dav1d as its frame size limit, is set to the pixel limit, so a coded frame larger than the header
 * is refused by the decoder before it allocates the frame.
 */
#include "heif_sps.h"

#include <stdlib.h>
#include <string.h>

#include <avif/avif.h>

static fwc_status avif_failure(fwc_report *report, avifResult result, const char *what) {
    const char *text = avifResultToString(result);
    switch (result) {
    case AVIF_RESULT_OUT_OF_MEMORY:
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the AVIF (%s)", text);
    case AVIF_RESULT_TRUNCATED_DATA:
    case AVIF_RESULT_IO_ERROR:
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "truncated AVIF data (%s: %s)", what, text);
    case AVIF_RESULT_NO_CODEC_AVAILABLE:
    case AVIF_RESULT_NOT_IMPLEMENTED:
    case AVIF_RESULT_UNSUPPORTED_DEPTH:
        return fwc_fail(report, FWC_UNSUPPORTED_FORMAT, "unsupported kind of AVIF: %s", text);
    default:
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt AVIF: %s: %s", what, text);
    }
}

/* The EXIF orientation that irot/imir amount to, as Pillow's AVIF plugin (and libavif) map them. */
static uint32_t irot_imir_orientation(const avifImage *image) {
    int irot = (image->transformFlags & AVIF_TRANSFORM_IROT) != 0;
    int imir = (image->transformFlags & AVIF_TRANSFORM_IMIR) != 0;
    unsigned angle = irot ? image->irot.angle & 3u : 0; /* quarter turns anti-clockwise */
    unsigned axis = image->imir.mode & 1u;             /* 1: left and right swapped */
    static const uint8_t plain[4] = {1, 8, 3, 6};
    static const uint8_t mirrored[2][4] = {{4, 5, 2, 7}, {2, 7, 4, 5}};
    return imir ? mirrored[axis][angle] : plain[angle];
}

static fwc_status avif_work(avifDecoder *decoder, const uint8_t *data, size_t size,
                            const fwc_limits *limits, const fwc_header *probed,
                            fwc_header *header, const fwc_output *output, fwc_report *report) {
    decoder->maxThreads = 1;
    decoder->strictFlags &= ~(avifStrictFlags)(AVIF_STRICT_CLAP_VALID | AVIF_STRICT_PIXI_REQUIRED);
    decoder->ignoreExif = AVIF_TRUE; /* irot/imir give the orientation; nothing else is needed */
    decoder->ignoreXMP = AVIF_TRUE;
    /* dav1d, whose frame size limit libavif sets from imageSizeLimit (below). */
    decoder->codecChoice = AVIF_CODEC_CHOICE_DAV1D;
    avifResult result = avifDecoderSetIOMemory(decoder, data, size);
    if (result != AVIF_RESULT_OK) return avif_failure(report, result, "reading");
    result = avifDecoderParse(decoder);
    if (result != AVIF_RESULT_OK)
        return output == NULL ? fwc_bmff_probe_fallback(data, size, limits, header, report,
                                                        avif_failure(report, result, "reading the header"))
                              : avif_failure(report, result, "reading the header");
    avifImage *image = decoder->image;
    header->stored_width = image->width;
    header->stored_height = image->height;
    header->orientation = probed != NULL ? probed->orientation : irot_imir_orientation(image);
    fwc_status status = fwc_accept_header(header, limits, output, probed, report);
    if (status != FWC_OK || output == NULL) return status;

    /* The header's size is within the limit; a coded frame must be too (libavif passes this to dav1d
     * when it creates the decoder, in avifDecoderNextImage). */
    uint64_t limit = (uint64_t)header->stored_width * header->stored_height;
    if (limit < decoder->imageSizeLimit) decoder->imageSizeLimit = (uint32_t)limit;
    result = avifDecoderNextImage(decoder);
    if (result != AVIF_RESULT_OK) return avif_failure(report, result, "decoding");
    image = decoder->image;
    if (image->width != header->stored_width || image->height != header->stored_height)
        return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt AVIF: the decoded image is %ux%u, not %ux%u",
                        (unsigned)image->width, (unsigned)image->height,
                        (unsigned)header->stored_width, (unsigned)header->stored_height);

    uint32_t width = image->width, height = image->height;
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, image);
    rgb.depth = 8;
    rgb.format = AVIF_RGB_FORMAT_RGB;
    rgb.rowBytes = width * 3;
    /* Orientation 1: straight into the output. Otherwise into a stored-size image, then placed. */
    size_t bytes = (size_t)width * height * 3;
    uint8_t *stored = header->orientation == 1 ? output->rgb : malloc(bytes);
    if (stored == NULL)
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the AVIF");
    rgb.pixels = stored;
    result = avifImageYUVToRGB(image, &rgb);
    if (result != AVIF_RESULT_OK)
        status = avif_failure(report, result, "converting to RGB");
    else if (stored != output->rgb)
        fwc_orient_rows(output->rgb, width, height, header->orientation, stored, rgb.rowBytes, 0,
                        height);
    if (stored != output->rgb) free(stored);
    return status;
}

fwc_status fwc_avif_read(const uint8_t *data, size_t size, const fwc_limits *limits,
                         const fwc_header *probed, fwc_header *header, const fwc_output *output,
                         fwc_report *report) {
    avifDecoder *decoder = avifDecoderCreate();
    if (decoder == NULL)
        return fwc_fail(report, FWC_OUT_OF_MEMORY, "not enough memory to decode the AVIF");
    fwc_status status = avif_work(decoder, data, size, limits, probed, header, output, report);
    avifDecoderDestroy(decoder);
    return status;
}
