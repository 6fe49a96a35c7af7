// facewatch's own HOG face scanner: the computation of dlib's frontal_face_detector
// (object_detector<scan_fhog_pyramid<pyramid_down<6>>>) as face_recognition calls it, reorganised so a
// band of rows goes through gradient, histogram, normalisation and every filter term while it is in
// cache, and only about one pyramid level is in memory at a time; a large level may be split into
// strips scanned by helper threads.
//
// The pixel steps are dlib 19.24's float operations in dlib's order on an AVX build (the lanes of
// dlib's SIMD loops are our lanes; its scalar tails are our scalar tails), so pyramid pixels, and
// each pixel's gradient and orientation, are identical. Two sums are reordered for speed: the
// histogram's (hog_features.cpp) and the filter bank's (fused multiply-adds, hog_filter_bank.cpp):
// features and scores differ from dlib's in the last bits, boxes do not.
// Internal to CDlibFace: no dlib type appears here, and nothing here throws across the C ABI
// (engine.cpp catches everything).
#ifndef FACEWATCH_HOG_DETECTOR_H
#define FACEWATCH_HOG_DETECTOR_H

#include "resize_plan.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace fwhog {

/// Large scratch blocks (pyramid levels, feature planes, histogram rows, row rings) that a detection
/// takes and gives back, kept for the next image. A fresh block costs a page fault per 4 KiB the first
/// time it is written (the daemon has the allocator map every block of 1 MiB or more afresh, so
/// without the pool a usual photo faulted in some 70 MB per detection, a fifth of its time). After
/// a detection, trim() frees blocks beyond `keep_bytes`, largest first: a big photo's memory goes back
/// to the system, a usual image's stays for the next. Thread-safe (strips take blocks on their
/// threads); one pool per engine.
class scratch_pool {
public:
    /// A block of at least the size asked for (contents undefined), given back to its pool when
    /// destroyed or assigned over. Move-only.
    class block {
    public:
        block() = default;
        block(block &&other) noexcept : pool_(other.pool_), data_(std::move(other.data_)), size_(other.size_) {
            other.pool_ = nullptr;
            other.size_ = 0;
        }
        block &operator=(block &&other) noexcept;
        block(const block &) = delete;
        block &operator=(const block &) = delete;
        ~block();
        uint8_t *bytes() const { return data_.get(); }
        float *floats() const { return reinterpret_cast<float *>(data_.get()); }
        size_t size() const { return size_; }

    private:
        friend class scratch_pool;
        block(scratch_pool *pool, std::unique_ptr<uint8_t[]> data, size_t size)
            : pool_(pool), data_(std::move(data)), size_(size) {}
        scratch_pool *pool_ = nullptr;
        std::unique_ptr<uint8_t[]> data_;
        size_t size_ = 0;
    };

    explicit scratch_pool(size_t keep_bytes) : keep_bytes_(keep_bytes) {}
    ~scratch_pool();
    scratch_pool(const scratch_pool &) = delete;
    scratch_pool &operator=(const scratch_pool &) = delete;

    /// A block of at least `bytes` bytes: a kept one when one is large enough, else a new one.
    /// Throws std::bad_alloc.
    block take(size_t bytes);
    /// Frees kept blocks, largest first, until at most keep_bytes are kept.
    void trim();
    /// Bytes kept for the next detection.
    size_t kept_bytes() const;

    /// What an engine keeps between images: the blocks of images up to a few megapixels.
    static constexpr size_t default_keep_bytes = size_t{48} << 20;

private:
    void give(std::unique_ptr<uint8_t[]> data, size_t size);
    struct entry {
        size_t size;
        std::unique_ptr<uint8_t[]> data;
    };
    const size_t keep_bytes_;
    mutable std::mutex mutex_;
    std::vector<entry> free_;
    size_t free_bytes_ = 0;
};

