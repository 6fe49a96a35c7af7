/*
 * png_metadata.h - the EXIF orientation of a PNG and Pillow's limits on its metadata
 * (png_metadata.c).
 */
#ifndef FACEWATCH_CODEC_PNG_METADATA_H
#define FACEWATCH_CODEC_PNG_METADATA_H

#include "internal.h"

/**
 * Reads the metadata chunks once: sets *orientation (1..8) to what Pillow's exif_transpose would
 * apply, or fails with FWC_CORRUPT_IMAGE where Pillow refuses the file because of its metadata
 * (a text chunk or ICC profile inflating past 1 MB, more than 64 MB of text in all, an unknown
 * compression method, an iCCP chunk too short to hold one).
 */
fwc_status fwc_png_metadata(const uint8_t *data, size_t size, uint32_t *orientation,
                            fwc_report *report);

#endif
