// dlib's tiled input pyramid, row by row (cnn_pyramid.h). The upsampled image's rows come from the
// HOG scanner's bilinear_resizer (dlib's RGB resize_image, bit for bit); the levels' rows from
// float_resize below, dlib's resize_image for float images (the one tt::resize_bilinear runs on each
// channel of the tensor).
#include "cnn_pyramid.h"

#include "../hog/hog_detector.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace fwcnn {

// dlib's resize_image(in, out, interpolate_bilinear) for float images, one output row of one channel
// at a time, at the positions resize_plan computes (the same as for RGB images): columns four float
// lanes at a time until lane 3's right neighbour leaves the image, their weights in float; the
// remaining columns' row weights in double. The per-pixel sums keep dlib's order.
struct tiled_pyramid::float_resize {
    fwhog::resize_plan plan;
    std::vector<float> inv_fracs;  // per SIMD column: 1 - x's fraction, in float as dlib computes it

    float_resize(long in_w, long in_h, long out_w, long out_h) : plan(in_w, in_h, out_w, out_h) {
        inv_fracs.reserve(plan.lane_fracs.size());
        for (const float f : plan.lane_fracs) inv_fracs.push_back(1 - f);
    }

    // dlib's four-lane columns eight at a time with AVX2 gathers: each lane's products and sums are
    // the same float operations in the same order as dlib's (multiplies and adds, never fused), so
    // every value is the same. Returns the first column not done.
    __attribute__((target("avx2"))) long simd_row(float tbf, float inv_tbf, const float *top, const float *bottom,
                                                  float *out) const {
        const __m256 tb = _mm256_set1_ps(tbf), inv_tb = _mm256_set1_ps(inv_tbf);
        long c = 0;
        for (; c + 8 <= plan.simd_columns; c += 8) {
            const size_t i = static_cast<size_t>(c);
            const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(plan.lefts.data() + i));
            const __m256 f = _mm256_loadu_ps(plan.lane_fracs.data() + i), inv_f = _mm256_loadu_ps(inv_fracs.data() + i);
            const __m256 tlf = _mm256_mul_ps(inv_tb, inv_f), trf = _mm256_mul_ps(inv_tb, f);
            const __m256 blf = _mm256_mul_ps(tb, inv_f), brf = _mm256_mul_ps(tb, f);
            const __m256 tl = _mm256_i32gather_ps(top, l, 4), tr = _mm256_i32gather_ps(top + 1, l, 4);
            const __m256 bl = _mm256_i32gather_ps(bottom, l, 4), br = _mm256_i32gather_ps(bottom + 1, l, 4);
            __m256 sum = _mm256_add_ps(_mm256_mul_ps(tlf, tl), _mm256_mul_ps(trf, tr));
            sum = _mm256_add_ps(sum, _mm256_mul_ps(blf, bl));
            sum = _mm256_add_ps(sum, _mm256_mul_ps(brf, br));
            _mm256_storeu_ps(out + c, sum);
        }
        return c;
    }

    void resize_row(long r, const float *top, const float *bottom, float *out) const {
        const double tb = plan.row_fracs[static_cast<size_t>(r)];
        const float tbf = static_cast<float>(tb), inv_tbf = static_cast<float>(1 - tb);
        long c = simd_row(tbf, inv_tbf, top, bottom, out);
        for (; c < plan.simd_columns; ++c) {
            const size_t i = static_cast<size_t>(c);
            const int32_t l = plan.lefts[i];
            const float f = plan.lane_fracs[i];
            const float tlf = inv_tbf * inv_fracs[i], trf = inv_tbf * f;
            const float blf = tbf * inv_fracs[i], brf = tbf * f;
            out[c] = tlf * top[l] + trf * top[l + 1] + blf * bottom[l] + brf * bottom[l + 1];
        }
        for (c = plan.simd_columns; c < plan.out_width; ++c) {
            const long l = plan.lefts[static_cast<size_t>(c)], rr = plan.tail_right(c);
            // dlib's lr_frac is a float here (a double for RGB images).
            const float f = static_cast<float>(plan.tail_fracs[static_cast<size_t>(c - plan.simd_columns)]);
            const float temp = (1 - tb) * ((1 - f) * top[l] + f * top[rr]) + tb * ((1 - f) * bottom[l] + f * bottom[rr]);
            out[c] = temp;
        }
    }
};