/// An 8-bit RGB image, rows packed (stride = 3 * width), in a block of a scratch pool. Its pixels
/// start undefined (every row of a pyramid level is written before it is read; zeroing them first
/// cost 3% of detection).
struct rgb_image {
    long width = 0;
    long height = 0;
    scratch_pool::block pixels;

    rgb_image() = default;
    rgb_image(long w, long h, scratch_pool &pool)
        : width(w), height(h), pixels(pool.take(static_cast<size_t>(w) * static_cast<size_t>(h) * 3)) {}
    uint8_t *data() { return pixels.bytes(); }
    const uint8_t *data() const { return pixels.bytes(); }
    uint8_t *row(long y) { return data() + static_cast<size_t>(y) * static_cast<size_t>(width) * 3; }
    const uint8_t *row(long y) const { return data() + static_cast<size_t>(y) * static_cast<size_t>(width) * 3; }
};

/// A read-only view of packed 8-bit RGB rows.
struct rgb_view {
    const uint8_t *data = nullptr;
    long width = 0;
    long height = 0;
    const uint8_t *row(long y) const { return data + static_cast<size_t>(y) * static_cast<size_t>(width) * 3; }
};

/// An integer rectangle with dlib's inclusive corners.
struct box {
    long left = 0, top = 0, right = -1, bottom = -1;
};

/// One rank-one term of a filter on one fhog plane: the plane is filtered along rows by `row`, the
/// result along columns by `col`.
struct separable_term {
    int plane = 0;
    std::vector<float> row;
    std::vector<float> col;
};

/// One of the detector's linear filters (dlib: one weight vector of the object_detector), as the rank
/// terms dlib's scanner derives from it, in dlib's order (plane, then singular value).
struct filter {
    std::vector<separable_term> terms;
    /// The weight vector's last element: a window is a detection when its score >= this.
    double threshold = 0;
};

/// What the scanner needs from the model; filled from dlib's detector when the models load.
struct model {
    std::vector<filter> filters;
    /// The filters' size in fhog cells (the window plus dlib's padding).
    int filter_rows = 0;
    int filter_cols = 0;
    /// The detection box in cells (the window without padding).
    int box_rows = 0;
    int box_cols = 0;
    int cell_size = 8;
    unsigned long max_pyramid_levels = 1000;
    unsigned long min_pyramid_layer_width = 64;
    unsigned long min_pyramid_layer_height = 64;
    /// dlib's test_box_overlap for non-max suppression.
    double iou_threshold = 0;
    double covered_threshold = 0;
};

/// A detection: its box in the (upsampled) image the pyramid starts from, its score minus the
/// filter's threshold (dlib's detection_confidence) and which filter found it.
struct detection {
    box rect;
    double confidence = 0;
    unsigned long filter_index = 0;
};

/// Threads a detection may borrow for one pyramid level at a time: the encoder pool's idle workers.
/// The pool adds one when a worker goes idle and takes one back when it starts a job; a detection
/// takes what is there when a level starts and gives it back when the level is done. The count may
/// dip below zero while a level runs (a job started on a lent worker); it is back when the level ends.
class helper_budget {
public:
    explicit helper_budget(int available) : available_(available) {}
    void add(int delta) { available_.fetch_add(delta); }
    /// Takes up to `wanted` helpers (none when the count is zero or below); returns how many.
    int take(int wanted);
    void give(int count) { available_.fetch_add(count); }

private:
    std::atomic<int> available_;
};

/// dlib's frontal_face_detector(pyramid_up^upsample(image)) with adjust_threshold 0: the detections
/// after non-max suppression, best first, boxes in the coordinates of the upsampled image. A level
/// large enough is split into horizontal strips scanned by helper threads borrowed from `helpers`
/// (none when null); the result does not depend on how many. Scratch blocks come from `pool` (a pool of
/// this call's own when null), which is trimmed before returning.
/// Throws std::bad_alloc when memory runs out; nothing else.
std::vector<detection> detect(const model &m, const rgb_view &image, int upsample, helper_budget *helpers = nullptr,
                              scratch_pool *pool = nullptr);

