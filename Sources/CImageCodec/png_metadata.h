/*
 * png_metadata.h - the EXIF orientation of a PNG (png_metadata.c).
 */
#ifndef FACEWATCH_CODEC_PNG_METADATA_H
#define FACEWATCH_CODEC_PNG_METADATA_H

#include "internal.h"

/** The orientation (1..8) Pillow's exif_transpose would apply to this PNG. Never fails. */
uint32_t fwc_png_orientation(const uint8_t *data, size_t size);

#endif
