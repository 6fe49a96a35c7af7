// The scanner: pyramid levels one after another, each scanned in bands of rows (by several threads
// in strips when helpers are free), then dlib's box mapping, sorting and non-max suppression. Memory:
// the level being scanned and the next one, plus band buffers per strip; with upsampling, the
// upsampled image is never stored whole (its rows are made as the bands ask for them, and feed the
// next level as they go).
#include "hog_detector.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <thread>
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

// Image rows a level's row ring keeps beyond a band's lookback (the next level's rows read 2; the
// rest is slack).
constexpr long kRingMargin = 64;

// ---------------------------------------------------------------------------------------------
// Row sources for a level.

// Rows of one pyramid level from `first_row` on, as the scan asks for them: made on demand by
// resizing `parent` into a ring of rows (a streamed level), or read from `parent`, the level itself (a
// stored level). Each row, once reached, also feeds the rows [child_first, child_last) of the next
// pyramid level, so a level's rows come from memory once for its scan and the next level together.
class level_rows : public fhog_rows::row_source {
public:
    level_rows(rgb_view parent, bool streamed, long width, long height, long capacity, long first_row,
               scratch_pool &pool)
        : parent_(parent), width_(width), height_(height), capacity_(streamed ? std::min(capacity, height) : height),
          made_(first_row) {
        if (streamed) {
            resizer_ = std::make_unique<bilinear_resizer>(parent.width, parent.height, width, height);
            ring_ = pool.take(static_cast<size_t>(capacity_) * static_cast<size_t>(width) * 3);
        }
    }

    /// Builds rows [child_first, child_last) of `child` (already sized) from this level's rows as
    /// they are reached; the first of them must not read a row before `first_row`.
    void feed(rgb_image *child, long child_first, long child_last) {
        child_ = child;
        child_resizer_ = std::make_unique<bilinear_resizer>(width_, height_, child->width, child->height);
        child_next_ = child_first;
        child_last_ = child_last;
    }

    const uint8_t *row(long y) override {
        while (made_ <= y) make_next();
        if (y < made_ - capacity_ || y < 0) throw std::logic_error("hog scanner: row ring too small");
        return slot(y);
    }

    /// Reaches the rows the fed child rows still need.
    void finish() {
        if (child_ != nullptr && child_next_ < child_last_) row(child_resizer_->bottom_row(child_last_ - 1));
    }

private:
    uint8_t *ring_slot(long y) {
        return ring_.bytes() + static_cast<size_t>(y % capacity_) * static_cast<size_t>(width_) * 3;
    }
    const uint8_t *slot(long y) { return resizer_ != nullptr ? ring_slot(y) : parent_.row(y); }

    void make_next() {
        const long y = made_;
        if (resizer_ != nullptr) {
            resizer_->resize_row(y, parent_.row(resizer_->top_row(y)), parent_.row(resizer_->bottom_row(y)), ring_slot(y));
        }
        ++made_;
        if (child_ == nullptr) return;
        while (child_next_ < child_last_ && child_resizer_->bottom_row(child_next_) < made_) {
            const long top = child_resizer_->top_row(child_next_);
            if (top < made_ - capacity_) throw std::logic_error("hog scanner: row ring too small");
            child_resizer_->resize_row(child_next_, slot(top), slot(child_resizer_->bottom_row(child_next_)),
                                       child_->row(child_next_));
            ++child_next_;
        }
    }

    rgb_view parent_;
    std::unique_ptr<bilinear_resizer> resizer_;  // null for a stored level
    long width_, height_, capacity_;
    scratch_pool::block ring_;
    long made_;
    rgb_image *child_ = nullptr;
    std::unique_ptr<bilinear_resizer> child_resizer_;
    long child_next_ = 0, child_last_ = 0;
};

void resize_rows(const rgb_view &in, rgb_image &out, long first, long last) {
    bilinear_resizer resizer(in.width, in.height, out.width, out.height);
    for (long r = first; r < last; ++r) {
        resizer.resize_row(r, in.row(resizer.top_row(r)), in.row(resizer.bottom_row(r)), out.row(r));
    }
}

void resize_whole(const rgb_view &in, rgb_image &out) { resize_rows(in, out, 0, out.height); }

rgb_view view_of(const rgb_image &image) { return rgb_view{image.data(), image.width, image.height}; }

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

