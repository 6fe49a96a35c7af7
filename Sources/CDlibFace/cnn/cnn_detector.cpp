// The forward pass and dlib's mmod output rules. The three stride-2 layers (the downsampler) run
// together in bands of their output rows, so their two larger outputs (16 and 8 bytes per pyramid
// pixel) exist only for a band at a time; the stride-1 layers, at an eighth of the pyramid's width
// and height, run over whole planes.
#include "cnn_detector.h"

#include "cnn_convolution.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fwcnn {
namespace {

// Output rows a helper thread takes at least (a thread's start costs about as much as a few rows).
constexpr long kMinRowsPerThread = 8;

// Downsampler output rows per band: the band's first two layers compute (2 × 16 + 3) and
// (4 × 16 + 9) rows for 32 and 64 (the halo, computed again by the next band, costs 3% of the
// network), and the band's scratch stays within a few MiB for images of a few thousand pixels wide.
constexpr long kBandRows = 16;

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

// A layer's output plane with a zero border of `border` pixels (the next layer's padding).
struct plane {
    long rows = 0, cols = 0, channels = 0, border = 0;
    std::vector<float> values;

    plane(long r, long c, long ch, long b)
        : rows(r), cols(c), channels(ch), border(b),
          values(static_cast<size_t>(r + 2 * b) * static_cast<size_t>(c + 2 * b) * static_cast<size_t>(ch), 0.0f) {}
    long row_stride() const { return (cols + 2 * border) * channels; }
    input_plane as_input() const { return input_plane{values.data(), row_stride(), channels, 1}; }
    output_plane as_output() {
        return output_plane{values.data() + border * row_stride() + border * channels, row_stride(), cols};
    }
};

long output_size(long in, const conv_layer &l) { return 1 + (in + 2 * l.padding - l.kernel) / l.stride; }

// Input rows [first, last) of a layer's output rows [first, last): with padding 0 (the downsampler),
// output row y reads input rows y * stride .. y * stride + kernel - 1.
long first_input_row(const conv_layer &l, long first) { return first * l.stride; }
long input_rows(const conv_layer &l, long count) { return (count - 1) * l.stride + l.kernel; }

// Layers 0..2 (padding 0) for downsampler output rows [first, last), written to `out`; the first two
// layers' rows go through `scratch`, this thread's.
void downsample_band(const model &m, const input_plane &in, const std::vector<long> &cols, long first, long last,
                     const output_plane &out, std::vector<float> &scratch) {
    const conv_layer &l0 = m.layers[0], &l1 = m.layers[1], &l2 = m.layers[2];
    const long rows2 = last - first;
    const long rows1 = input_rows(l2, rows2);
    const long rows0 = input_rows(l1, rows1);
    const long first1 = first_input_row(l2, first);
    const long first0 = first_input_row(l1, first1);
    const size_t size0 = static_cast<size_t>(rows0) * static_cast<size_t>(cols[1] * l0.out_stride);
    const size_t size1 = static_cast<size_t>(rows1) * static_cast<size_t>(cols[2] * l1.out_stride);
    if (scratch.size() < size0 + size1) scratch.resize(size0 + size1);
    float *const band0 = scratch.data();
    float *const band1 = band0 + size0;
    // Each layer's rows start at the band's first: shift the input instead of the output rows.
    const input_plane in0{in.data + first_input_row(l0, first0) * in.row_stride, in.row_stride, in.pixel_stride,
                          in.channel_stride};
    convolve_rows(l0, in0, output_plane{band0, cols[1] * l0.out_stride, cols[1]}, 0, rows0);
    convolve_rows(l1, input_plane{band0, cols[1] * l0.out_stride, l0.out_stride, 1},
                  output_plane{band1, cols[2] * l1.out_stride, cols[2]}, 0, rows1);
    convolve_rows(l2, input_plane{band1, cols[2] * l1.out_stride, l1.out_stride, 1},
                  output_plane{out.data + first * out.row_stride, out.row_stride, out.cols}, 0, rows2);
}

struct window {
    dlib::drectangle rect;
    double confidence;
    bool operator<(const window &other) const { return confidence < other.confidence; }
};

}  // namespace