// ---------------------------------------------------------------------------------------------
// Stages, exposed for the scanner's own files.

/// dlib's resize_image(in, out, interpolate_bilinear) for RGB images, one output row at a time.
/// Keeps the last two input rows it read spread into float lanes (an input row serves several output
/// rows), so one resizer belongs to one thread, and the rows it is given must be the rows
/// top_row(r) and bottom_row(r) of one input image.
class bilinear_resizer {
public:
    bilinear_resizer(long in_width, long in_height, long out_width, long out_height);
    long out_width() const { return plan_.out_width; }
    long out_height() const { return plan_.out_height; }
    /// The input rows output row `r` reads.
    long top_row(long r) const { return plan_.tops[static_cast<size_t>(r)]; }
    long bottom_row(long r) const { return plan_.bottom_row(r); }
    /// Writes output row `r` from its two input rows.
    void resize_row(long r, const uint8_t *top, const uint8_t *bottom, uint8_t *out);

private:
    /// Input row y's left and right neighbours of every SIMD column as floats (per block of 8 columns:
    /// r, g, b of the left ones, then of the right ones), cached; evicts a row other than `keep`.
    const float *expanded(long y, const uint8_t *row, long keep);

    /// dlib's four-lane float columns [from, to), one column at a time.
    void resize_columns(long from, long to, float tb, float inv_tb, const uint8_t *top, const uint8_t *bottom,
                        uint8_t *out) const;

    resize_plan plan_;
    std::vector<uint8_t> shuffled_blocks_;  // per block of 8 SIMD columns: 1 when expanded() shuffles
    struct expanded_row {
        long row = -1;
        std::vector<float> values;
    };
    expanded_row expanded_[2];
};

/// The size pyramid_up (pyramid_down<2>) gives an image of the given size.
void pyramid_up_size(long width, long height, long &out_width, long &out_height);
/// The size pyramid_down<6> gives an image of the given size.
void pyramid_down6_size(long width, long height, long &out_width, long &out_height);

/// The 31 fhog planes of one pyramid level, produced a band of rows at a time, in dlib's layout:
/// planes padded for a filter of filter_rows × filter_cols (zero border), cell size 8.
class fhog_rows {
public:
    /// Supplies image rows 0..height-1 of the level; rows are asked for in increasing order of the
    /// band, and a band never reaches back more than `lookback()` rows before its last row.
    struct row_source {
        virtual ~row_source() = default;
        virtual const uint8_t *row(long y) = 0;
    };

    /// Histogram rows come from `pool` (one of its own when null).
    fhog_rows(long image_width, long image_height, int filter_rows, int filter_cols, scratch_pool *pool = nullptr);
    /// Plane size (dlib's array2d size); 0 × 0 when the level is too small for features.
    long plane_rows() const { return plane_rows_; }
    long plane_cols() const { return plane_cols_; }
    /// How many image rows before the last row of a band computing `band_rows` plane rows may be read.
    long lookback(long band_rows) const;
    /// The first image row compute(src, first, ...) may read.
    long first_image_row(long first) const;
    /// Writes plane rows [first, last) of all 31 planes: out[plane * stride + (row - first) * plane_cols()].
    void compute(row_source &src, long first, long last, float *out, size_t stride);

private:
    void histogram(row_source &src, long hist_first, long hist_last);
    void features(long hog_row, float *out, size_t stride, long out_row);