namespace {

// The last two rows a stream computed, so that its reader's top and bottom rows are both at hand.
template <typename T>
struct two_rows {
    long index[2] = {-1, -1};
    std::vector<T> values[2];

    explicit two_rows(size_t size) {
        values[0].resize(size);
        values[1].resize(size);
    }
    const T *find(long r) const {
        for (int k = 0; k < 2; ++k) {
            if (index[k] == r) return values[k].data();
        }
        return nullptr;
    }
    // The slot of the older row (rows are asked for in increasing order).
    T *replace(long r) {
        const int k = index[0] <= index[1] ? 0 : 1;
        index[k] = r;
        return values[k].data();
    }
};

}  // namespace

// The image doubled by pyramid_up once more than `prev` (or than the image when null), row by row.
struct tiled_pyramid::byte_stream {
    byte_stream *prev;
    const rgb_image *image;
    fwhog::bilinear_resizer resizer;
    two_rows<uint8_t> rows;

    byte_stream(byte_stream *p, const rgb_image *img, long in_w, long in_h, long out_w, long out_h)
        : prev(p), image(img), resizer(in_w, in_h, out_w, out_h), rows(static_cast<size_t>(out_w) * 3) {}

    const uint8_t *input_row(long y) const {
        return prev != nullptr ? prev->row(y) : image->data + static_cast<size_t>(y) * static_cast<size_t>(image->width) * 3;
    }
    const uint8_t *row(long r) {
        if (const uint8_t *found = rows.find(r)) return found;
        const uint8_t *top = input_row(resizer.top_row(r));
        const uint8_t *bottom = input_row(resizer.bottom_row(r));
        uint8_t *out = rows.replace(r);
        resizer.resize_row(r, top, bottom, out);
        return out;
    }
};

// One pyramid level, row by row: three planes of `width` floats per row (red, green, blue). Level 0
// converts the (upsampled) image's bytes as input_rgb_image_pyramid::to_tensor does; later levels
// resize the level before.
struct tiled_pyramid::level_stream {
    long width;
    level_stream *prev;               // levels from 1
    const float_resize *resize;       // levels from 1
    byte_stream *bytes;               // level 0: the upsampled image (null: the image itself)
    const rgb_image *image;
    const float *average;
    two_rows<float> rows;

    level_stream(long w, level_stream *p, const float_resize *rs, byte_stream *b, const rgb_image *img, const float *avg)
        : width(w), prev(p), resize(rs), bytes(b), image(img), average(avg), rows(static_cast<size_t>(w) * 3) {}

    const float *row(long r) {
        if (const float *found = rows.find(r)) return found;
        if (prev == nullptr) {
            const uint8_t *in = bytes != nullptr
                                    ? bytes->row(r)
                                    : image->data + static_cast<size_t>(r) * static_cast<size_t>(image->width) * 3;
            float *out = rows.replace(r);
            for (int ch = 0; ch < 3; ++ch) {
                float *plane = out + ch * width;
                const float avg = average[ch];
                for (long c = 0; c < width; ++c) plane[c] = static_cast<float>((in[c * 3 + ch] - avg) / 256.0);
            }
            return out;
        }
        const float *top = prev->row(resize->plan.tops[static_cast<size_t>(r)]);
        const float *bottom = prev->row(resize->plan.bottom_row(r));
        float *out = rows.replace(r);
        const long in_width = prev->width;
        for (int ch = 0; ch < 3; ++ch) resize->resize_row(r, top + ch * in_width, bottom + ch * in_width, out + ch * width);
        return out;
    }
};

struct tiled_pyramid::chain {
    std::vector<std::unique_ptr<byte_stream>> bytes;
    std::vector<std::unique_ptr<level_stream>> levels;
};

