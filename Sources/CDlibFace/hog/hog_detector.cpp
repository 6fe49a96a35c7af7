// The scanner: pyramid levels one after another, each scanned in bands of rows, then dlib's box
// mapping, sorting and non-max suppression. Memory: the level being scanned and the next one, plus
// band buffers; with upsampling, the upsampled image is never stored whole (its rows are made as the
// bands ask for them, and feed the next level as they go).
#include "hog_detector.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <utility>

namespace fwhog {
namespace {

// Plane rows per band: as many as keep one plane's band (and the row pass's scratch, the same
// size) within about 128 KiB, so a plane stays in the L2 cache while its terms of every filter run
// over it; at least 32, so the filter's halo (9 rows) and the histogram's (2 cell rows), made
// again for each band, cost little.
constexpr long kMinBandRows = 32;
constexpr long kMaxBandRows = 128;

long band_rows_for(long plane_cols) {
    return std::clamp<long>(32768 / std::max<long>(plane_cols, 1) - 9, kMinBandRows, kMaxBandRows);
}

// Image rows a level's row ring keeps: a band reads at most 8 * (band + 6) + 16 rows back.
constexpr long kRingRows = 8 * (kMaxBandRows + 16) + 64;

// ---------------------------------------------------------------------------------------------
// Row sources for a level.

// Rows of a level that is stored whole.
class stored_rows : public fhog_rows::row_source {
public:
    explicit stored_rows(rgb_view view) : view_(view) {}
    const uint8_t *row(long y) override { return view_.row(y); }

private:
    rgb_view view_;
};

// Rows of resize(parent), made on demand into a ring of rows; each new row also feeds the next
// pyramid level, which is built whole as this level streams past.
class resized_rows : public fhog_rows::row_source {
public:
    resized_rows(rgb_view parent, long width, long height, long capacity)
        : parent_(parent), resizer_(parent.width, parent.height, width, height), width_(width), height_(height),
          capacity_(std::min(capacity, height)),
          ring_(static_cast<size_t>(capacity_) * static_cast<size_t>(width) * 3) {}

    /// Builds `child` (already sized) from this level's rows as they are made.
    void feed(rgb_image *child) {
        child_ = child;
        child_resizer_ = std::make_unique<bilinear_resizer>(width_, height_, child->width, child->height);
    }

    const uint8_t *row(long y) override {
        while (made_ <= y) make_next();
        if (y < made_ - capacity_) throw std::logic_error("hog scanner: row ring too small");
        return slot(y);
    }

    /// Makes the remaining rows, so the next level is complete.
    void finish() {
        if (height_ > 0) row(height_ - 1);
    }

private:
    uint8_t *slot(long y) { return ring_.data() + static_cast<size_t>(y % capacity_) * static_cast<size_t>(width_) * 3; }

    void make_next() {
        const long y = made_;
        resizer_.resize_row(y, parent_.row(resizer_.top_row(y)), parent_.row(resizer_.bottom_row(y)), slot(y));
        ++made_;
        if (child_ == nullptr) return;
        while (child_next_ < child_->height && child_resizer_->bottom_row(child_next_) < made_) {
            const long top = child_resizer_->top_row(child_next_);
            if (top < made_ - capacity_) throw std::logic_error("hog scanner: row ring too small");
            child_resizer_->resize_row(child_next_, slot(top), slot(child_resizer_->bottom_row(child_next_)),
                                       child_->row(child_next_));
            ++child_next_;
        }
    }

