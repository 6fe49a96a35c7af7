// The pixel steps of the pyramid: dlib's bilinear resize_image for RGB images, which both pyramid_up
// and pyramid_down<6> call, reproduced bit for bit. Pixels round to integers, so one ulp anywhere
// changes boxes: every rounding below is the one dlib's code makes (its SIMD columns in float, four
// lanes, the x positions accumulated in float; its last columns in double; truncation to bytes). The
// positions and fractions are resize_plan's (resize_plan.cpp), which the CNN's float levels share.
#include "hog_detector.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace fwhog {

bilinear_resizer::bilinear_resizer(long in_width, long in_height, long out_width, long out_height)
    : plan_(in_width, in_height, out_width, out_height) {
    // Blocks of 8 SIMD columns whose halves take their pixels with shuffles (expanded()): each half's
    // left neighbours within 5 pixels of its first, and the 16 bytes read from that pixel's right
    // neighbour inside the row.
    const std::vector<int32_t> &lefts = plan_.lefts;
    shuffled_blocks_.assign(static_cast<size_t>(plan_.simd_columns / 8), 0);
    for (size_t b = 0; b < shuffled_blocks_.size(); ++b) {
        const size_t first = b * 8;
        const bool near = lefts[first + 3] - lefts[first] <= 4 && lefts[first + 7] - lefts[first + 4] <= 4;
        const bool inside = 3 * static_cast<long>(lefts[first + 4]) + 3 + 16 <= 3 * in_width;
        shuffled_blocks_[b] = near && inside ? 1 : 0;
    }
}

const float *bilinear_resizer::expanded(long y, const uint8_t *row, long keep) {
    for (expanded_row &e : expanded_) {
        if (e.row == y) return e.values.data();
    }
    expanded_row &e = expanded_[0].row == keep ? expanded_[1] : expanded_[0];
    e.row = y;
    const long blocks = plan_.simd_columns / 8;
    e.values.resize(static_cast<size_t>(blocks) * 48);
    // Most blocks (every block of a pyramid_down<6> or pyramid_up step but the last ones) take their
    // pixels with byte shuffles: each half block's left neighbours lie within 16 bytes from its first
    // left neighbour, its right neighbours within 16 bytes from that pixel's right neighbour, and a
    // shuffle moves each channel's byte into the low byte of an int32 lane. The others gather: each
    // gather reads the 32 bits that end with a pixel's blue byte (from one byte before its red, so
    // never past the row's last byte). Blocks whose first left neighbour is column 0 are skipped.
    const int *base = reinterpret_cast<const int *>(row - 1);
    const __m256i byte_mask = _mm256_set1_epi32(0xff);
    const __m256i half_first = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    const __m256i zero_upper_bytes = _mm256_set1_epi32(static_cast<int>(0x80808000u));
    for (long b = 0; b < blocks; ++b) {
        const long c = b * 8;
        if (plan_.lefts[static_cast<size_t>(c)] < 1) continue;
        const __m256i left = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(plan_.lefts.data() + c));
        float *dst = e.values.data() + b * 48;
        if (shuffled_blocks_[static_cast<size_t>(b)] != 0) {
            const uint8_t *low = row + 3 * plan_.lefts[static_cast<size_t>(c)];
            const uint8_t *high = row + 3 * plan_.lefts[static_cast<size_t>(c) + 4];
            const __m256i lefts_bytes = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(low))),
                _mm_loadu_si128(reinterpret_cast<const __m128i *>(high)), 1);
            const __m256i rights_bytes = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(low + 3))),
                _mm_loadu_si128(reinterpret_cast<const __m128i *>(high + 3)), 1);
            const __m256i offset = _mm256_sub_epi32(left, _mm256_permutevar8x32_epi32(left, half_first));
            const __m256i at = _mm256_add_epi32(offset, _mm256_add_epi32(offset, offset));
            for (int ch = 0; ch < 3; ++ch) {
                const __m256i shuffle = _mm256_or_si256(_mm256_add_epi32(at, _mm256_set1_epi32(ch)), zero_upper_bytes);
                _mm256_storeu_ps(dst + ch * 8, _mm256_cvtepi32_ps(_mm256_shuffle_epi8(lefts_bytes, shuffle)));
                _mm256_storeu_ps(dst + 24 + ch * 8, _mm256_cvtepi32_ps(_mm256_shuffle_epi8(rights_bytes, shuffle)));
            }
            continue;
        }
        const __m256i at_left = _mm256_mullo_epi32(left, _mm256_set1_epi32(3));
        const __m256i at_right = _mm256_add_epi32(at_left, _mm256_set1_epi32(3));
        const __m256i l = _mm256_i32gather_epi32(base, at_left, 1);
        const __m256i rt = _mm256_i32gather_epi32(base, at_right, 1);
        for (int ch = 0; ch < 3; ++ch) {
            const int shift = 8 * (ch + 1);
            _mm256_storeu_ps(dst + ch * 8, _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(l, shift), byte_mask)));
            _mm256_storeu_ps(dst + 24 + ch * 8,
                             _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(rt, shift), byte_mask)));
        }
    }
    return e.values.data();
}

