#ifndef FACESCAN_H
#define FACESCAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Number of float32 components of one face encoding (dlib's ResNet descriptor).
#define FWS_DIMENSIONS 128

/// Squared Euclidean distances, in float32, between `query` (128 floats) and each of `count`
/// contiguous rows of 128 floats at `rows`; writes `count` values to `out`. AVX2 when the build
/// allows it, plain C otherwise. The result is a filter: callers recompute the winners in double.
void fws_squared_distances(const float *rows, size_t count, const float *query, float *out);

/// The largest magnitude of a face code component (codes are int8 in [-FWS_CODE_LIMIT, FWS_CODE_LIMIT]).
#define FWS_CODE_LIMIT 63
/// What a query's code components are shifted by to make them unsigned (query bytes are code + 64).
#define FWS_CODE_OFFSET 64

/// Exact squared distances between int8 face codes, compared with a threshold. A code row is
/// FWS_DIMENSIONS int8 components in [-63, 63] with its squared norm `norms[i]` and its component
/// sum `sums[i]`; a query is FWS_DIMENSIONS unsigned bytes (its code + 64) with its code's squared
/// norm. All arithmetic is in int32 and exact: ‖q − x‖² = ‖q‖² + ‖x‖² − 2·Σ(q+64)·x + 128·Σx.
///
/// `fws_code_rows_within`: one query against `count` rows; writes the index of every row whose
/// squared code distance is ≤ `threshold` to `out` (room for `count`) and returns how many.
size_t fws_code_rows_within(const int8_t *rows, const int32_t *norms, const int32_t *sums, size_t count,
                            const uint8_t *query, int32_t query_norm, int32_t threshold, uint32_t *out);

/// `fws_code_pairs_within`: up to 8 queries (`query_count`, contiguous at `queries`) against
/// `count` rows; writes every pair within `threshold` as `out_query[k]` (0..<query_count) and
/// `out_row[k]` (room for query_count × count each) and returns how many.
size_t fws_code_pairs_within(const int8_t *rows, const int32_t *norms, const int32_t *sums, size_t count,
                             const uint8_t *queries, const int32_t *query_norms, size_t query_count,
                             int32_t threshold, uint32_t *out_query, uint32_t *out_row);

/// Whether this processor runs the tile kernel below (AVX-512 with VNNI); without it, callers use
/// `fws_code_pairs_within`.
int fws_code_tiles_supported(void);

/// Lays out `count` code rows for `fws_code_tile_pairs_within`: groups of 16 rows, each group as 32
/// blocks of 16 rows × 4 components, as unsigned bytes (code + 64); the last group is padded.
/// `out` has room for ⌈count / 16⌉ · 16 · FWS_DIMENSIONS bytes.
void fws_code_tile_layout(const int8_t *rows, size_t count, uint8_t *out);

/// Up to 8 queries (their signed codes, contiguous, with squared norms and component sums) against
/// `count` rows laid out by `fws_code_tile_layout` (with the rows' squared norms): writes every pair
/// whose exact squared code distance is ≤ `threshold` as `out_query[k]`, `out_row[k]` (room for
/// query_count × count each) and returns how many. Only when `fws_code_tiles_supported()`.
size_t fws_code_tile_pairs_within(const uint8_t *tile, const int32_t *norms, size_t count, const int8_t *queries,
                                  const int32_t *query_norms, const int32_t *query_sums, size_t query_count,
                                  int32_t threshold, uint32_t *out_query, uint32_t *out_row);

#ifdef __cplusplus
}
#endif

#endif
