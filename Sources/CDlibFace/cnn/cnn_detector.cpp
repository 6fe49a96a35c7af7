// The forward pass and dlib's mmod output rules. Everything is streamed by rows: the tiled pyramid
// (cnn_pyramid.h) makes its rows as the first layer asks for them, and each layer keeps only a window
// of its output rows, computed a chunk at a time when the next layer asks for more. A 50-megapixel
// photo's pyramid and planes (about 8 and 3 GB) are never whole in memory: what is kept is a few
// rows per layer (tens of MB at that size) and the pyramid's small levels. Small images' chunks are
// whole planes.
#include "cnn_detector.h"

#include "cnn_convolution.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fwcnn {
namespace {

// Output rows a helper thread takes at least (a thread's start costs about as much as a few rows).
constexpr long kMinRowsPerThread = 8;

// Runs body(first, last) over items [0, count) (rows or bands), split among this thread and helpers
// borrowed for the duration, at least `min_per_thread` items each. Items are independent, so the split
// does not change any value.
template <typename Body>
void parallel_rows(long rows, fwhog::helper_budget *helpers, Body &&body, long min_per_thread = kMinRowsPerThread) {
    const long max_threads = std::max<long>(1, rows / min_per_thread);
    const int borrowed =
        helpers != nullptr && max_threads > 1 ? helpers->take(static_cast<int>(std::min<long>(max_threads - 1, 64))) : 0;
    if (borrowed == 0) {
        body(0L, rows);
        return;
    }
    const long parts = borrowed + 1;
    std::vector<std::thread> threads;
    std::exception_ptr error;
    std::mutex error_lock;
    auto part = [&](long i) {
        try {
            body(rows * i / parts, rows * (i + 1) / parts);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_lock);
            if (!error) error = std::current_exception();
        }
    };
    try {
        for (long i = 1; i < parts; ++i) threads.emplace_back(part, i);
    } catch (...) {
        for (auto &t : threads) t.join();
        helpers->give(borrowed);
        throw;
    }
    part(0);
    for (auto &t : threads) t.join();
    helpers->give(borrowed);
    if (error) std::rethrow_exception(error);
}

// A window of a layer's output rows, in the next layer's padded coordinates: padded row q is output
// row q - border (rows outside the output are zero), each row with `border` zero pixels on either
// side. The next layer asks for rows in increasing windows; rows before a window are dropped (the
// rows kept move to the front), so a layer holds at most `capacity` rows, never its whole plane.
struct row_window {
    long rows = 0, cols = 0, channels = 0, border = 0, capacity = 0;
    long first = 0, end = 0;  // padded rows [first, end) are held
    std::vector<float> values;

    row_window(long r, long c, long ch, long b, long cap)
        : rows(r), cols(c), channels(ch), border(b), capacity(cap),
          values(static_cast<size_t>(cap) * static_cast<size_t>((c + 2 * b) * ch), 0.0f) {}
    long row_stride() const { return (cols + 2 * border) * channels; }
    long padded_rows() const { return rows + 2 * border; }
    float *row(long q) { return values.data() + (q - first) * row_stride(); }
    void drop_before(long q) {
        if (q <= first) return;
        const long keep = std::max<long>(0, end - q);
        if (keep > 0) std::memmove(values.data(), row(q), sizeof(float) * static_cast<size_t>(keep * row_stride()));
        first = q;
        end = std::max(end, q);
    }
};

long output_size(long in, const conv_layer &l) { return 1 + (in + 2 * l.padding - l.kernel) / l.stride; }

// Output rows a chunk computes at most: about kChunkBytes of output, so that a chunk's rows are
// still in cache when the next layer reads them, and whole planes for small images (one pass per layer
// as before, with no per-chunk cost).
constexpr long kChunkBytes = 4L << 20;

// The network, streamed: each layer's output is a row_window filled a chunk of rows at a time, when
// the next layer asks for rows it does not hold yet.
class stream {
public:
    stream(const model &m, tiled_pyramid &pyramid, const std::vector<long> &rows, const std::vector<long> &cols,
           fwhog::helper_budget *helpers)
        : m_(m), pyramid_(pyramid), helpers_(helpers) {
        const size_t hidden = m.layers.size() - 1;  // the last layer's output is not kept
        chunk_.resize(m.layers.size());
        for (size_t i = 0; i < m.layers.size(); ++i) {
            const long bytes = (cols[i + 1] + 8) * m.layers[i].out_stride * static_cast<long>(sizeof(float));
            chunk_[i] = std::max<long>(4, std::min(rows[i + 1], kChunkBytes / bytes));
        }
        // The pyramid's rows: three planes per row, no border (the first layer has no padding).
        const conv_layer &l0 = m.layers[0];
        source_ = std::make_unique<row_window>(rows[0], cols[0], 3, 0, (chunk_[0] - 1) * l0.stride + l0.kernel);
        for (size_t i = 0; i < hidden; ++i) {
            const conv_layer &next = m.layers[i + 1];
            // The next layer's chunk reads (chunk - 1) * stride + kernel rows; this layer adds up to a
            // chunk of its own past them.
            const long capacity = (chunk_[i + 1] - 1) * next.stride + next.kernel + chunk_[i];
            windows_.push_back(std::make_unique<row_window>(rows[i + 1], cols[i + 1], m.layers[i].out_stride,
                                                            next.padding, capacity));
        }
    }

    long chunk(size_t layer) const { return chunk_[layer]; }