void bilinear_resizer::resize_row(long r, const uint8_t *top, const uint8_t *bottom, uint8_t *out) {
    const double tb_frac = plan_.row_fracs[static_cast<size_t>(r)];
    const float tb = static_cast<float>(tb_frac);
    const float inv_tb = static_cast<float>(1 - tb_frac);
    long c = 0;
    // Eight columns at a time where every left neighbour is past column 0, from the input rows'
    // pixels already spread into float lanes (each input row serves several output rows); the
    // lanes compute exactly the scalar loop's float expression in resize_columns.
    const __m256 tb8 = _mm256_set1_ps(tb), inv_tb8 = _mm256_set1_ps(inv_tb), one = _mm256_set1_ps(1.0f);
    const long top_y = plan_.tops[static_cast<size_t>(r)], bottom_y = bottom_row(r);
    const float *top_values = expanded(top_y, top, bottom_y);
    const float *bottom_values = expanded(bottom_y, bottom, top_y);
    for (; c + 8 <= plan_.simd_columns; c += 8) {
        if (plan_.lefts[static_cast<size_t>(c)] < 1) {
            resize_columns(c, c + 8, tb, inv_tb, top, bottom, out);
            continue;
        }
        const float *t = top_values + (c / 8) * 48;
        const float *b = bottom_values + (c / 8) * 48;
        const __m256 lr = _mm256_loadu_ps(plan_.lane_fracs.data() + c);
        const __m256 inv_lr = _mm256_sub_ps(one, lr);
        const __m256 tlf = _mm256_mul_ps(inv_tb8, inv_lr);
        const __m256 trf = _mm256_mul_ps(inv_tb8, lr);
        const __m256 blf = _mm256_mul_ps(tb8, inv_lr);
        const __m256 brf = _mm256_mul_ps(tb8, lr);
        __m256i channel[3];
        for (int ch = 0; ch < 3; ++ch) {
            __m256 value = _mm256_add_ps(_mm256_mul_ps(tlf, _mm256_loadu_ps(t + ch * 8)),
                                         _mm256_mul_ps(trf, _mm256_loadu_ps(t + 24 + ch * 8)));
            value = _mm256_add_ps(value, _mm256_mul_ps(blf, _mm256_loadu_ps(b + ch * 8)));
            value = _mm256_add_ps(value, _mm256_mul_ps(brf, _mm256_loadu_ps(b + 24 + ch * 8)));
            channel[ch] = _mm256_cvttps_epi32(value);
        }
        // To bytes (the values are in 0..255, so saturation is truncation), interleaved as RGB:
        // each 128-bit lane holds 4 pixels' r, g, b after the packs; one shuffle orders them.
        const __m256i rg16 = _mm256_packus_epi32(channel[0], channel[1]);
        const __m256i bb16 = _mm256_packus_epi32(channel[2], channel[2]);
        const __m256i bytes = _mm256_packus_epi16(rg16, bb16);
        const __m256i order = _mm256_setr_epi8(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1,
                                               0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1);
        const __m256i rgb = _mm256_shuffle_epi8(bytes, order);
        uint8_t *dst = out + c * 3;
        if ((c + 8) * 3 + 8 <= plan_.out_width * 3) {
            // The 24 bytes moved together and stored at once; the 8 bytes after them are the next
            // columns of this row, written after (never another row: strips write rows in parallel).
            const __m256i packed = _mm256_permutevar8x32_epi32(rgb, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7));
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst), packed);
        } else {
            alignas(32) uint8_t packed[32];
            _mm256_store_si256(reinterpret_cast<__m256i *>(packed), rgb);
            std::memcpy(dst, packed, 12);
            std::memcpy(dst + 12, packed + 16, 12);
        }
    }
    resize_columns(c, plan_.simd_columns, tb, inv_tb, top, bottom, out);
    for (long c = plan_.simd_columns; c < plan_.out_width; ++c) {
        const long left = plan_.lefts[static_cast<size_t>(c)];
        const long right = std::min(left + 1, plan_.in_width - 1);
        const double lr = plan_.tail_fracs[static_cast<size_t>(c - plan_.simd_columns)];
        for (int ch = 0; ch < 3; ++ch) {
            const double tl = top[left * 3 + ch], tr = top[right * 3 + ch];
            const double bl = bottom[left * 3 + ch], br = bottom[right * 3 + ch];
            const double value = (1 - tb_frac) * ((1 - lr) * tl + lr * tr) + tb_frac * ((1 - lr) * bl + lr * br);
            out[c * 3 + ch] = static_cast<uint8_t>(value);
        }
    }
}

