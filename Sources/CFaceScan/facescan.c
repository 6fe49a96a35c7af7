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

// Face codes (int8) -------------------------------------------------------------------------------

/// Σ query[k] · row[k] over the 128 components, exactly, in int32: the plain C version.
static inline int32_t code_dot_plain(const uint8_t *query, const int8_t *row) {
    int32_t sum = 0;
    for (int k = 0; k < FWS_DIMENSIONS; k++) sum += (int32_t)query[k] * (int32_t)row[k];
    return sum;
}

static inline int32_t code_distance(int32_t query_norm, int32_t norm, int32_t sum, int32_t dot) {
    return query_norm + norm - 2 * dot + 2 * FWS_CODE_OFFSET * sum;
}

/// `fws_code_rows_within` in plain C for rows `first..<count`, appending to `out` after `found`.
static size_t code_rows_within_plain(const int8_t *rows, const int32_t *norms, const int32_t *sums, size_t first,
                                     size_t count, const uint8_t *query, int32_t query_norm, int32_t threshold,
                                     uint32_t *out, size_t found) {
    for (size_t r = first; r < count; r++) {
        int32_t dot = code_dot_plain(query, rows + r * FWS_DIMENSIONS);
        if (code_distance(query_norm, norms[r], sums[r], dot) <= threshold) out[found++] = (uint32_t)r;
    }
    return found;
}

#if defined(__AVX2__)

/// Eight int32 lanes whose total is Σ query[k] · row[k]. vpmaddubsw multiplies unsigned query bytes
/// (≤ 127) by signed row bytes (|x| ≤ 63) and adds pairs: |pair| ≤ 16,002, and two such sums stay
/// under int16's 32,767, so nothing saturates; vpmaddwd then widens to int32.
static inline __m256i code_dot_lanes(const uint8_t *query, const int8_t *row) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p0 = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)query),
                                      _mm256_loadu_si256((const __m256i *)row));
    __m256i p1 = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(query + 32)),
                                      _mm256_loadu_si256((const __m256i *)(row + 32)));
    __m256i p2 = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(query + 64)),
                                      _mm256_loadu_si256((const __m256i *)(row + 64)));
    __m256i p3 = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(query + 96)),
                                      _mm256_loadu_si256((const __m256i *)(row + 96)));
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(p0, p1), ones),
                            _mm256_madd_epi16(_mm256_add_epi16(p2, p3), ones));
}

/// The totals of eight vectors of eight int32 lanes, lane i holding the total of `v[i]`.
static inline __m256i totals8(const __m256i v[8]) {
    __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
    __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
    __m256i t2 = _mm256_hadd_epi32(v[4], v[5]);
    __m256i t3 = _mm256_hadd_epi32(v[6], v[7]);
    __m256i u0 = _mm256_hadd_epi32(t0, t1);
    __m256i u1 = _mm256_hadd_epi32(t2, t3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

size_t fws_code_rows_within(const int8_t *rows, const int32_t *norms, const int32_t *sums, size_t count,
                            const uint8_t *query, int32_t query_norm, int32_t threshold, uint32_t *out) {
    size_t found = 0;
    size_t r = 0;
    const __m256i qn = _mm256_set1_epi32(query_norm);
    const __m256i limit = _mm256_set1_epi32(threshold);
    for (; r + 8 <= count; r += 8) {
        __m256i lanes[8];
        for (int i = 0; i < 8; i++) lanes[i] = code_dot_lanes(query, rows + (r + i) * FWS_DIMENSIONS);
        __m256i dot = totals8(lanes);
        __m256i norm = _mm256_loadu_si256((const __m256i *)(norms + r));
        __m256i sum = _mm256_loadu_si256((const __m256i *)(sums + r));
        __m256i d = _mm256_add_epi32(_mm256_add_epi32(qn, norm),
                                     _mm256_sub_epi32(_mm256_slli_epi32(sum, 7), _mm256_slli_epi32(dot, 1)));
        int over = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(d, limit)));
        if (over != 0xFF) {
            for (int i = 0; i < 8; i++)
                if (!(over & (1 << i))) out[found++] = (uint32_t)(r + i);
        }
    }
    return code_rows_within_plain(rows, norms, sums, r, count, query, query_norm, threshold, out, found);
}

size_t fws_code_pairs_within(const int8_t *rows, const int32_t *norms, const int32_t *sums, size_t count,
                             const uint8_t *queries, const int32_t *query_norms, size_t query_count,
                             int32_t threshold, uint32_t *out_query, uint32_t *out_row) {
    if (query_count == 0) return 0;
    if (query_count > 8) query_count = 8;
    // Short blocks repeat their last query; those lanes are masked out.
    const uint8_t *q[8];
    int32_t qnorms[8];
    for (size_t i = 0; i < 8; i++) {
        size_t j = i < query_count ? i : query_count - 1;
        q[i] = queries + j * FWS_DIMENSIONS;
        qnorms[i] = query_norms[j];
    }
    const int ignored = 0xFF & ~((1 << query_count) - 1);
    const __m256i qn = _mm256_loadu_si256((const __m256i *)qnorms);
    const __m256i limit = _mm256_set1_epi32(threshold);
    size_t found = 0;
    for (size_t r = 0; r < count; r++) {
        const int8_t *row = rows + r * FWS_DIMENSIONS;
        __m256i lanes[8];
        for (int i = 0; i < 8; i++) lanes[i] = code_dot_lanes(q[i], row);
        __m256i dot = totals8(lanes);
        __m256i d = _mm256_add_epi32(
            _mm256_add_epi32(qn, _mm256_set1_epi32(norms[r])),
            _mm256_sub_epi32(_mm256_set1_epi32(sums[r] * 2 * FWS_CODE_OFFSET), _mm256_slli_epi32(dot, 1)));
        int over = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(d, limit))) | ignored;
        if (over != 0xFF) {
            for (int i = 0; i < 8; i++) {
                if (!(over & (1 << i))) {
                    out_query[found] = (uint32_t)i;
                    out_row[found++] = (uint32_t)r;
                }
            }
        }
    }
    return found;
}

