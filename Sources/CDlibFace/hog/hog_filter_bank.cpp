// The detector's filter bank on a band of fhog rows (dlib: float_spatially_filter_image_separable,
// once per rank term, summed into the score image). dlib runs each term over whole planes, writing a
// full-plane scratch per term; here a band of rows goes through every term of every filter while it
// is in cache. The arithmetic of each output is dlib's: the row pass and the column pass each keep
// three partial sums (taps n, n+1, n+2, the leftover taps on the first) in 8-lane vectors on dlib's
// vector columns and one running sum on its scalar columns, and terms are added in dlib's order.
#include "hog_detector.h"

#include <immintrin.h>

#include <cstring>

namespace fwhog {

filter_bank_band::filter_bank_band(const model &m, long plane_rows, long plane_cols, long band_rows)
    : model_(m), plane_rows_(plane_rows), plane_cols_(plane_cols),
      filter_rows_(m.filter_rows), filter_cols_(m.filter_cols) {
    first_row_ = filter_rows_ / 2;
    first_col_ = filter_cols_ / 2;
    last_row_ = plane_rows - (filter_rows_ - 1) / 2;
    last_col_ = plane_cols - (filter_cols_ - 1) / 2;
    scratch_.assign(static_cast<size_t>(band_rows + filter_rows_ - 1) * static_cast<size_t>(plane_cols), 0.0f);
    scores_.assign(m.filters.size(),
                   std::vector<float>(static_cast<size_t>(band_rows) * static_cast<size_t>(plane_cols), 0.0f));
    by_plane_.assign(31, std::vector<std::vector<const separable_term *>>(m.filters.size()));
    for (size_t f = 0; f < m.filters.size(); ++f) {
        for (const separable_term &term : m.filters[f].terms) by_plane_[static_cast<size_t>(term.plane)][f].push_back(&term);
    }
}

void filter_bank_band::row_pass(const float *plane, const std::vector<float> &taps, long rows) {
    const long n_taps = static_cast<long>(taps.size());
    for (long r = 0; r < rows; ++r) {
        const float *in = plane + static_cast<size_t>(r) * static_cast<size_t>(plane_cols_);
        float *out = scratch_.data() + static_cast<size_t>(r) * static_cast<size_t>(plane_cols_);
        long c = first_col_;
        for (; c < last_col_ - 7; c += 8) {
            __m256 t1 = _mm256_setzero_ps(), t2 = _mm256_setzero_ps(), t3 = _mm256_setzero_ps();
            const float *p = in + (c - first_col_);
            long n = 0;
            for (; n < n_taps - 2; n += 3) {
                t1 = _mm256_add_ps(t1, _mm256_mul_ps(_mm256_loadu_ps(p + n), _mm256_set1_ps(taps[static_cast<size_t>(n)])));
                t2 = _mm256_add_ps(t2, _mm256_mul_ps(_mm256_loadu_ps(p + n + 1), _mm256_set1_ps(taps[static_cast<size_t>(n + 1)])));
                t3 = _mm256_add_ps(t3, _mm256_mul_ps(_mm256_loadu_ps(p + n + 2), _mm256_set1_ps(taps[static_cast<size_t>(n + 2)])));
            }
            for (; n < n_taps; ++n) {
                t1 = _mm256_add_ps(t1, _mm256_mul_ps(_mm256_loadu_ps(p + n), _mm256_set1_ps(taps[static_cast<size_t>(n)])));
            }
            _mm256_storeu_ps(out + c, _mm256_add_ps(t1, _mm256_add_ps(t2, t3)));
        }
        for (; c < last_col_; ++c) {
            float sum = 0;
            for (long n = 0; n < n_taps; ++n) sum += in[c - first_col_ + n] * taps[static_cast<size_t>(n)];
            out[c] = sum;
        }
    }
}

void filter_bank_band::column_pass(const std::vector<float> &taps, long rows, float *out, bool add) {
    const long n_taps = static_cast<long>(taps.size());
    const size_t cols = static_cast<size_t>(plane_cols_);
    for (long r = 0; r < rows; ++r) {
        const float *base = scratch_.data() + static_cast<size_t>(r) * cols;
        float *dst = out + static_cast<size_t>(r) * cols;
        long c = first_col_;
        for (; c < last_col_ - 7; c += 8) {
            __m256 t1 = _mm256_setzero_ps(), t2 = _mm256_setzero_ps(), t3 = _mm256_setzero_ps();
            long m = 0;
            for (; m < n_taps - 2; m += 3) {
                t1 = _mm256_add_ps(t1, _mm256_mul_ps(_mm256_loadu_ps(base + m * cols + c), _mm256_set1_ps(taps[static_cast<size_t>(m)])));
                t2 = _mm256_add_ps(t2, _mm256_mul_ps(_mm256_loadu_ps(base + (m + 1) * cols + c), _mm256_set1_ps(taps[static_cast<size_t>(m + 1)])));
                t3 = _mm256_add_ps(t3, _mm256_mul_ps(_mm256_loadu_ps(base + (m + 2) * cols + c), _mm256_set1_ps(taps[static_cast<size_t>(m + 2)])));
            }
            for (; m < n_taps; ++m) {
                t1 = _mm256_add_ps(t1, _mm256_mul_ps(_mm256_loadu_ps(base + m * cols + c), _mm256_set1_ps(taps[static_cast<size_t>(m)])));
            }
            __m256 value = _mm256_add_ps(t1, _mm256_add_ps(t2, t3));
            if (add) value = _mm256_add_ps(value, _mm256_loadu_ps(dst + c));
            _mm256_storeu_ps(dst + c, value);
        }
        for (; c < last_col_; ++c) {
            float sum = 0;
            for (long m = 0; m < n_taps; ++m) sum += base[static_cast<size_t>(m) * cols + static_cast<size_t>(c)] * taps[static_cast<size_t>(m)];
            dst[c] = add ? dst[c] + sum : sum;
        }
    }
}

void filter_bank_band::apply(const float *planes, size_t stride, long r0, long r1) {
    band_first_ = r0;
    const long rows = r1 - r0;
    const long in_rows = rows + filter_rows_ - 1;
    std::vector<bool> started(model_.filters.size(), false);
    for (size_t p = 0; p < 31; ++p) {
        const float *plane = planes + p * stride;
        for (size_t f = 0; f < model_.filters.size(); ++f) {
            for (const separable_term *term : by_plane_[p][f]) {
                row_pass(plane, term->row, in_rows);
                column_pass(term->col, rows, scores_[f].data(), started[f]);
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