tiled_pyramid::tiled_pyramid(const input_pyramid &input, rgb_image image, int upsample, size_t store_limit)
    : image_(image), upsample_(upsample) {
    average_[0] = input.get_avg_red();
    average_[1] = input.get_avg_green();
    average_[2] = input.get_avg_blue();
    long width = image.width, height = image.height;
    for (int i = 0; i < upsample; ++i) fwhog::pyramid_up_size(width, height, width, height);
    input_pyramid::pyramid_type pyr;
    dlib::impl::compute_tiled_image_pyramid_details(pyr, height, width, input.get_pyramid_padding(),
                                                    input.get_pyramid_outer_padding(), rects_, rows_, cols_);
    const size_t levels = rects_.size();
    resizes_.resize(levels);
    for (size_t i = 1; i < levels; ++i) {
        resizes_[i] = std::make_unique<float_resize>(rects_[i - 1].width(), rects_[i - 1].height(), rects_[i].width(),
                                                     rects_[i].height());
    }
    chains_.resize(levels);
    if (store_limit == kAutomaticPyramidStoreLimit) {
        const size_t pixels = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
        store_limit = std::max(kPyramidStoreMinimum, kPyramidStoreBytesPerPixel * pixels);
    }

    // The levels stored: the most that fit the limit, from the smallest up.
    first_stored_ = levels;
    size_t stored_bytes = 0;
    while (first_stored_ > 0) {
        const dlib::rectangle &r = rects_[first_stored_ - 1];
        const size_t bytes = static_cast<size_t>(r.width()) * static_cast<size_t>(r.height()) * 3 * sizeof(float);
        if (stored_bytes + bytes > store_limit) break;
        stored_bytes += bytes;
        --first_stored_;
    }
    if (first_stored_ == levels) return;
    stored_.resize(levels - first_stored_);
    {
        level_stream &first = chain_for(first_stored_);
        const long w = rects_[first_stored_].width(), h = rects_[first_stored_].height();
        std::vector<float> &store = stored_[0];
        store.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
        for (long r = 0; r < h; ++r) {
            const float *row = first.row(r);
            std::copy(row, row + 3 * w, store.begin() + r * 3 * w);
        }
        chains_[first_stored_].reset();
    }
    for (size_t i = first_stored_ + 1; i < levels; ++i) {
        const float_resize &rs = *resizes_[i];
        const std::vector<float> &in = stored_[i - 1 - first_stored_];
        std::vector<float> &out = stored_[i - first_stored_];
        out.resize(static_cast<size_t>(rs.plan.out_width) * static_cast<size_t>(rs.plan.out_height) * 3);
        for (long r = 0; r < rs.plan.out_height; ++r) {
            const float *top = in.data() + rs.plan.tops[static_cast<size_t>(r)] * 3 * rs.plan.in_width;
            const float *bottom = in.data() + rs.plan.bottom_row(r) * 3 * rs.plan.in_width;
            for (long ch = 0; ch < 3; ++ch) {
                rs.resize_row(r, top + ch * rs.plan.in_width, bottom + ch * rs.plan.in_width,
                              out.data() + (r * 3 + ch) * rs.plan.out_width);
            }
        }
    }
}

tiled_pyramid::~tiled_pyramid() = default;

tiled_pyramid::level_stream &tiled_pyramid::chain_for(size_t level) {
    std::unique_ptr<chain> &c = chains_[level];
    if (!c) {
        c = std::make_unique<chain>();
        long w = image_.width, h = image_.height;
        byte_stream *bytes = nullptr;
        for (int i = 0; i < upsample_; ++i) {
            long up_w = 0, up_h = 0;
            fwhog::pyramid_up_size(w, h, up_w, up_h);
            c->bytes.push_back(std::make_unique<byte_stream>(bytes, &image_, w, h, up_w, up_h));
            bytes = c->bytes.back().get();
            w = up_w;
            h = up_h;
        }
        level_stream *prev = nullptr;
        for (size_t i = 0; i <= level; ++i) {
            c->levels.push_back(std::make_unique<level_stream>(rects_[i].width(), prev, resizes_[i].get(), bytes,
                                                               &image_, average_));
            prev = c->levels.back().get();
        }
    }
    return *c->levels.back();
}

void tiled_pyramid::row(long t, float *out) {
    std::fill(out, out + 3 * cols_, 0.0f);
    for (size_t i = 0; i < rects_.size(); ++i) {
        const dlib::rectangle &rect = rects_[i];
        if (t < rect.top() || t > rect.bottom()) continue;
        const long r = t - rect.top(), w = rect.width();
        const float *in;
        if (i >= first_stored_) {
            in = stored_[i - first_stored_].data() + r * 3 * w;
        } else {
            in = chain_for(i).row(r);
            if (t == rect.bottom()) {
                // Copy before the chain goes: its rows are its own.
                for (int ch = 0; ch < 3; ++ch) std::copy(in + ch * w, in + (ch + 1) * w, out + ch * cols_ + rect.left());
                chains_[i].reset();
                continue;
            }
        }
        for (int ch = 0; ch < 3; ++ch) std::copy(in + ch * w, in + (ch + 1) * w, out + ch * cols_ + rect.left());
    }
}

}  // namespace fwcnn
