// Where dlib's bilinear resize_image reads: the same for its RGB version (pyramid_up and
// pyramid_down<6> of the HOG scanner, the CNN's upsampling) and its float version (the CNN pyramid's
// levels), so both resizers take it from here.
#ifndef FACEWATCH_RESIZE_PLAN_H
#define FACEWATCH_RESIZE_PLAN_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fwhog {

/// dlib's resize_image(in, out, interpolate_bilinear) from in_width × in_height to out_width ×
/// out_height: for each output row, its top input row and fraction (y accumulated in double, one
/// y_scale per row); for each output column, its left input column and fraction. dlib computes the
/// first columns four float lanes at a time (x accumulated in float, truncated) until lane 3's right
/// neighbour would leave the image, and the rest from a double x: lane_fracs are float, tail_fracs
/// double, exactly as dlib rounds them.
struct resize_plan {
    resize_plan(long in_width, long in_height, long out_width, long out_height);

    long in_width, in_height, out_width, out_height;
    long simd_columns = 0;            // columns dlib computes four at a time, in float; the rest in double
    std::vector<long> tops;           // per row
    std::vector<double> row_fracs;    // per row: y - top
    std::vector<int32_t> lefts;       // per column
    std::vector<float> lane_fracs;    // per SIMD column: x - left, in float
    std::vector<double> tail_fracs;   // per tail column (from simd_columns): x - left, in double

    /// The lower input row output row `r` reads.
    long bottom_row(long r) const { return std::min(tops[static_cast<size_t>(r)] + 1, in_height - 1); }
    /// The right input column of tail column `c` (c >= simd_columns).
    long tail_right(long c) const {
        return std::min(static_cast<long>(lefts[static_cast<size_t>(c)]) + 1, in_width - 1);
    }
};

}  // namespace fwhog

#endif
