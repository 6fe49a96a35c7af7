/*
 * heif_sps.h - sizes in HEIF and AVIF files read without libheif or libavif (heif_sps.c).
 */
#ifndef FACEWATCH_CODEC_HEIF_SPS_H
#define FACEWATCH_CODEC_HEIF_SPS_H

#include "internal.h"

/**
 * Finds every HEVC decoder configuration box (hvcC) in the file and reads the picture size of each
 * sequence parameter set it holds: more pixels than limits->max_pixels is FWC_TOO_MANY_PIXELS, so
 * that a file whose header (ispe) says small cannot make libde265 allocate a large picture. A box
 * that cannot be parsed is left to libheif. Never reads outside [data, data + size).
 */
fwc_status fwc_heif_check_coded_sizes(const uint8_t *data, size_t size, const fwc_limits *limits,
                                      const char *name, fwc_report *report);

/**
 * The largest image size an ispe box in the first `size` bytes declares, for a file whose boxes
 * cannot all be read (only its first bytes are at hand: the memory budget's look at a header).
 * Returns 1 and sets *width, *height when there is one, else 0.
 */
int fwc_bmff_largest_ispe(const uint8_t *data, size_t size, uint32_t *width, uint32_t *height);

/**
 * fwc_probe's answer for a HEIF or AVIF file whose boxes could not all be read (`failure`, already
 * reported): when an ispe box gives a size (fwc_bmff_largest_ispe), the failure is withdrawn and the
 * header holds that size (orientation 1), checked against the limits; decoding the file then fails
 * with the parser's error. The header of a file's first bytes is what the memory budget needs.
 */
fwc_status fwc_bmff_probe_fallback(const uint8_t *data, size_t size, const fwc_limits *limits,
                                   fwc_header *header, fwc_report *report, fwc_status failure);

/**
 * The luma size of an HEVC sequence parameter set NAL unit (with its 2-byte header, emulation
 * prevention bytes included). Returns 1 and sets *width, *height when it could be read, else 0.
 */
int fwc_hevc_sps_size(const uint8_t *nal, size_t size, uint32_t *width, uint32_t *height);

#endif
