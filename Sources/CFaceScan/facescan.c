#include "facescan.h"

#if defined(__AVX2__)
#include <immintrin.h>

/// Sum of the eight lanes of `v`.
static inline float horizontal_sum(__m256 v) {
    __m128 low = _mm256_castps256_ps128(v);
    __m128 high = _mm256_extractf128_ps(v, 1);
    __m128 sum = _mm_add_ps(low, high);
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_shuffle_ps(sum, sum, 0x55));
    return _mm_cvtss_f32(sum);
}

void fws_squared_distances(const float *rows, size_t count, const float *query, float *out) {
    __m256 q[FWS_DIMENSIONS / 8];
    for (int i = 0; i < FWS_DIMENSIONS / 8; i++) q[i] = _mm256_loadu_ps(query + 8 * i);
    for (size_t r = 0; r < count; r++) {
        const float *row = rows + r * FWS_DIMENSIONS;
        // Four accumulators hide the latency of the multiply-adds.
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
        for (int i = 0; i < FWS_DIMENSIONS / 8; i += 4) {
            __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(row + 8 * i), q[i]);
            __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(row + 8 * i + 8), q[i + 1]);
            __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(row + 8 * i + 16), q[i + 2]);
            __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(row + 8 * i + 24), q[i + 3]);
            acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(d0, d0));
            acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(d1, d1));
            acc2 = _mm256_add_ps(acc2, _mm256_mul_ps(d2, d2));
            acc3 = _mm256_add_ps(acc3, _mm256_mul_ps(d3, d3));
        }
        out[r] = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    }
}

#else

void fws_squared_distances(const float *rows, size_t count, const float *query, float *out) {
    for (size_t r = 0; r < count; r++) {
        const float *row = rows + r * FWS_DIMENSIONS;
        float sum = 0;
        for (int i = 0; i < FWS_DIMENSIONS; i++) {
            float d = row[i] - query[i];
            sum += d * d;
        }
        out[r] = sum;
    }
}

#endif
