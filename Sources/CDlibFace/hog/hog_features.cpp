// fhog features (dlib's extract_fhog_features, cell size 8, RGB input) for a band of plane rows at a
// time, so a level's 31 planes never exist whole. dlib computes the gradient of 8 pixels at a time in
// SIMD lanes and the last pixels of a row in scalar code, and the two may pick a different colour on
// a tie: each pixel here takes the path dlib takes for its column, so every pixel's gradient,
// magnitude and orientation are dlib's. The histogram alone adds in another order (histogram()):
// features differ from dlib's in the last bits (HOGStageTests bounds them), and they depend only on
// the image, never on the band they are computed in.
#include "hog_detector.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace fwhog {
namespace {

constexpr int kCell = 8;
constexpr int kBins = 18;

// dlib's unit vectors for the 9 orientations, as floats.
constexpr float kDirX[9] = {1.0000f, 0.9397f, 0.7660f, 0.500f, 0.1736f, -0.1736f, -0.5000f, -0.7660f, -0.9397f};
constexpr float kDirY[9] = {0.0000f, 0.3420f, 0.6428f, 0.8660f, 0.9848f, 0.9848f, 0.8660f, 0.6428f, 0.3420f};

// The votes of pixels [from, from + count) of one pixel row into that row's cell histogram: pixel x
// adds its left-cell weight to bin at[k] (k = x - from) and its right-cell weight to the next column,
// at[k] + 1, both with one 64-bit read-modify-write (weights[2k], weights[2k + 1]). The pixels of a
// block (x in [8b - 4, 8b + 3]) share their two cells, and neighbouring pixels mostly share an
// orientation, so pixel after pixel would chain the adds through memory on one pair; and blocks b and
// b + 1 share a cell, so their pairs overlap by one float, which a store cannot forward to the next
// load. Here the blocks of even b go first, then the odd ones, and within each the first pixel of
// every block, then the second, and so on: consecutive adds land on pairs that do not overlap, and
// the adds of a chain are a range's blocks apart.
inline void vote_range(float *row, long from, int count, const int32_t *at, const float *weights) {
    const long first_block = (from + 4) / 8, last_block = (from + count - 1 + 4) / 8;
    for (long parity = 0; parity < 2; ++parity) {
        const long start = first_block + ((first_block + parity) & 1);
        for (long phase = 0; phase < 8; ++phase) {
            for (long b = start; b <= last_block; b += 2) {
                const long k = 8 * b - 4 + phase - from;
                if (k < 0 || k >= count) continue;
                double *pair = reinterpret_cast<double *>(row + at[k]);
                const __m128 sum = _mm_add_ps(_mm_castpd_ps(_mm_load_sd(pair)),
                                              _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double *>(weights + 2 * k))));
                _mm_store_sd(pair, _mm_castps_pd(sum));
            }
        }
    }
}

// The cell rows of one or two pixel rows (`rows`, each `count` floats, one after the other) into
// their histogram rows: first[i] += sum over the rows r of first_weight[r] * votes[r][i], and the
// same into second when it is not null; then the cell rows are cleared. Two pixel rows of a group
// share their histogram rows, so one pass serves both.
template <int Rows>
inline void add_weighted(float *first, const float *first_weight, float *second, const float *second_weight,
                         float *votes, size_t count) {
    __m256 w1[Rows], w2[Rows];
    for (int r = 0; r < Rows; ++r) {
        w1[r] = _mm256_set1_ps(first_weight[r]);
        w2[r] = _mm256_set1_ps(second != nullptr ? second_weight[r] : 0.0f);
    }
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v[Rows];
        for (int r = 0; r < Rows; ++r) {
            v[r] = _mm256_loadu_ps(votes + static_cast<size_t>(r) * count + i);
            _mm256_storeu_ps(votes + static_cast<size_t>(r) * count + i, _mm256_setzero_ps());
        }
        __m256 a = _mm256_mul_ps(w1[0], v[0]);
        for (int r = 1; r < Rows; ++r) a = _mm256_add_ps(a, _mm256_mul_ps(w1[r], v[r]));
        _mm256_storeu_ps(first + i, _mm256_add_ps(_mm256_loadu_ps(first + i), a));
        if (second != nullptr) {
            __m256 b = _mm256_mul_ps(w2[0], v[0]);
            for (int r = 1; r < Rows; ++r) b = _mm256_add_ps(b, _mm256_mul_ps(w2[r], v[r]));
            _mm256_storeu_ps(second + i, _mm256_add_ps(_mm256_loadu_ps(second + i), b));
        }
    }
    for (; i < count; ++i) {
        float a = first_weight[0] * votes[i];
        for (int r = 1; r < Rows; ++r) a += first_weight[r] * votes[static_cast<size_t>(r) * count + i];
        first[i] += a;
        if (second != nullptr) {
            float b = second_weight[0] * votes[i];
            for (int r = 1; r < Rows; ++r) b += second_weight[r] * votes[static_cast<size_t>(r) * count + i];
            second[i] += b;
        }
        for (int r = 0; r < Rows; ++r) votes[static_cast<size_t>(r) * count + i] = 0.0f;
    }
}