#else

size_t fws_code_rows_within(const int8_t *rows, const int32_t *norms, const int32_t *sums, size_t count,
                            const uint8_t *query, int32_t query_norm, int32_t threshold, uint32_t *out) {
    return code_rows_within_plain(rows, norms, sums, 0, count, query, query_norm, threshold, out, 0);
}

size_t fws_code_pairs_within(const int8_t *rows, const int32_t *norms, const int32_t *sums, size_t count,
                             const uint8_t *queries, const int32_t *query_norms, size_t query_count,
                             int32_t threshold, uint32_t *out_query, uint32_t *out_row) {
    size_t found = 0;
    for (size_t r = 0; r < count; r++) {
        for (size_t i = 0; i < query_count && i < 8; i++) {
            int32_t dot = code_dot_plain(queries + i * FWS_DIMENSIONS, rows + r * FWS_DIMENSIONS);
            if (code_distance(query_norms[i], norms[r], sums[r], dot) <= threshold) {
                out_query[found] = (uint32_t)i;
                out_row[found++] = (uint32_t)r;
            }
        }
    }
    return found;
}

#endif

// The tile kernel (AVX-512 VNNI) ---------------------------------------------------------------------

void fws_code_tile_layout(const int8_t *rows, size_t count, uint8_t *out) {
    size_t groups = (count + 15) / 16;
    for (size_t g = 0; g < groups; g++) {
        uint8_t *group = out + g * 16 * FWS_DIMENSIONS;
        for (size_t lane = 0; lane < 16; lane++) {
            size_t r = g * 16 + lane;
            for (int k = 0; k < FWS_DIMENSIONS; k++) {
                int code = r < count ? rows[r * FWS_DIMENSIONS + k] : 0;
                group[(k / 4) * 64 + lane * 4 + k % 4] = (uint8_t)(code + FWS_CODE_OFFSET);
            }
        }
    }
}

#if defined(__AVX2__) && defined(__clang__)

int fws_code_tiles_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

/// vpdpbusd multiplies the rows' unsigned bytes (code + 64 ≤ 127) by the query's signed bytes and
/// adds each four products to an int32 lane, without saturation: lane r of accumulator i ends as
/// Σ (x + 64)·q = x·q + 64·Σq for row r and query i, and ‖q − x‖² = ‖q‖² + ‖x‖² − 2·that + 128·Σq.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
size_t fws_code_tile_pairs_within(const uint8_t *tile, const int32_t *norms, size_t count, const int8_t *queries,
                                  const int32_t *query_norms, const int32_t *query_sums, size_t query_count,
                                  int32_t threshold, uint32_t *out_query, uint32_t *out_row) {
    if (query_count == 0) return 0;
    if (query_count > 8) query_count = 8;
    // Short blocks repeat their last query; its extra accumulators are not read.
    const int8_t *q[8];
    for (size_t i = 0; i < 8; i++) q[i] = queries + (i < query_count ? i : query_count - 1) * FWS_DIMENSIONS;
    const __m512i limit = _mm512_set1_epi32(threshold);
    size_t found = 0;
    size_t groups = (count + 15) / 16;
    for (size_t g = 0; g < groups; g++) {
        const uint8_t *group = tile + g * 16 * FWS_DIMENSIONS;
        __m512i acc[8];
        for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_si512();
        for (int k = 0; k < FWS_DIMENSIONS / 4; k++) {
            __m512i r = _mm512_loadu_si512(group + k * 64);
            for (int i = 0; i < 8; i++) {
                int32_t four;
                __builtin_memcpy(&four, q[i] + k * 4, 4);
                acc[i] = _mm512_dpbusd_epi32(acc[i], r, _mm512_set1_epi32(four));
            }
        }
        size_t left = count - g * 16;
        __mmask16 present = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512i xn = _mm512_maskz_loadu_epi32(present, norms + g * 16);
        for (size_t i = 0; i < query_count; i++) {
            __m512i d = _mm512_add_epi32(
                xn, _mm512_set1_epi32(query_norms[i] + 2 * FWS_CODE_OFFSET * query_sums[i]));
            d = _mm512_sub_epi32(d, _mm512_slli_epi32(acc[i], 1));
            __mmask16 within = _mm512_mask_cmple_epi32_mask(present, d, limit);
            while (within) {
                int lane = __builtin_ctz(within);
                within &= within - 1;
                out_query[found] = (uint32_t)i;
                out_row[found++] = (uint32_t)(g * 16 + lane);
            }
        }
    }
    return found;
}

#else

int fws_code_tiles_supported(void) { return 0; }

size_t fws_code_tile_pairs_within(const uint8_t *tile, const int32_t *norms, size_t count, const int8_t *queries,
                                  const int32_t *query_norms, const int32_t *query_sums, size_t query_count,
                                  int32_t threshold, uint32_t *out_query, uint32_t *out_row) {
    (void)tile; (void)norms; (void)count; (void)queries; (void)query_norms; (void)query_sums;
    (void)query_count; (void)threshold; (void)out_query; (void)out_row;
    return 0;
}

#endif