// Scan rows [r_begin, r_end) of a level (within dlib's scan area): bands of rows through fhog and
// the filter bank; windows at or above a filter's threshold are appended to that filter's list in
// dlib's order (row, then column).
void scan_rows(const model &m, fhog_rows::row_source &rows, long width, long height, unsigned long level, long r_begin,
               long r_end, scratch_pool &pool, std::vector<std::vector<scored_box>> &found) {
    fhog_rows fhog(width, height, m.filter_rows, m.filter_cols, &pool);
    if (fhog.plane_rows() == 0) return;
    const long band_rows = band_rows_for(fhog.plane_cols());
    filter_bank_band bank(m, fhog.plane_rows(), fhog.plane_cols(), band_rows);
    const long halo = bank.halo();
    const size_t stride = static_cast<size_t>(band_rows + halo) * static_cast<size_t>(fhog.plane_cols());
    // Not zeroed: compute() writes every row of a band (features and dlib's zero border) before the
    // filter bank reads it.
    const scratch_pool::block planes_block = pool.take(31 * stride * sizeof(float));
    float *const planes = planes_block.floats();
    long have_first = 0, have_last = 0;  // plane rows held in `planes`
    for (long r0 = r_begin; r0 < r_end; r0 += band_rows) {
        const long r1 = std::min(r0 + band_rows, r_end);
        const long need_first = r0 - bank.first_row();
        const long need_last = r1 - bank.first_row() + halo;
        // Keep the rows the previous band already made (the halo), make the rest.
        long keep_from = std::max(need_first, have_first);
        if (keep_from >= have_last) keep_from = need_first;
        const long kept = keep_from < have_last ? have_last - keep_from : 0;
        const size_t row_size = static_cast<size_t>(fhog.plane_cols());
        if (kept > 0 && keep_from != have_first) {
            for (size_t p = 0; p < 31; ++p) {
                float *plane = planes + p * stride;
                std::copy(plane + static_cast<size_t>(keep_from - have_first) * row_size,
                          plane + static_cast<size_t>(have_last - have_first) * row_size, plane);
            }
        }
        fhog.compute(rows, need_first + kept, need_last, planes + static_cast<size_t>(kept) * row_size, stride);
        have_first = need_first;
        have_last = need_last;

        bank.apply(planes, stride, r0, r1);
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

// A level is split into strips for helper threads only when each strip has at least this many scan
// rows (a strip recomputes about 11 rows before its first: the filter's halo and two histogram cell
// rows) and the level at least this many fhog cells (smaller levels cost less than starting a thread).
constexpr long kMinStripRows = 32;
constexpr long kMinSplitCells = 4096;

// Helper threads taken from a budget for as long as this lives.
class borrowed_helpers {
public:
    borrowed_helpers(helper_budget *budget, int wanted)
        : budget_(budget), count_(budget != nullptr && wanted > 0 ? budget->take(wanted) : 0) {}
    ~borrowed_helpers() {
        if (count_ > 0) budget_->give(count_);
    }
    borrowed_helpers(const borrowed_helpers &) = delete;
    borrowed_helpers &operator=(const borrowed_helpers &) = delete;
    int count() const { return count_; }

private:
    helper_budget *budget_;
    int count_;
};

// Runs body(0..strips-1): strip 0 on this thread, the others on their own threads (on this thread
// if one cannot be started). The first exception any strip threw is rethrown here.
template <typename Body>
void run_strips(int strips, Body &&body) {
    std::vector<std::exception_ptr> errors(static_cast<size_t>(strips));
    auto guarded = [&](int s) {
        try {
            body(s);
        } catch (...) {
            errors[static_cast<size_t>(s)] = std::current_exception();
        }
    };
    std::vector<std::thread> threads;
    std::vector<int> inline_strips;
    for (int s = 1; s < strips; ++s) {
        try {
            threads.emplace_back(guarded, s);
        } catch (const std::system_error &) {
            inline_strips.push_back(s);
        }
    }
    guarded(0);
    for (int s : inline_strips) guarded(s);
    for (std::thread &t : threads) t.join();
    for (const std::exception_ptr &e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

// One pyramid level: scans it and builds `next` (sized, or empty when this is the last level) from
// it. `parent` is the stored image the level is resized from when `streamed`, else the level itself.
void scan_level(const model &m, const rgb_view &parent, bool streamed, long width, long height, unsigned long level,
                rgb_image &next, helper_budget *helpers, scratch_pool &pool,
                std::vector<std::vector<scored_box>> &found) {
    const fhog_rows geometry(width, height, m.filter_rows, m.filter_cols);
    const long first_row = m.filter_rows / 2;
    const long last_row = geometry.plane_rows() - (m.filter_rows - 1) / 2;
    const long scan = geometry.plane_rows() > 0 ? std::max<long>(last_row - first_row, 0) : 0;
    const bool big = geometry.plane_rows() * geometry.plane_cols() >= kMinSplitCells;
    const int most = big ? static_cast<int>(std::min<long>(scan / kMinStripRows, 64)) : 1;
    const borrowed_helpers borrowed(helpers, most - 1);
    const int strips = 1 + borrowed.count();

    // Strip s scans rows [row_at(s), row_at(s + 1)) and builds next's rows [child_at[s], child_at[s + 1]).
    // A strip reaches the level's rows from its first image row on: its child rows start at the first
    // one whose top row it reaches.
    auto row_at = [&](int s) { return first_row + scan * s / strips; };
    std::vector<long> starts(static_cast<size_t>(strips), 0);  // the first image row each strip reads
    for (int s = 1; s < strips; ++s) starts[static_cast<size_t>(s)] = geometry.first_image_row(row_at(s) - first_row);
    std::vector<long> child_at(static_cast<size_t>(strips) + 1, next.height);
    child_at[0] = 0;
    if (next.height > 0) {
        const bilinear_resizer child_resizer(width, height, next.width, next.height);
        for (int s = 1; s < strips; ++s) {
            long k = child_at[static_cast<size_t>(s) - 1];
            while (k < next.height && child_resizer.top_row(k) < starts[static_cast<size_t>(s)]) ++k;
            child_at[static_cast<size_t>(s)] = k;
        }
    }

    std::vector<std::vector<std::vector<scored_box>>> strip_found(static_cast<size_t>(strips),
                                                                  std::vector<std::vector<scored_box>>(found.size()));
    const long capacity = geometry.plane_rows() > 0
                              ? geometry.lookback(band_rows_for(geometry.plane_cols())) + kRingMargin
                              : kRingMargin;
    run_strips(strips, [&](int s) {
        const size_t i = static_cast<size_t>(s);
        level_rows rows(parent, streamed, width, height, capacity, starts[i], pool);
        if (next.height > 0) rows.feed(&next, child_at[i], child_at[i + 1]);
        if (scan > 0) scan_rows(m, rows, width, height, level, row_at(s), row_at(s + 1), pool, strip_found[i]);
        rows.finish();
    });
    // Strips in order: each filter's windows in dlib's order (row, then column).
    for (auto &strip : strip_found) {
        for (size_t f = 0; f < found.size(); ++f) found[f].insert(found[f].end(), strip[f].begin(), strip[f].end());
    }
}

}  // namespace

int helper_budget::take(int wanted) {
    int available = available_.load();
    while (available > 0) {
        const int taken = std::min(available, wanted);
        if (available_.compare_exchange_weak(available, available - taken)) return taken;
    }
    return 0;
}

std::vector<detection> detect(const model &m, const rgb_view &image, int upsample, helper_budget *helpers,
                              scratch_pool *pool) {
    scratch_pool own_pool(0);
    scratch_pool &scratch = pool != nullptr ? *pool : own_pool;
    // Whatever happens, blocks beyond the pool's keep go back to the system (every block is given
    // back before this runs: the images and levels below are destroyed first).
    struct trim_on_exit {
        scratch_pool &pool;
        ~trim_on_exit() { pool.trim(); }
    } trim{scratch};
    // Level 0: the image after `upsample` pyramid_up steps. All but the last are stored; the last
    // is made row by row while level 0 is scanned.
    rgb_image stored;
    rgb_view parent = image;
    for (int i = 0; i + 1 < upsample; ++i) {
        long w = 0, h = 0;
        pyramid_up_size(parent.width, parent.height, w, h);
        rgb_image next(w, h, scratch);
        resize_whole(parent, next);
        stored = std::move(next);
        parent = view_of(stored);
    }
    long width = parent.width, height = parent.height;
    if (upsample > 0) pyramid_up_size(parent.width, parent.height, width, height);

    std::vector<std::vector<scored_box>> found(m.filters.size());
    if (width > 0 && height > 0) {
        const unsigned long levels = level_count(m, width, height);
        rgb_image current, next;
        for (unsigned long level = 0; level < levels; ++level) {
            const bool has_next = level + 1 < levels;
            long next_w = 0, next_h = 0;
            if (has_next) pyramid_down6_size(width, height, next_w, next_h);
            next = has_next ? rgb_image(next_w, next_h, scratch) : rgb_image();
            // Level 0 with upsampling is made row by row from `parent` as its strips ask for rows.
            const bool streamed = level == 0 && upsample > 0;
            const rgb_view source = level == 0 ? parent : view_of(current);
            scan_level(m, source, streamed, width, height, level, next, helpers, scratch, found);
            // The stored upsampled images are no longer needed after level 0.
            if (level == 0) stored = rgb_image();
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