// dlib's orientation of a gradient: of the 9 unit vectors, the one whose dot product with the
// gradient has the largest magnitude (the first one on a tie), o when the dot product is positive and
// o + 9 when it is negative; 0 for a zero gradient. Float arithmetic exactly as dlib's loop.
int dlib_orientation(float grad_x, float grad_y) {
    float best_dot = 0;
    int best_o = 0;
    for (int o = 0; o < 9; ++o) {
        const float dot = kDirX[o] * grad_x + kDirY[o] * grad_y;
        if (dot > best_dot) {
            best_dot = dot;
            best_o = o;
        } else if (-dot > best_dot) {
            best_dot = -dot;
            best_o = o + 9;
        }
    }
    return best_o;
}

// The orientation of every gradient a pixel can have (both components in -255..255, 8-bit colour
// differences), computed once by dlib's loop: entry (grad_y << kTableShift) + grad_x + kTableCentre.
// The 8-lane loop looks its lanes' orientations up with one gather instead of nine dot products and
// comparisons per lane. 256 KiB, shared by every scanner in the process.
constexpr int kTableShift = 9;
constexpr int kTableCentre = (255 << kTableShift) + 255;

const std::vector<uint8_t> &orientations() {
    static const std::vector<uint8_t> table = [] {
        // Three bytes more: the gather reads 32 bits from an entry.
        std::vector<uint8_t> t(static_cast<size_t>(kTableCentre) * 2 + 1 + 3, 0);
        for (int gy = -255; gy <= 255; ++gy) {
            for (int gx = -255; gx <= 255; ++gx) {
                t[static_cast<size_t>((gy << kTableShift) + gx + kTableCentre)] =
                    static_cast<uint8_t>(dlib_orientation(static_cast<float>(gx), static_cast<float>(gy)));
            }
        }
        return t;
    }();
    return table;
}

// Pixels voted together: 16 blocks, 8 of each parity, so the adds of one chain are 8 adds apart.
constexpr int kVoteRange = 128;

}  // namespace