    rgb_view parent_;
    bilinear_resizer resizer_;
    long width_, height_, capacity_;
    std::vector<uint8_t> ring_;
    long made_ = 0;
    rgb_image *child_ = nullptr;
    std::unique_ptr<bilinear_resizer> child_resizer_;
    long child_next_ = 0;
};

void resize_whole(const rgb_view &in, rgb_image &out) {
    const bilinear_resizer resizer(in.width, in.height, out.width, out.height);
    for (long r = 0; r < out.height; ++r) {
        resizer.resize_row(r, in.row(resizer.top_row(r)), in.row(resizer.bottom_row(r)), out.row(r));
    }
}

rgb_view view_of(const rgb_image &image) { return rgb_view{image.pixels.data(), image.width, image.height}; }

// ---------------------------------------------------------------------------------------------
// Geometry, as dlib rounds it.

long round_half_up(double v) { return static_cast<long>(std::floor(v + 0.5)); }

// How many levels scan_fhog_pyramid uses for an image of this size (it counts with rectangles
// mapped by pyramid_down<6>::rect_down, not with the image sizes).
unsigned long level_count(const model &m, long width, long height) {
    const double ratio = (6 - 1.0) / 6;
    long left = 0, top = 0, right = width - 1, bottom = height - 1;
    unsigned long levels = 0;
    do {
        left = round_half_up((left - 0.3) * ratio);
        top = round_half_up((top - 0.3) * ratio);
        right = round_half_up((right - 0.3) * ratio);
        bottom = round_half_up((bottom - 0.3) * ratio);
        ++levels;
    } while (right - left + 1 >= static_cast<long>(m.min_pyramid_layer_width) &&
             bottom - top + 1 >= static_cast<long>(m.min_pyramid_layer_height) && levels < m.max_pyramid_levels);
    return levels;
}

// fhog_to_image for one corner: the cell's image position, moved to the cell's centre.
void fhog_corner_to_image(const model &m, long &x, long &y) {
    const int cell = m.cell_size;
    x = (x + 1 - (m.filter_cols - 1) / 2) * cell + 1;
    y = (y + 1 - (m.filter_rows - 1) / 2) * cell + 1;
    x += x >= 0 ? cell / 2 : -cell / 2;
    y += y >= 0 ? cell / 2 : -cell / 2;
}

// The box of a window scored at (r, c) on level `level`, in level-0 image coordinates.
box window_box(const model &m, long r, long c, unsigned long level) {
    long left = c - m.box_cols / 2, top = r - m.box_rows / 2;
    long right = left + m.box_cols - 1, bottom = top + m.box_rows - 1;
    fhog_corner_to_image(m, left, top);
    fhog_corner_to_image(m, right, bottom);
    const double ratio = 6 / (6 - 1.0);
    double l = left, t = top, rr = right, b = bottom;
    for (unsigned long i = 0; i < level; ++i) {
        l = l * ratio + 0.3;
        t = t * ratio + 0.3;
        rr = rr * ratio + 0.3;
        b = b * ratio + 0.3;
    }
    return box{round_half_up(l), round_half_up(t), round_half_up(rr), round_half_up(b)};
}

double area(const box &b) {
    if (b.left > b.right || b.top > b.bottom) return 0;
    return static_cast<double>(static_cast<unsigned long>((b.right - b.left + 1) * (b.bottom - b.top + 1)));
}

// dlib's test_box_overlap.
bool overlaps(const model &m, const box &a, const box &b) {
    const box inter{std::max(a.left, b.left), std::max(a.top, b.top), std::min(a.right, b.right),
                    std::min(a.bottom, b.bottom)};
    const double inner = area(inter);
    if (inner == 0) return false;
    const box outer{std::min(a.left, b.left), std::min(a.top, b.top), std::max(a.right, b.right),
                    std::max(a.bottom, b.bottom)};
    return inner / area(outer) > m.iou_threshold || inner / area(a) > m.covered_threshold ||
           inner / area(b) > m.covered_threshold;
}

using scored_box = std::pair<double, box>;

// One level: bands of rows through fhog and the filter bank; windows at or above a filter's
// threshold are appended to that filter's list in dlib's order (row, then column).
void scan_level(const model &m, fhog_rows::row_source &rows, long width, long height, unsigned long level,
                std::vector<std::vector<scored_box>> &found) {
    fhog_rows fhog(width, height, m.filter_rows, m.filter_cols);
    if (fhog.plane_rows() == 0) return;
    const long band_rows = band_rows_for(fhog.plane_cols());
    filter_bank_band bank(m, fhog.plane_rows(), fhog.plane_cols(), band_rows);
    const long halo = bank.halo();
    const size_t stride = static_cast<size_t>(band_rows + halo) * static_cast<size_t>(fhog.plane_cols());
    std::vector<float> planes(31 * stride);
    long have_first = 0, have_last = 0;  // plane rows held in `planes`
    for (long r0 = bank.first_row(); r0 < bank.last_row(); r0 += band_rows) {
        const long r1 = std::min(r0 + band_rows, bank.last_row());
        const long need_first = r0 - bank.first_row();
        const long need_last = r1 - bank.first_row() + halo;
        // Keep the rows the previous band already made (the halo), make the rest.
        long keep_from = std::max(need_first, have_first);
        if (keep_from >= have_last) keep_from = need_first;
        const long kept = keep_from < have_last ? have_last - keep_from : 0;
        const size_t row_size = static_cast<size_t>(fhog.plane_cols());
        if (kept > 0 && keep_from != have_first) {
            for (size_t p = 0; p < 31; ++p) {
                float *plane = planes.data() + p * stride;
                std::copy(plane + static_cast<size_t>(keep_from - have_first) * row_size,
                          plane + static_cast<size_t>(have_last - have_first) * row_size, plane);
            }
        }
        fhog.compute(rows, need_first + kept, need_last, planes.data() + static_cast<size_t>(kept) * row_size, stride);
        have_first = need_first;
        have_last = need_last;

        bank.apply(planes.data(), stride, r0, r1);
        for (size_t f = 0; f < m.filters.size(); ++f) {
            const double threshold = m.filters[f].threshold;
            for (long r = r0; r < r1; ++r) {
                const float *scores = bank.scores(f, r);
                for (long c = bank.first_col(); c < bank.last_col(); ++c) {
                    if (scores[c] >= threshold) found[f].emplace_back(scores[c], window_box(m, r, c, level));
                }
            }
        }
    }
}

}  // namespace

std::vector<detection> detect(const model &m, const rgb_view &image, int upsample) {
    // Level 0: the image after `upsample` pyramid_up steps. All but the last are stored; the last
    // is made row by row while level 0 is scanned.
    rgb_image stored;
    rgb_view parent = image;
    for (int i = 0; i + 1 < upsample; ++i) {
        long w = 0, h = 0;
        pyramid_up_size(parent.width, parent.height, w, h);
        rgb_image next(w, h);
        resize_whole(parent, next);
        stored = std::move(next);
        parent = view_of(stored);
    }
    long width = parent.width, height = parent.height;
    if (upsample > 0) pyramid_up_size(parent.width, parent.height, width, height);

    std::vector<std::vector<scored_box>> found(m.filters.size());
    if (width > 0 && height > 0) {
        const unsigned long levels = level_count(m, width, height);
        const long capacity = kRingRows;
        rgb_image current, next;
        for (unsigned long level = 0; level < levels; ++level) {
            const bool has_next = level + 1 < levels;
            long next_w = 0, next_h = 0;
            if (has_next) pyramid_down6_size(width, height, next_w, next_h);
            if (level == 0 && upsample > 0) {
                resized_rows rows(parent, width, height, capacity);
                if (has_next) {
                    next = rgb_image(next_w, next_h);
                    rows.feed(&next);
                }
                scan_level(m, rows, width, height, level, found);
                rows.finish();
                // The stored upsampled images are no longer needed.
                stored = rgb_image();
            } else {
                const rgb_view view = level == 0 ? parent : view_of(current);
                if (has_next) {
                    next = rgb_image(next_w, next_h);
                    resize_whole(view, next);
                }
                stored_rows rows(view);
                scan_level(m, rows, width, height, level, found);
            }
            current = std::move(next);
            next = rgb_image();
            width = next_w;
            height = next_h;
        }
    }

    // dlib: each filter's windows sorted by score (std::sort, best first), then all of them by
    // score minus threshold, then greedy suppression of boxes overlapping a kept one.
    std::vector<detection> all;
    for (size_t f = 0; f < found.size(); ++f) {
        std::vector<scored_box> &windows = found[f];
        std::sort(windows.rbegin(), windows.rend(),
                  [](const scored_box &a, const scored_box &b) { return a.first < b.first; });
        for (const scored_box &w : windows) {
            detection d;
            d.rect = w.second;
            d.confidence = w.first - m.filters[f].threshold;
            d.filter_index = f;
            all.push_back(d);
        }
    }
    if (m.filters.size() > 1) {
        std::sort(all.rbegin(), all.rend(),
                  [](const detection &a, const detection &b) { return a.confidence < b.confidence; });
    }
    std::vector<detection> kept;
    for (const detection &d : all) {
        bool suppressed = false;
        for (const detection &k : kept) {
            if (overlaps(m, k.rect, d.rect)) {
                suppressed = true;
                break;
            }
        }
        if (!suppressed) kept.push_back(d);
    }
    return kept;
}

}  // namespace fwhog
