// The detector's filter bank on a band of fhog rows (dlib: float_spatially_filter_image_separable,
// once per rank term, summed into the score image). dlib runs each term over whole planes, writing a
// full-plane scratch per term; here a band of rows goes through every term of every filter while it
// is in cache, and each term's row pass feeds its column pass through a ring of filter_rows scratch
// rows (a few KiB, in L1), so a row-pass row is used while it is still in cache.
//
// Reordered float sums (the one place the scanner departs from dlib's arithmetic, for speed): each
// pass is a chain of fused multiply-adds (one rounding per tap instead of two, two partial sums), and a
// term's column pass adds into the score as it goes. dlib instead keeps three partial sums of
// separately rounded products and adds the term's value to the score at the end. The scores therefore
// differ from dlib's in the last bits (docs/ARCHITECTURE.md and the README state the bound the tests
// enforce); the boxes are identical on every set the tests and the golden set cover. This file alone
// uses FMA (the target attribute below); every other step keeps dlib's rounding.
#include "hog_detector.h"

#include <immintrin.h>

#include <cstring>

#define FWHOG_FMA __attribute__((target("avx2,fma")))

namespace fwhog {
namespace {

// Lanes [0, min(left, 8)) on: a masked load or store touches only the row's own columns.
FWHOG_FMA inline __m256i tail_mask(long left) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left < 8 ? left : 8)), lanes);
}

// One row pass row: out[c] = sum_n in[c - first_col + n] * taps[n] for c in [first_col, last_col).
// N > 0: the tap count known at compile time (taps stay in registers); N == 0: any count.
template <int N>
FWHOG_FMA void row_pass_row(const float *in, const float *taps, long n_taps, long first_col, long last_col,
                            float *out) {
    const long count = N > 0 ? N : n_taps;
    __m256 tv[N > 0 ? N : 1];
    if constexpr (N > 0) {
        for (int n = 0; n < N; ++n) tv[n] = _mm256_set1_ps(taps[n]);
    }
    auto tap = [&](long n) { return N > 0 ? tv[n] : _mm256_set1_ps(taps[n]); };
    long c = first_col;
    for (; c + 16 <= last_col; c += 16) {
        const float *p = in + (c - first_col);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
        long n = 0;
        for (; n + 1 < count; n += 2) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + n), tap(n), a0);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8 + n), tap(n), b0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + n + 1), tap(n + 1), a1);
            b1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8 + n + 1), tap(n + 1), b1);
        }
        if (n < count) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + n), tap(n), a0);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8 + n), tap(n), b0);
        }
        _mm256_storeu_ps(out + c, _mm256_add_ps(a0, a1));
        _mm256_storeu_ps(out + c + 8, _mm256_add_ps(b0, b1));
    }
    // The last columns, up to 8 at a time with masked loads and stores (never past the row).
    for (; c < last_col; c += 8) {
        const __m256i mask = tail_mask(last_col - c);
        const float *p = in + (c - first_col);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        long n = 0;
        for (; n + 1 < count; n += 2) {
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(p + n, mask), tap(n), a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(p + n + 1, mask), tap(n + 1), a1);
        }
        if (n < count) a0 = _mm256_fmadd_ps(_mm256_maskload_ps(p + n, mask), tap(n), a0);
        _mm256_maskstore_ps(out + c, mask, _mm256_add_ps(a0, a1));
    }
}

// One column pass row: dst[c] (+)= sum_m rows[m][c] * taps[m] for c in [first_col, last_col).
template <int N>
FWHOG_FMA void column_pass_row(const float *const *rows, const float *taps, long n_taps, long first_col,
                               long last_col, float *dst, bool add) {
    const long count = N > 0 ? N : n_taps;
    __m256 tv[N > 0 ? N : 1];
    if constexpr (N > 0) {
        for (int m = 0; m < N; ++m) tv[m] = _mm256_set1_ps(taps[m]);
    }
    auto tap = [&](long m) { return N > 0 ? tv[m] : _mm256_set1_ps(taps[m]); };
    long c = first_col;
    for (; c + 16 <= last_col; c += 16) {
        __m256 a0 = add ? _mm256_loadu_ps(dst + c) : _mm256_setzero_ps();
        __m256 b0 = add ? _mm256_loadu_ps(dst + c + 8) : _mm256_setzero_ps();
        __m256 a1 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
        long m = 0;
        for (; m + 1 < count; m += 2) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows[m] + c), tap(m), a0);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows[m] + c + 8), tap(m), b0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(rows[m + 1] + c), tap(m + 1), a1);
            b1 = _mm256_fmadd_ps(_mm256_loadu_ps(rows[m + 1] + c + 8), tap(m + 1), b1);
        }
        if (m < count) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows[m] + c), tap(m), a0);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows[m] + c + 8), tap(m), b0);
        }
        _mm256_storeu_ps(dst + c, _mm256_add_ps(a0, a1));
        _mm256_storeu_ps(dst + c + 8, _mm256_add_ps(b0, b1));
    }
    for (; c < last_col; c += 8) {
        const __m256i mask = tail_mask(last_col - c);
        __m256 a0 = add ? _mm256_maskload_ps(dst + c, mask) : _mm256_setzero_ps();
        __m256 a1 = _mm256_setzero_ps();
        long m = 0;
        for (; m + 1 < count; m += 2) {
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(rows[m] + c, mask), tap(m), a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(rows[m + 1] + c, mask), tap(m + 1), a1);
        }
        if (m < count) a0 = _mm256_fmadd_ps(_mm256_maskload_ps(rows[m] + c, mask), tap(m), a0);
        _mm256_maskstore_ps(dst + c, mask, _mm256_add_ps(a0, a1));
    }
}