    long width_, height_;
    int pad_rows_offset_, pad_cols_offset_;
    int cells_nr_ = 0, cells_nc_ = 0, hog_nr_ = 0, hog_nc_ = 0;
    int visible_nr_ = 0, visible_nc_ = 0;
    long plane_rows_ = 0, plane_cols_ = 0;
    // Histogram rows [hist_first_, hist_first_ + rows) of dlib's padded (cells_nr+2) × (cells_nc+2) × 18.
    long hist_first_ = 0;
    std::unique_ptr<scratch_pool> own_pool_;
    scratch_pool *pool_;
    scratch_pool::block hist_block_;
    float *hist_ = nullptr;
    std::vector<float> norm_;  // norm rows [hist_first_ - 1, ...), cells_nc wide
    // dlib's 8-lane gradient loop: where it ends, the per-column bin and weights, one row's gradients.
    int simd_end_ = 1;
    size_t grad_stride_ = 0;
    // The last three image rows the gradient read, as red, green and blue byte rows.
    std::vector<uint8_t> planar_[3];
    long planar_rows_[3] = {-2, -2, -2};
    const uint8_t *planar_row(row_source &src, long y);
    std::vector<int32_t> cell_at_;  // per column: its left cell's offset in a histogram row
    std::vector<float> vx0_, vx1_;
    // The votes of the pixels of a row not yet voted (a range, from index 0): the bin of each one's
    // left cell and its weights for its left and right cell (v * vx1, v * vx0), interleaved.
    std::vector<int32_t> vote_at_;
    std::vector<float> vote_weights_;
    // One pixel row's votes into one row of cells (histogram row layout), before the row's vy.
    std::vector<float> row_votes_;
};

/// The filter bank over a band of plane rows: for every filter, dlib's score image (the sum, term
/// by term, of each rank term's row pass then column pass) on output rows [r0, r1). Terms are added in
/// dlib's order, but each pass is a chain of fused multiply-adds: the scores differ from dlib's in the
/// last bits (see hog_filter_bank.cpp), everything before them is dlib's arithmetic exactly.
class filter_bank_band {
public:
    filter_bank_band(const model &m, long plane_rows, long plane_cols, long band_rows);
    /// dlib's scan area: rows [first_row, last_row), columns [first_col, last_col).
    long first_row() const { return first_row_; }
    long last_row() const { return last_row_; }
    long first_col() const { return first_col_; }
    long last_col() const { return last_col_; }
    /// Plane rows output rows [r0, r1) read: [r0 - first_row(), r1 - first_row() + halo()).
    long halo() const { return filter_rows_ - 1; }
    /// `planes`: 31 planes, plane p at planes + p * stride, rows from r0 - first_row(), plane_cols wide.
    void apply(const float *planes, size_t stride, long r0, long r1);
    /// Scores of filter f for output row r (in the last band), indexed by column.
    const float *scores(size_t f, long r) const {
        return score_rows_[f] + static_cast<size_t>(r - band_first_) * score_stride_;
    }

private:
    /// Terms of one plane (of any filters) whose row passes run together, sharing their input loads.
    static constexpr long kGroupTerms = 4;
    struct term_group {
        int plane = 0;
        std::vector<size_t> filters;  // per term: its filter
        std::vector<bool> adds;       // per term: false for its filter's first term (it starts the score)
        std::vector<float> row_taps;  // term after term
        std::vector<float> col_taps;
    };

    /// One group over output rows [0, rows) and output columns [first, first + 8 * blocks) (the last
    /// block has `tail` of them): row passes into the rings, column passes added to the scores.
    void apply_group(const term_group &group, const float *plane, long rows, long first, long blocks, long tail);
    float *aligned_rings();

    long plane_rows_, plane_cols_;
    int filter_rows_, filter_cols_;
    long first_row_, last_row_, first_col_, last_col_;
    long band_first_ = 0;
    bool fast_ = false;    // 10 × 10 filters: the loops with compile-time sizes
    long ring_rows_ = 0;   // row-pass rows kept per term (a power of two)
    std::vector<float> rings_;  // a group's row-pass rings for one strip (hog_filter_bank.cpp)
    std::vector<std::vector<float>> scores_;
    // Per filter: its score row 0 within scores_[f], placed (and rows spaced) so that every row's
    // column first_col is 32-byte aligned: the column passes' loads and stores of scores never
    // straddle a cache line.
    std::vector<float *> score_rows_;
    size_t score_stride_ = 0;
    std::vector<term_group> groups_;     // in plane order
    std::vector<size_t> empty_filters_;  // filters without terms (they score 0)
};

}  // namespace fwhog

#endif
