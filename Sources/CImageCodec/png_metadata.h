/*
 * png_metadata.h - the EXIF orientation of a PNG and Pillow's limits on its text (png_metadata.c).
 */
#ifndef FACEWATCH_CODEC_PNG_METADATA_H
#define FACEWATCH_CODEC_PNG_METADATA_H

#include "internal.h"

/**
 * Reads the metadata chunks once: sets *orientation (1..8) to what Pillow's exif_transpose would
 * apply, or fails with FWC_CORRUPT_IMAGE where Pillow refuses the file because of its text chunks
 * (one inflating past 1 MB, more than 64 MB in all, a zTXt of unknown compression method).
 */
fwc_status fwc_png_metadata(const uint8_t *data, size_t size, uint32_t *orientation,
                            fwc_report *report);

#endif