fhog_rows::fhog_rows(long image_width, long image_height, int filter_rows, int filter_cols, scratch_pool *pool)
    : width_(image_width), height_(image_height),
      pad_rows_offset_((filter_rows - 1) / 2), pad_cols_offset_((filter_cols - 1) / 2),
      own_pool_(pool == nullptr ? std::make_unique<scratch_pool>(0) : nullptr),
      pool_(pool == nullptr ? own_pool_.get() : pool) {
    cells_nr_ = static_cast<int>(static_cast<float>(image_height) / static_cast<float>(kCell) + 0.5);
    cells_nc_ = static_cast<int>(static_cast<float>(image_width) / static_cast<float>(kCell) + 0.5);
    if (cells_nr_ == 0 || cells_nc_ == 0) return;
    hog_nr_ = std::max(cells_nr_ - 2, 0);
    hog_nc_ = std::max(cells_nc_ - 2, 0);
    if (hog_nr_ == 0 || hog_nc_ == 0) return;
    plane_rows_ = hog_nr_ + filter_rows - 1;
    plane_cols_ = hog_nc_ + filter_cols - 1;
    visible_nr_ = static_cast<int>(std::min(static_cast<long>(cells_nr_) * kCell, image_height) - 1);
    visible_nc_ = static_cast<int>(std::min(static_cast<long>(cells_nc_) * kCell, image_width) - 1);

    // dlib's 8-lane loop covers x = 1, 9, ... while x < visible_nc - 7; its per-column values.
    int x = 1;
    while (x < visible_nc_ - 7) x += 8;
    simd_end_ = x;
    // The 8-lane loop reads columns x - 1 .. x + 8 for x < simd_end.
    grad_stride_ = static_cast<size_t>(simd_end_) + 8;
    for (auto &slot : planar_) slot.assign(3 * grad_stride_, 0);
    cell_at_.assign(static_cast<size_t>(simd_end_), 0);
    vx0_.assign(static_cast<size_t>(simd_end_), 0.0f);
    vx1_.assign(static_cast<size_t>(simd_end_), 0.0f);
    // A range's pixels: fewer than kVoteRange + 8 (the 8-lane loop votes once a range reaches
    // kVoteRange; the scalar tail adds at most 7).
    vote_at_.assign(kVoteRange + 16, 0);
    vote_weights_.assign(2 * vote_at_.size(), 0.0f);
    for (int xk = 1; xk < simd_end_; ++xk) {
        const float xp = (static_cast<float>(xk) + 0.5f) / static_cast<float>(kCell) + 0.5f;
        const int ixp = static_cast<int>(xp);
        cell_at_[static_cast<size_t>(xk)] = ixp;
        vx0_[static_cast<size_t>(xk)] = xp - static_cast<float>(ixp);
        vx1_[static_cast<size_t>(xk)] = 1.0f - vx0_[static_cast<size_t>(xk)];
    }
}

long fhog_rows::lookback(long band_rows) const {
    return static_cast<long>(kCell) * (band_rows + 6) + 2 * kCell;
}

long fhog_rows::first_image_row(long first) const {
    // As histogram() computes it for hist_first = hog_first + 1; it reads from the row above.
    const long hog_first = std::min<long>(std::max<long>(first - pad_rows_offset_, 0), hog_nr_);
    return std::max<long>(1, kCell * (hog_first + 1 - 2)) - 1;
}

void fhog_rows::compute(row_source &src, long first, long last, float *out, size_t stride) {
    const long cols = plane_cols_;
    const long hog_first = std::min<long>(std::max<long>(first - pad_rows_offset_, 0), hog_nr_);
    const long hog_last = std::max<long>(std::min<long>(last - pad_rows_offset_, hog_nr_), hog_first);
    // dlib's zero border: whole rows above and below the features, and the columns left and right of
    // them on feature rows (features() writes the rest).
    const long feature_from = hog_first + pad_rows_offset_, feature_to = hog_last + pad_rows_offset_;
    for (int p = 0; p < 31; ++p) {
        float *plane = out + static_cast<size_t>(p) * stride;
        for (long r = first; r < last; ++r) {
            float *row = plane + static_cast<size_t>(r - first) * static_cast<size_t>(cols);
            if (r < feature_from || r >= feature_to) {
                std::memset(row, 0, sizeof(float) * static_cast<size_t>(cols));
            } else {
                std::memset(row, 0, sizeof(float) * static_cast<size_t>(pad_cols_offset_));
                std::memset(row + pad_cols_offset_ + hog_nc_, 0,
                            sizeof(float) * static_cast<size_t>(cols - pad_cols_offset_ - hog_nc_));
            }
        }
    }
    if (hog_first >= hog_last) return;
    // Feature row y reads norm rows y..y+2, which read histogram rows y+1..y+3 (padded indices).
    histogram(src, hog_first + 1, hog_last + 3);
    for (long y = hog_first; y < hog_last; ++y) features(y, out, stride, y + pad_rows_offset_ - first);
}

