#ifndef FACESCAN_H
#define FACESCAN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Number of float32 components of one face encoding (dlib's ResNet descriptor).
#define FWS_DIMENSIONS 128

/// Squared Euclidean distances, in float32, between `query` (128 floats) and each of `count`
/// contiguous rows of 128 floats at `rows`; writes `count` values to `out`. AVX2 when the build
/// allows it, plain C otherwise. The result is a filter: callers recompute the winners in double.
void fws_squared_distances(const float *rows, size_t count, const float *query, float *out);

#ifdef __cplusplus
}
#endif

#endif