void bilinear_resizer::resize_columns(long from, long to, float tb, float inv_tb, const uint8_t *top,
                                      const uint8_t *bottom, uint8_t *out) const {
    for (long c = from; c < to; ++c) {
        const long left = plan_.lefts[static_cast<size_t>(c)];
        const long right = left + 1;
        const float lr = plan_.lane_fracs[static_cast<size_t>(c)];
        const float inv_lr = 1.0f - lr;
        const float tlf = inv_tb * inv_lr;
        const float trf = inv_tb * lr;
        const float blf = tb * inv_lr;
        const float brf = tb * lr;
        for (int ch = 0; ch < 3; ++ch) {
            const float tl = top[left * 3 + ch], tr = top[right * 3 + ch];
            const float bl = bottom[left * 3 + ch], br = bottom[right * 3 + ch];
            const float value = tlf * tl + trf * tr + blf * bl + brf * br;
            out[c * 3 + ch] = static_cast<uint8_t>(static_cast<int32_t>(value));
        }
    }
}

void pyramid_up_size(long width, long height, long &out_width, long &out_height) {
    // dlib: rect_up(get_rect(img)) with pyramid_down<2> maps a corner p to (p + (1.25, 0.75)) * 2, and
    // the image gets bottom+1 rows and right+1 columns of that rectangle, rounded as dlib rounds.
    const double right = (static_cast<double>(width - 1) + 1.25) * 2;
    const double bottom = (static_cast<double>(height - 1) + 0.75) * 2;
    const long r = static_cast<long>(std::floor(right + 0.5));
    const long b = static_cast<long>(std::floor(bottom + 0.5));
    const long l = static_cast<long>(std::floor(1.25 * 2 + 0.5));
    const long t = static_cast<long>(std::floor(0.75 * 2 + 0.5));
    if (l > r || t > b) {
        out_width = 0;
        out_height = 0;
        return;
    }
    out_width = r + 1;
    out_height = b + 1;
}

void pyramid_down6_size(long width, long height, long &out_width, long &out_height) {
    // dlib: ((N-1)*n)/N + 0.5 converted to long, with N = 6.
    out_width = static_cast<long>((5 * width) / 6 + 0.5);
    out_height = static_cast<long>((5 * height) / 6 + 0.5);
}

}  // namespace fwhog