void fhog_rows::histogram(row_source &src, long hist_first, long hist_last) {
    const long hist_cols = cells_nc_ + 2;
    const size_t row_size = static_cast<size_t>(hist_cols) * kBins;
    hist_first_ = hist_first;
    const size_t hist_bytes = static_cast<size_t>(hist_last - hist_first) * row_size * sizeof(float);
    if (hist_block_.size() < hist_bytes) {
        hist_block_ = scratch_pool::block();
        hist_block_ = pool_->take(hist_bytes);
    }
    hist_ = hist_block_.floats();
    std::memset(hist_, 0, hist_bytes);
    row_votes_.assign(2 * row_size, 0.0f);
    // A histogram row holds its columns' bins orientation by orientation: bin o of column c at
    // o * hist_cols + c, so 8 neighbouring cells' bin o are one vector load for the features.
    auto bin = [&](long hist_row, long hist_col) -> float * {
        return hist_ + static_cast<size_t>(hist_row - hist_first) * row_size + static_cast<size_t>(hist_col);
    };
    int32_t *const vote_at = vote_at_.data();
    float *const vote_weights = vote_weights_.data();
    float *const row_votes = row_votes_.data();

    // Pixel row y votes into histogram rows iyp+1 and iyp+2; only rows in [hist_first, hist_last)
    // are kept. dlib adds each pixel's four products v * vx * vy to the four bins in raster order;
    // here a pixel row's votes v * vx go to one row of cells first (one pair of adds per pixel),
    // and that row is added, times vy1 and vy0, to the two histogram rows: the same sum in another
    // order and rounding (docs/ARCHITECTURE.md). A histogram row depends only on its pixel rows, not
    // on the band it is computed for.
    const long y_begin = std::max<long>(1, kCell * (hist_first - 2));
    const long y_end = std::min<long>(visible_nr_, kCell * hist_last);
    // A pixel row whose cell row waits for the next row's, to go into their histogram rows together:
    // rows 2k and 2k + 1 of a group of 8 (the rows with the same iyp). The pairs depend only on the
    // rows, not on the band, so neither do the sums.
    bool waiting = false;
    float waiting_vy0 = 0, waiting_vy1 = 0;
    for (long y = y_begin; y < y_end; ++y) {
        const float yp = static_cast<float>((static_cast<float>(y) + 0.5) / static_cast<float>(kCell) - 0.5);
        const int iyp = static_cast<int>(std::floor(yp));
        const bool upper = iyp + 1 >= hist_first && iyp + 1 < hist_last;
        const bool lower = iyp + 2 >= hist_first && iyp + 2 < hist_last;
        if (!upper && !lower) continue;
        const float vy0 = yp - iyp;
        const float vy1 = static_cast<float>(1.0 - vy0);
        float *const votes = waiting ? row_votes + row_size : row_votes;
        const uint8_t *above = src.row(y - 1);
        const uint8_t *here = src.row(y);
        const uint8_t *below = src.row(y + 1);

        int voted = 1;  // pixels [1, voted) of the row have voted
        int x = 1;
        // dlib's 8-lane loop: the gradient of the strongest colour (ties as dlib's select breaks
        // them), its orientation and horizontal weights in AVX lanes; votes by ranges of pixels.
        const int simd_end = simd_end_;
        const size_t grad_stride = grad_stride_;
        const uint8_t *p_above = planar_row(src, y - 1);
        const uint8_t *p_here = planar_row(src, y);
        const uint8_t *p_below = planar_row(src, y + 1);
        const float *const cell_vx0 = vx0_.data();
        const float *const cell_vx1 = vx1_.data();
        const int32_t *const cell_at = cell_at_.data();
        const int *const table = reinterpret_cast<const int *>(orientations().data());
        const __m256i table_centre = _mm256_set1_epi32(kTableCentre);
        const __m256i byte_mask = _mm256_set1_epi32(0xff);
        const __m256i hist_cols_v = _mm256_set1_epi32(static_cast<int>(hist_cols));
        for (; x < simd_end; x += 8) {
            auto load = [&](const uint8_t *row, int ch, int at) {
                return _mm256_cvtepu8_epi32(
                    _mm_loadl_epi64(reinterpret_cast<const __m128i *>(row + static_cast<size_t>(ch) * grad_stride + at)));
            };
            auto dx = [&](int ch) { return _mm256_sub_epi32(load(p_here, ch, x + 1), load(p_here, ch, x - 1)); };
            auto dy = [&](int ch) { return _mm256_sub_epi32(load(p_below, ch, x), load(p_above, ch, x)); };
            const __m256i rx = dx(0), ry = dy(0), gxv = dx(1), gyv = dy(1), bx = dx(2), by = dy(2);
            const __m256i rlen = _mm256_add_epi32(_mm256_mullo_epi32(rx, rx), _mm256_mullo_epi32(ry, ry));
            const __m256i glen = _mm256_add_epi32(_mm256_mullo_epi32(gxv, gxv), _mm256_mullo_epi32(gyv, gyv));
            const __m256i blen = _mm256_add_epi32(_mm256_mullo_epi32(bx, bx), _mm256_mullo_epi32(by, by));
            __m256i cmp = _mm256_cmpgt_epi32(rlen, glen);
            const __m256i tx = _mm256_blendv_epi8(gxv, rx, cmp);
            const __m256i ty = _mm256_blendv_epi8(gyv, ry, cmp);
            const __m256i tl = _mm256_blendv_epi8(glen, rlen, cmp);
            cmp = _mm256_cmpgt_epi32(tl, blen);
            const __m256i grad_x = _mm256_blendv_epi8(bx, tx, cmp);
            const __m256i grad_y = _mm256_blendv_epi8(by, ty, cmp);
            const __m256 v = _mm256_sqrt_ps(_mm256_cvtepi32_ps(_mm256_blendv_epi8(blen, tl, cmp)));
            // The orientation dlib's loop finds for this gradient, from the table of all of them.
            const __m256i at = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(grad_y, kTableShift), grad_x), table_centre);
            const __m256i best_o = _mm256_and_si256(_mm256_i32gather_epi32(table, at, 1), byte_mask);
            // The weights of each lane's left and right cell and the bin (its left cell's offset plus
            // its orientation), voted by range.
            const int k = x - voted;
            {
                // Left and right weights interleaved (the unpacks interleave within 128-bit halves,
                // the permutes put the halves in pixel order).
                const __m256 left = _mm256_mul_ps(_mm256_loadu_ps(cell_vx1 + x), v);
                const __m256 right = _mm256_mul_ps(_mm256_loadu_ps(cell_vx0 + x), v);
                const __m256 low = _mm256_unpacklo_ps(left, right), high = _mm256_unpackhi_ps(left, right);
                _mm256_storeu_ps(vote_weights + 2 * k, _mm256_permute2f128_ps(low, high, 0x20));
                _mm256_storeu_ps(vote_weights + 2 * k + 8, _mm256_permute2f128_ps(low, high, 0x31));
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(vote_at + k),
                                _mm256_add_epi32(_mm256_mullo_epi32(best_o, hist_cols_v),
                                                 _mm256_loadu_si256(reinterpret_cast<const __m256i *>(cell_at + x))));
            if (x + 8 - voted >= kVoteRange) {
                vote_range(votes, voted, x + 8 - voted, vote_at, vote_weights);
                voted = x + 8;
            }
        }
        // dlib's scalar loop for the last columns.
        for (; x < visible_nc_; ++x) {
            float grad_x = static_cast<float>(static_cast<int>(here[(x + 1) * 3]) - static_cast<int>(here[(x - 1) * 3]));
            float grad_y = static_cast<float>(static_cast<int>(below[x * 3]) - static_cast<int>(above[x * 3]));
            float len = grad_x * grad_x + grad_y * grad_y;
            for (int ch = 1; ch < 3; ++ch) {
                const float gx = static_cast<float>(static_cast<int>(here[(x + 1) * 3 + ch]) -
                                                    static_cast<int>(here[(x - 1) * 3 + ch]));
                const float gy = static_cast<float>(static_cast<int>(below[x * 3 + ch]) - static_cast<int>(above[x * 3 + ch]));
                const float l = gx * gx + gy * gy;
                if (l > len) {
                    len = l;
                    grad_x = gx;
                    grad_y = gy;
                }
            }
            const int best_o = dlib_orientation(grad_x, grad_y);
            const float v = std::sqrt(len);
            const float xp = static_cast<float>((static_cast<double>(x) + 0.5) / static_cast<double>(kCell) - 0.5);
            const int ixp = static_cast<int>(std::floor(xp));
            const float vx0 = xp - ixp;
            const float vx1 = static_cast<float>(1.0 - vx0);
            const size_t at = static_cast<size_t>(x - voted);
            vote_at[at] = best_o * static_cast<int>(hist_cols) + (ixp + 1);
            vote_weights[2 * at] = vx1 * v;
            vote_weights[2 * at + 1] = vx0 * v;
        }
        vote_range(votes, voted, visible_nc_ - voted, vote_at, vote_weights);

        // The row of cells into its two histogram rows, weighted by vy1 and vy0, and cleared; an even
        // row of its group waits for the odd one after it (which has the same histogram rows).
        const long in_group = y - (kCell * iyp + kCell / 2);
        if (!waiting && in_group % 2 == 0 && y + 1 < y_end) {
            waiting = true;
            waiting_vy0 = vy0;
            waiting_vy1 = vy1;
            continue;
        }
        const float up_weights[2] = {waiting ? waiting_vy1 : vy1, vy1};
        const float low_weights[2] = {waiting ? waiting_vy0 : vy0, vy0};
        float *const up_row = upper ? bin(iyp + 1, 0) : bin(iyp + 2, 0);
        const float *const up_w = upper ? up_weights : low_weights;
        float *const low_row = upper && lower ? bin(iyp + 2, 0) : nullptr;
        if (waiting) {
            add_weighted<2>(up_row, up_w, low_row, low_weights, row_votes, row_size);
        } else {
            add_weighted<1>(up_row, up_w, low_row, low_weights, row_votes, row_size);
        }
        waiting = false;
    }

    // Block energy: norm row n is histogram row n+1 summed over the 9 contrast-insensitive pairs.
    const long norm_first = hist_first - 1;
    const long norm_rows = hist_last - hist_first;
    norm_.assign(static_cast<size_t>(norm_rows) * cells_nc_, 0.0f);
    const size_t plane = static_cast<size_t>(hist_cols);
    for (long n = norm_first; n < norm_first + norm_rows; ++n) {
        if (n < 0 || n >= cells_nr_) continue;
        float *norm_row = norm_.data() + static_cast<size_t>(n - norm_first) * cells_nc_;
        // dlib's sum for each cell, 8 cells at a time (the same operations in the same order per lane).
        int c = 0;
        for (; c + 8 <= cells_nc_; c += 8) {
            const float *h = bin(n + 1, c + 1);
            __m256 sum = _mm256_setzero_ps();
            for (int o = 0; o < 9; ++o) {
                const __m256 pair = _mm256_add_ps(_mm256_loadu_ps(h + o * plane), _mm256_loadu_ps(h + (o + 9) * plane));
                sum = _mm256_add_ps(sum, _mm256_mul_ps(pair, pair));
            }
            _mm256_storeu_ps(norm_row + c, sum);
        }
        for (; c < cells_nc_; ++c) {
            const float *h = bin(n + 1, c + 1);
            float sum = 0;
            for (int o = 0; o < 9; ++o) sum += (h[o * plane] + h[(o + 9) * plane]) * (h[o * plane] + h[(o + 9) * plane]);
            norm_row[c] = sum;
        }
    }
}

