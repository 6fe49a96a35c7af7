/*
 * hog_stage_checks.h: each stage of facewatch's HOG scanner against the same stage of dlib on the
 * same input, for the tests. Every function returns how many output values differ (0: identical),
 * or how far apart they are for the histogram and the filter bank (whose sums are reordered), or -1
 * when the stage could not run (out of memory, an exception inside dlib). No C++ crosses.
 */
#ifndef FACEWATCH_HOG_STAGE_CHECKS_H
#define FACEWATCH_HOG_STAGE_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bilinear resize of an RGB image (width*height*3 bytes) to out_width x out_height: bytes that differ. */
long hsc_resize_differences(const uint8_t *rgb, int32_t width, int32_t height, int32_t out_width, int32_t out_height);

/** pyramid_up's and pyramid_down<6>'s output sizes: 0 when both agree with dlib, else 1. */
long hsc_pyramid_size_differences(int32_t width, int32_t height);

/** The 31 fhog planes (cell 8, padded for the detector's 10 x 10 filters), computed band by band of
 *  `band_rows` rows: the largest absolute difference from dlib's planes (the histogram's sums are
 *  reordered), HUGE_VAL when the plane sizes differ, or -1. */
double hsc_fhog_max_difference(const uint8_t *rgb, int32_t width, int32_t height, int32_t band_rows);

/** The same fhog planes computed in bands of `band_rows` and in bands of `other_band_rows`: values
 *  that differ, compared bit for bit (a feature must not depend on the band it was computed in). */
long hsc_fhog_band_differences(const uint8_t *rgb, int32_t width, int32_t height, int32_t band_rows,
                               int32_t other_band_rows);

/** The score images of the frontal face detector's 5 filters over the fhog planes of the image,
 *  computed band by band: the largest absolute difference from dlib's scores (the filter bank's sums
 *  are FMA chains, dlib's are not), or -1. */
double hsc_filter_score_max_difference(const uint8_t *rgb, int32_t width, int32_t height, int32_t band_rows);

/** The same score images computed in bands of `band_rows` and in bands of `other_band_rows`: scores
 *  that differ, compared bit for bit (a score must not depend on the band it was computed in). */
long hsc_filter_score_band_differences(const uint8_t *rgb, int32_t width, int32_t height, int32_t band_rows,
                                       int32_t other_band_rows);

/** facewatch's CNN detector's tiled input pyramid of the image doubled `upsample` times (made row by
 *  row, keeping at most `store_limit` bytes of it whole; SIZE_MAX: the detector's own limit) against
 *  dlib's input_rgb_image_pyramid::to_tensor of dlib's pyramid_up of it: values that differ, compared
 *  bit for bit (LONG_MAX when the sizes or the level layout differ), -2 where dlib's layout puts a
 *  level partly outside its tensor (some tiny images: to_tensor would write outside it), or -1. */
long hsc_cnn_pyramid_differences(const uint8_t *rgb, int32_t width, int32_t height, int32_t upsample,
                                 size_t store_limit);

#ifdef __cplusplus
}
#endif

#endif
