// resize_plan.h: the positions dlib's bilinear resize_image computes, in its order and precision.
#include "resize_plan.h"

#include <algorithm>
#include <cmath>

namespace fwhog {

resize_plan::resize_plan(long in_w, long in_h, long out_w, long out_h)
    : in_width(in_w), in_height(in_h), out_width(out_w), out_height(out_h) {
    const double x_scale = (in_w - 1) / static_cast<double>(std::max<long>(out_w - 1, 1));
    const double y_scale = (in_h - 1) / static_cast<double>(std::max<long>(out_h - 1, 1));

    // Rows: y accumulated in double, one y_scale per row.
    tops.resize(static_cast<size_t>(out_h));
    row_fracs.resize(static_cast<size_t>(out_h));
    double y = -y_scale;
    for (long r = 0; r < out_h; ++r) {
        y += y_scale;
        const long top = static_cast<long>(std::floor(y));
        tops[static_cast<size_t>(r)] = top;
        row_fracs[static_cast<size_t>(r)] = y - top;
    }

    // Columns: four float lanes advanced by a float 4*x_scale until a lane's right neighbour would
    // leave the image; the remaining columns restart from a double x.
    lefts.resize(static_cast<size_t>(out_w));
    const double x0 = -4 * x_scale;
    float lanes[4] = {static_cast<float>(x0), static_cast<float>(x0 + x_scale), static_cast<float>(x0 + 2 * x_scale),
                      static_cast<float>(x0 + 3 * x_scale)};
    const float step = static_cast<float>(4 * x_scale);
    long c = 0;
    for (;; c += 4) {
        int32_t left[4];
        float frac[4];
        for (int k = 0; k < 4; ++k) {
            lanes[k] += step;
            left[k] = static_cast<int32_t>(lanes[k]);  // cvttps: truncation
            frac[k] = lanes[k] - static_cast<float>(left[k]);
        }
        if (left[3] + 1 >= in_w) break;
        // dlib writes out_img[r][c..c+3] without checking c+3 < out_width: x reaches the right
        // edge before c does (x_scale <= 1 needs out_width >= in_width, > 1 reaches it sooner).
        for (int k = 0; k < 4; ++k) {
            if (c + k < out_w) {
                lefts[static_cast<size_t>(c + k)] = left[k];
                lane_fracs.push_back(frac[k]);
            }
        }
    }
    simd_columns = std::min(c, out_w);
    double x = -x_scale + static_cast<double>(c) * x_scale;
    for (; c < out_w; ++c) {
        x += x_scale;
        const long left = static_cast<long>(std::floor(x));
        lefts[static_cast<size_t>(c)] = static_cast<int32_t>(left);
        tail_fracs.push_back(x - left);
    }
}

}  // namespace fwhog