    // Layer `layer`'s input rows [q0, q1) (padded coordinates), held from q0 on: the pointer to row q0
    // and the input's layout.
    input_plane input(size_t layer, long q0, long q1) {
        if (layer == 0) {
            row_window &w = *source_;
            w.drop_before(q0);
            while (w.end < q1) {
                pyramid_.row(w.end, w.row(w.end));
                ++w.end;
            }
            return input_plane{w.row(q0), w.row_stride(), 1, w.cols};
        }
        row_window &w = *windows_[layer - 1];
        w.drop_before(q0);
        fill(layer - 1, q1);
        return input_plane{w.row(q0), w.row_stride(), w.channels, 1};
    }

    // Computes output rows [r0, r1) of `layer` into `out` (row r0 at out.data), split among helpers.
    void compute(size_t layer, long r0, long r1, const output_plane &out) {
        const conv_layer &l = m_.layers[layer];
        const input_plane in = input(layer, r0 * l.stride, (r1 - 1) * l.stride + l.kernel);
        // A helper takes about 8 rows of 256 pixels at least: one row of a wide image.
        const long min_rows = std::max<long>(1, kMinRowsPerThread * 256 / std::max<long>(out.cols, 1));
        parallel_rows(r1 - r0, helpers_, [&](long a, long b) { convolve_rows(l, in, out, a, b); }, min_rows);
    }

private:
    // Fills layer `layer`'s window up to padded row q1 (exclusive).
    void fill(size_t layer, long q1) {
        row_window &w = *windows_[layer];
        while (w.end < q1) {
            const long q = w.end;
            if (q < w.border || q >= w.border + w.rows) {
                std::fill(w.row(q), w.row(q) + w.row_stride(), 0.0f);
                ++w.end;
                continue;
            }
            const long r0 = q - w.border;
            const long room = w.capacity - (w.end - w.first);
            const long r1 = std::min({w.rows, r0 + chunk_[layer], r0 + room});
            compute(layer, r0, r1, output_plane{w.row(q) + w.border * w.channels, w.row_stride(), w.cols});
            w.end += r1 - r0;
        }
    }

    const model &m_;
    tiled_pyramid &pyramid_;
    fwhog::helper_budget *helpers_;
    std::vector<long> chunk_;
    std::unique_ptr<row_window> source_;
    std::vector<std::unique_ptr<row_window>> windows_;
};

struct window {
    dlib::drectangle rect;
    double confidence;
    bool operator<(const window &other) const { return confidence < other.confidence; }
};

}  // namespace

std::vector<detection> detect(const model &m, const rgb_image &image, int upsample, fwhog::helper_budget *helpers,
                              size_t pyramid_store_limit) {
    std::vector<detection> found;
    if (image.width <= 0 || image.height <= 0) return found;
    tiled_pyramid pyramid(m.input, image, upsample, pyramid_store_limit);
    if (pyramid.rows() == 0 || pyramid.cols() == 0) return found;
    // Where each pyramid level lies in the tiled image: the boxes are mapped back with it.
    const std::vector<dlib::rectangle> &tiles = pyramid.rects();

    // Every plane's size first: a pyramid too small for the network has no detections (dlib's layers
    // would produce empty outputs).
    const size_t layer_count = m.layers.size();
    std::vector<long> rows(layer_count + 1), cols(layer_count + 1);
    rows[0] = pyramid.rows();
    cols[0] = pyramid.cols();
    for (size_t i = 0; i < layer_count; ++i) {
        const conv_layer &l = m.layers[i];
        if (rows[i] + 2 * l.padding < l.kernel || cols[i] + 2 * l.padding < l.kernel) return found;
        rows[i + 1] = output_size(rows[i], l);
        cols[i + 1] = output_size(cols[i], l);
    }

    // The last layer's scores, a chunk of rows at a time, each turned into windows at once.
    stream net(m, pyramid, rows, cols, helpers);
    const size_t last = layer_count - 1;
    const long out_rows = rows[layer_count], out_cols = cols[layer_count];
    std::vector<float> scores(static_cast<size_t>(net.chunk(last) * out_cols));
    const auto &window_size = m.options.detector_windows[0];
    std::vector<window> windows;
    for (long r0 = 0; r0 < out_rows; r0 += net.chunk(last)) {
        const long r1 = std::min(out_rows, r0 + net.chunk(last));
        net.compute(last, r0, r1, output_plane{scores.data(), out_cols, out_cols});
        for (long r = r0; r < r1; ++r) {
            for (long c = 0; c < out_cols; ++c) {
                const double score = scores[static_cast<size_t>((r - r0) * out_cols + c)];
                if (!(score > 0)) continue;
                // output_tensor_to_input_tensor: each convolution maps p to p * stride - padding + kernel / 2.
                dlib::dpoint p(c, r);
                for (size_t i = layer_count; i-- > 0;) {
                    const conv_layer &l = m.layers[i];
                    p = dlib::dpoint(p.x() * l.stride - l.padding + l.kernel / 2,
                                     p.y() * l.stride - l.padding + l.kernel / 2);
                }
                windows.push_back(window{dlib::centered_drect(p, window_size.width, window_size.height), score});
            }
        }
    }

    // loss_mmod_::to_label with adjust_threshold 0: windows mapped through the pyramid, best first,
    // non-max suppressed.
    // input_rgb_image_pyramid::tensor_space_to_image_space.
    for (window &w : windows) w.rect = dlib::tiled_pyramid_to_image<input_pyramid::pyramid_type>(tiles, w.rect);
    std::sort(windows.rbegin(), windows.rend());
    for (const window &w : windows) {
        const dlib::rectangle rect = w.rect;
        const bool suppressed = std::any_of(found.begin(), found.end(), [&](const detection &kept) {
            return m.options.overlaps_nms(kept.rect, rect);
        });
        if (!suppressed) found.push_back(detection{w.confidence, rect});
    }
    return found;
}

}  // namespace fwcnn