const uint8_t *fhog_rows::planar_row(row_source &src, long y) {
    // Rows y - 1, y and y + 1 always sit in different slots.
    const int slot = static_cast<int>(y % 3);
    if (planar_rows_[slot] == y) return planar_[slot].data();
    planar_rows_[slot] = y;
    uint8_t *out = planar_[slot].data();
    const uint8_t *row = src.row(y);
    const long n = std::min<long>(static_cast<long>(grad_stride_), width_);
    // 16 pixels (48 bytes) at a time: each channel's bytes picked from the three 16-byte loads.
    static const struct channel_shuffles {
        int8_t at[3][3][16];  // [channel][which load][position]
        channel_shuffles() {
            for (int ch = 0; ch < 3; ++ch) {
                for (int which = 0; which < 3; ++which) {
                    for (int i = 0; i < 16; ++i) {
                        const int byte = 3 * i + ch;
                        at[ch][which][i] = static_cast<int8_t>(byte / 16 == which ? byte % 16 : -128);
                    }
                }
            }
        }
    } shuffles;
    long x = 0;
    for (; x + 16 <= n; x += 16) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 3 * x));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 3 * x + 16));
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i *>(row + 3 * x + 32));
        for (int ch = 0; ch < 3; ++ch) {
            auto mask = [&](int which) { return _mm_loadu_si128(reinterpret_cast<const __m128i *>(shuffles.at[ch][which])); };
            const __m128i bytes = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, mask(0)), _mm_shuffle_epi8(b, mask(1))),
                                               _mm_shuffle_epi8(c, mask(2)));
            _mm_storeu_si128(reinterpret_cast<__m128i *>(out + static_cast<size_t>(ch) * grad_stride_ + x), bytes);
        }
    }
    for (; x < n; ++x) {
        out[x] = row[3 * x];
        out[grad_stride_ + static_cast<size_t>(x)] = row[3 * x + 1];
        out[2 * grad_stride_ + static_cast<size_t>(x)] = row[3 * x + 2];
    }
    return out;
}