using row_pass_fn = void (*)(const float *, const float *, long, long, long, float *);
using column_pass_fn = void (*)(const float *const *, const float *, long, long, long, float *, bool);

// dlib's frontal face detector has 10 × 10 filters; other sizes take the generic loops.
row_pass_fn row_pass_for(size_t taps) { return taps == 10 ? row_pass_row<10> : row_pass_row<0>; }
column_pass_fn column_pass_for(size_t taps) { return taps == 10 ? column_pass_row<10> : column_pass_row<0>; }

}  // namespace

filter_bank_band::filter_bank_band(const model &m, long plane_rows, long plane_cols, long band_rows)
    : model_(m), plane_rows_(plane_rows), plane_cols_(plane_cols),
      filter_rows_(m.filter_rows), filter_cols_(m.filter_cols) {
    (void)band_rows;
    first_row_ = filter_rows_ / 2;
    first_col_ = filter_cols_ / 2;
    last_row_ = plane_rows - (filter_rows_ - 1) / 2;
    last_col_ = plane_cols - (filter_cols_ - 1) / 2;
    // The ring: one scratch row per column tap (a row pass row is read by filter_rows column rows).
    scratch_.assign(static_cast<size_t>(filter_rows_) * static_cast<size_t>(plane_cols), 0.0f);
    window_.assign(static_cast<size_t>(filter_rows_), nullptr);
    scores_.assign(m.filters.size(),
                   std::vector<float>(static_cast<size_t>(band_rows) * static_cast<size_t>(plane_cols), 0.0f));
    by_plane_.assign(31, std::vector<std::vector<const separable_term *>>(m.filters.size()));
    for (size_t f = 0; f < m.filters.size(); ++f) {
        for (const separable_term &term : m.filters[f].terms) by_plane_[static_cast<size_t>(term.plane)][f].push_back(&term);
    }
}

void filter_bank_band::apply_term(const float *plane, const separable_term &term, long rows, float *out, bool add) {
    const size_t cols = static_cast<size_t>(plane_cols_);
    const long ring = filter_rows_;
    const row_pass_fn row_pass = row_pass_for(term.row.size());
    const column_pass_fn column_pass = column_pass_for(term.col.size());
    const long n_row = static_cast<long>(term.row.size()), n_col = static_cast<long>(term.col.size());
    const float **window = window_.data();
    // dlib's zero border rows (plane rows before pad_top or from pad_bottom on) give a row pass of
    // +0 everywhere (each chain starts at +0 and adds only zero products), written directly.
    const long pad_top = (filter_rows_ - 1) / 2, pad_bottom = plane_rows_ - filter_rows_ / 2;
    const long plane_first = band_first_ - first_row_;  // the plane row at i = 0
    // Row i of the row pass goes to ring slot i mod ring; column row r reads slots r, r + 1, ...
    // (mod ring), counted without a division per slot.
    long slot = 0;
    for (long i = 0; i < rows + ring - 1; ++i) {
        float *scratch_row = scratch_.data() + static_cast<size_t>(slot) * cols;
        if (plane_first + i < pad_top || plane_first + i >= pad_bottom) {
            std::memset(scratch_row + first_col_, 0, sizeof(float) * static_cast<size_t>(last_col_ - first_col_));
        } else {
            row_pass(plane + static_cast<size_t>(i) * cols, term.row.data(), n_row, first_col_, last_col_, scratch_row);
        }
        slot = slot + 1 == ring ? 0 : slot + 1;
        const long r = i - (ring - 1);
        if (r < 0) continue;
        // The oldest row in the ring is the one the next row pass overwrites: slot.
        long m_slot = slot;
        for (long m = 0; m < ring; ++m) {
            window[m] = scratch_.data() + static_cast<size_t>(m_slot) * cols;
            m_slot = m_slot + 1 == ring ? 0 : m_slot + 1;
        }
        column_pass(window, term.col.data(), n_col, first_col_, last_col_, out + static_cast<size_t>(r) * cols, add);
    }
}

void filter_bank_band::apply(const float *planes, size_t stride, long r0, long r1) {
    band_first_ = r0;
    const long rows = r1 - r0;
    std::vector<bool> started(model_.filters.size(), false);
    for (size_t p = 0; p < 31; ++p) {
        const float *plane = planes + p * stride;
        for (size_t f = 0; f < model_.filters.size(); ++f) {
            for (const separable_term *term : by_plane_[p][f]) {
                apply_term(plane, *term, rows, scores_[f].data(), started[f]);
                started[f] = true;
            }
        }
    }
    // A filter with no terms scores 0 everywhere (dlib: an all-zero score image).
    for (size_t f = 0; f < model_.filters.size(); ++f) {
        if (!started[f]) std::memset(scores_[f].data(), 0, sizeof(float) * static_cast<size_t>(rows) * static_cast<size_t>(plane_cols_));
    }
}

}  // namespace fwhog