std::vector<detection> detect(const model &m, const dlib::matrix<dlib::rgb_pixel> &image,
                              fwhog::helper_budget *helpers) {
    std::vector<detection> found;
    dlib::resizable_tensor input;
    const dlib::matrix<dlib::rgb_pixel> *first = &image;
    m.input.to_tensor(first, first + 1, input);
    if (input.size() == 0) return found;
    // Where each pyramid level lies in the tiled image: the boxes are mapped back with it.
    const std::vector<dlib::rectangle> tiles = dlib::any_cast<std::vector<dlib::rectangle>>(input.annotation());

    // Every plane's size first: a pyramid too small for the network has no detections (dlib's layers
    // would produce empty outputs).
    const size_t layer_count = m.layers.size();
    std::vector<long> rows(layer_count + 1), cols(layer_count + 1);
    rows[0] = input.nr();
    cols[0] = input.nc();
    for (size_t i = 0; i < layer_count; ++i) {
        const conv_layer &l = m.layers[i];
        if (rows[i] + 2 * l.padding < l.kernel || cols[i] + 2 * l.padding < l.kernel) return found;
        rows[i + 1] = output_size(rows[i], l);
        cols[i + 1] = output_size(cols[i], l);
    }

    // The downsampler, band by band, from dlib's tensor: three planes, red, green, blue.
    constexpr size_t kDownsampler = 3;
    auto previous = std::make_unique<plane>(rows[kDownsampler], cols[kDownsampler],
                                            m.layers[kDownsampler - 1].out_stride, m.layers[kDownsampler].padding);
    {
        const input_plane pyramid{input.host(), input.nc(), 1, input.nr() * input.nc()};
        const output_plane target = previous->as_output();
        const long bands = (rows[kDownsampler] + kBandRows - 1) / kBandRows;
        parallel_rows(
            bands, helpers,
            [&](long b0, long b1) {
                std::vector<float> scratch;
                for (long b = b0; b < b1; ++b) {
                    downsample_band(m, pyramid, cols, b * kBandRows, std::min(rows[kDownsampler], (b + 1) * kBandRows),
                                    target, scratch);
                }
            },
            1);
        input.clear();  // only the first layer reads the pyramid
    }
    input_plane in = previous->as_input();
    for (size_t i = kDownsampler; i < layer_count; ++i) {
        const conv_layer &l = m.layers[i];
        const long border = i + 1 < layer_count ? m.layers[i + 1].padding : 0;
        auto out = std::make_unique<plane>(rows[i + 1], cols[i + 1], l.out_stride, border);
        const output_plane target = out->as_output();
        parallel_rows(rows[i + 1], helpers, [&](long r0, long r1) { convolve_rows(l, in, target, r0, r1); });
        previous = std::move(out);
        in = previous->as_input();
    }

    // loss_mmod_::to_label with adjust_threshold 0.
    const auto &window_size = m.options.detector_windows[0];
    std::vector<window> windows;
    const float *scores = previous->values.data();
    for (long r = 0; r < rows[layer_count]; ++r) {
        for (long c = 0; c < cols[layer_count]; ++c) {
            const double score = scores[r * cols[layer_count] + c];
            if (!(score > 0)) continue;
            // output_tensor_to_input_tensor: each convolution maps p to p * stride - padding + kernel / 2.
            dlib::dpoint p(c, r);
            for (size_t i = layer_count; i-- > 0;) {
                const conv_layer &l = m.layers[i];
                p = dlib::dpoint(p.x() * l.stride - l.padding + l.kernel / 2, p.y() * l.stride - l.padding + l.kernel / 2);
            }
            dlib::drectangle rect = dlib::centered_drect(p, window_size.width, window_size.height);
            windows.push_back(window{rect, score});
        }
    }
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