void fhog_rows::features(long y, float *out, size_t stride, long out_row) {
    const long norm_first = hist_first_ - 1;
    const long hist_cols = cells_nc_ + 2;
    const size_t row_size = static_cast<size_t>(hist_cols) * kBins;
    const float *n0 = norm_.data() + static_cast<size_t>(y - norm_first) * cells_nc_;
    const float *n1 = n0 + cells_nc_;
    const float *n2 = n1 + cells_nc_;
    const float *hist_row = hist_ + static_cast<size_t>(y + 2 - hist_first_) * row_size;
    const __m128 ones = _mm_set1_ps(1.0f);
    const __m128 eps = _mm_set1_ps(0.0001f);
    const __m128 point2 = _mm_set1_ps(static_cast<float>(0.2));
    const __m128 point1 = _mm_set1_ps(static_cast<float>(0.1));
    const __m128 texture_scale = _mm_set1_ps(static_cast<float>(2 * 0.2357));
    float *row_base = out + static_cast<size_t>(out_row) * plane_cols_ + pad_cols_offset_;

    // Eight cells at a time, one cell per lane: the loop below keeps each cell's four block norms in
    // the four lanes of one vector and sums them with a dot product, (l0 + l1) + (l2 + l3); here the
    // four block norms are four vectors (one lane per cell) summed in that same order, and every other
    // operation is the same operation on the same values, so the features are the same bits.
    int x = 0;
    {
        const __m256 eps8 = _mm256_set1_ps(0.0001f);
        const __m256 point2_8 = _mm256_set1_ps(static_cast<float>(0.2));
        const __m256 point1_8 = _mm256_set1_ps(static_cast<float>(0.1));
        const __m256 texture_scale8 = _mm256_set1_ps(static_cast<float>(2 * 0.2357));
        for (; x + 8 <= hog_nc_; x += 8) {
            auto at = [](const float *row, int i) { return _mm256_loadu_ps(row + i); };
            // Lane k of the loop below's z1..z4, for cells x..x+7.
            const __m256 z1[4] = {at(n1, x + 1), at(n0, x + 1), at(n1, x), at(n0, x)};
            const __m256 z2[4] = {at(n1, x + 2), at(n0, x + 2), at(n1, x + 1), at(n0, x + 1)};
            const __m256 z3[4] = {at(n2, x + 1), at(n1, x + 1), at(n2, x), at(n1, x)};
            const __m256 z4[4] = {at(n2, x + 2), at(n1, x + 2), at(n2, x + 1), at(n1, x + 1)};
            __m256 nn[4], n[4];
            for (int k = 0; k < 4; ++k) {
                nn[k] = _mm256_mul_ps(
                    point2_8,
                    _mm256_sqrt_ps(_mm256_add_ps(
                        _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(z1[k], z2[k]), z3[k]), z4[k]), eps8)));
                n[k] = _mm256_div_ps(point1_8, nn[k]);
            }
            const float *h = hist_row + static_cast<size_t>(x + 2);
            float *dst = row_base + x;
            auto bin = [&](int o) { return _mm256_loadu_ps(h + static_cast<size_t>(o) * static_cast<size_t>(hist_cols)); };
            // One plane value per lane: the dot product's (l0 + l1) + (l2 + l3) of min(v, nn) * n.
            auto normalised = [&](__m256 v, __m256 parts[4]) {
                for (int k = 0; k < 4; ++k) parts[k] = _mm256_mul_ps(_mm256_min_ps(v, nn[k]), n[k]);
                return _mm256_add_ps(_mm256_add_ps(parts[0], parts[1]), _mm256_add_ps(parts[2], parts[3]));
            };
            __m256 hv[18];
            for (int o = 0; o < 18; ++o) hv[o] = bin(o);
            // Contrast-sensitive planes 0..17 and the texture sums, three orientations at a time.
            __m256 t[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int o = 0; o < 18; o += 3) {
                __m256 p0[4], p1[4], p2[4];
                _mm256_storeu_ps(dst + static_cast<size_t>(o) * stride, normalised(hv[o], p0));
                _mm256_storeu_ps(dst + static_cast<size_t>(o + 1) * stride, normalised(hv[o + 1], p1));
                _mm256_storeu_ps(dst + static_cast<size_t>(o + 2) * stride, normalised(hv[o + 2], p2));
                for (int k = 0; k < 4; ++k) t[k] = _mm256_add_ps(t[k], _mm256_add_ps(_mm256_add_ps(p0[k], p1[k]), p2[k]));
            }
            // Contrast-insensitive planes 18..26.
            for (int o = 0; o < 9; ++o) {
                __m256 parts[4];
                _mm256_storeu_ps(dst + static_cast<size_t>(o + 18) * stride, normalised(_mm256_add_ps(hv[o], hv[o + 9]), parts));
            }
            // Texture planes 27..30.
            for (int k = 0; k < 4; ++k) _mm256_storeu_ps(dst + static_cast<size_t>(27 + k) * stride, _mm256_mul_ps(t[k], texture_scale8));
        }
    }
    for (; x < hog_nc_; ++x) {
        const __m128 z1 = _mm_setr_ps(n1[x + 1], n0[x + 1], n1[x], n0[x]);
        const __m128 z2 = _mm_setr_ps(n1[x + 2], n0[x + 2], n1[x + 1], n0[x + 1]);
        const __m128 z3 = _mm_setr_ps(n2[x + 1], n1[x + 1], n2[x], n1[x]);
        const __m128 z4 = _mm_setr_ps(n2[x + 2], n1[x + 2], n2[x + 1], n1[x + 1]);
        const __m128 nn = _mm_mul_ps(
            point2, _mm_sqrt_ps(_mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_add_ps(z1, z2), z3), z4), eps)));
        const __m128 n = _mm_div_ps(point1, nn);
        const float *hist_cell = hist_row + static_cast<size_t>(x + 2);
        float h[18];
        for (int o = 0; o < 18; ++o) h[o] = hist_cell[static_cast<size_t>(o) * static_cast<size_t>(hist_cols)];
        float *dst = row_base + x;

        // Contrast-sensitive planes 0..17; t accumulates them three at a time, as dlib does.
        __m128 t = _mm_setzero_ps();
        for (int o = 0; o < 18; o += 3) {
            const __m128 h0 = _mm_mul_ps(_mm_min_ps(_mm_set1_ps(h[o]), nn), n);
            const __m128 h1 = _mm_mul_ps(_mm_min_ps(_mm_set1_ps(h[o + 1]), nn), n);
            const __m128 h2 = _mm_mul_ps(_mm_min_ps(_mm_set1_ps(h[o + 2]), nn), n);
            dst[static_cast<size_t>(o) * stride] = _mm_cvtss_f32(_mm_dp_ps(ones, h0, 0xff));
            dst[static_cast<size_t>(o + 1) * stride] = _mm_cvtss_f32(_mm_dp_ps(ones, h1, 0xff));
            dst[static_cast<size_t>(o + 2) * stride] = _mm_cvtss_f32(_mm_dp_ps(ones, h2, 0xff));
            t = _mm_add_ps(t, _mm_add_ps(_mm_add_ps(h0, h1), h2));
        }
        t = _mm_mul_ps(t, texture_scale);
        // Contrast-insensitive planes 18..26.
        for (int o = 0; o < 9; ++o) {
            const __m128 s = _mm_set1_ps(h[o] + h[o + 9]);
            const __m128 hv = _mm_mul_ps(_mm_min_ps(s, nn), n);
            dst[static_cast<size_t>(o + 18) * stride] = _mm_cvtss_f32(_mm_dp_ps(ones, hv, 0xff));
        }
        // Texture planes 27..30.
        float texture[4];
        _mm_storeu_ps(texture, t);
        for (int k = 0; k < 4; ++k) dst[static_cast<size_t>(27 + k) * stride] = texture[k];
    }
}

}  // namespace fwhog
