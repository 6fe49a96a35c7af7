// The HOG scanner's stages against dlib's, for the tests: the same input through both, every output
// value compared (bit for bit where the scanner keeps dlib's arithmetic, by the largest difference
// where it reorders sums). Test support only; the scanner itself never calls dlib's stages.
#include "../CDlibFace/dlib_configuration.h"

#include "hog_stage_checks.h"

#include "../CDlibFace/hog/hog_detector.h"
#include "../CDlibFace/hog/hog_model_from_dlib.h"
#include "../CDlibFace/cnn/cnn_pyramid.h"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

namespace {

using rgb_array = dlib::array2d<dlib::rgb_pixel>;

rgb_array to_dlib(const uint8_t *rgb, long width, long height) {
    rgb_array img(height, width);
    if (width > 0 && height > 0) std::memcpy(&img[0][0], rgb, static_cast<size_t>(width * height * 3));
    return img;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

struct image_rows : fwhog::fhog_rows::row_source {
    fwhog::rgb_view view;
    const uint8_t *row(long y) override { return view.row(y); }
};

// Runs `body`, turning any exception into -1.
template <typename Body>
long guarded(Body &&body) {
    try {
        return body();
    } catch (...) {
        return -1;
    }
}

}  // namespace

extern "C" long hsc_resize_differences(const uint8_t *rgb, int32_t width, int32_t height, int32_t out_width,
                                       int32_t out_height) {
    return guarded([&]() -> long {
        const rgb_array in = to_dlib(rgb, width, height);
        rgb_array expected(out_height, out_width);
        dlib::resize_image(in, expected);
        fwhog::bilinear_resizer resizer(width, height, out_width, out_height);
        std::vector<uint8_t> row(static_cast<size_t>(out_width) * 3);
        long differences = 0;
        for (long r = 0; r < out_height; ++r) {
            resizer.resize_row(r, rgb + resizer.top_row(r) * width * 3, rgb + resizer.bottom_row(r) * width * 3,
                               row.data());
            const uint8_t *want = reinterpret_cast<const uint8_t *>(&expected[r][0]);
            for (size_t i = 0; i < row.size(); ++i) differences += row[i] != want[i] ? 1 : 0;
        }
        return differences;
    });
}

extern "C" long hsc_pyramid_size_differences(int32_t width, int32_t height) {
    return guarded([&]() -> long {
        const rgb_array in(height, width);
        rgb_array up, down;
        dlib::pyramid_down<2> pyr2;
        dlib::pyramid_up(in, up, pyr2);
        dlib::pyramid_down<6> pyr6;
        pyr6(in, down);
        long up_w = 0, up_h = 0, down_w = 0, down_h = 0;
        fwhog::pyramid_up_size(width, height, up_w, up_h);
        fwhog::pyramid_down6_size(width, height, down_w, down_h);
        return up_w == up.nc() && up_h == up.nr() && down_w == down.nc() && down_h == down.nr() ? 0 : 1;
    });
}

namespace {

// Our 31 fhog planes of the image, computed in bands of `band_rows` rows, as dlib lays them out
// ([plane][row * plane_cols + col]); empty when the image is too small for features.
std::vector<std::vector<float>> our_planes(const uint8_t *rgb, long width, long height, long band_rows) {
    fwhog::fhog_rows ours(width, height, 10, 10);
    if (ours.plane_rows() == 0) return {};
    image_rows source;
    source.view = fwhog::rgb_view{rgb, width, height};
    const long cols = ours.plane_cols();
    const size_t stride = static_cast<size_t>(band_rows) * static_cast<size_t>(cols);
    std::vector<float> band(31 * stride);
    std::vector<std::vector<float>> planes(31, std::vector<float>(static_cast<size_t>(ours.plane_rows() * cols)));
    for (long first = 0; first < ours.plane_rows(); first += band_rows) {
        const long last = std::min<long>(first + band_rows, ours.plane_rows());
        ours.compute(source, first, last, band.data(), stride);
        for (size_t p = 0; p < 31; ++p) {
            std::memcpy(planes[p].data() + first * cols, band.data() + p * stride,
                        sizeof(float) * static_cast<size_t>((last - first) * cols));
        }
    }
    return planes;
}

}  // namespace

extern "C" double hsc_fhog_max_difference(const uint8_t *rgb, int32_t width, int32_t height, int32_t band_rows) {
    try {
        const rgb_array in = to_dlib(rgb, width, height);
        dlib::array<dlib::array2d<float>> expected;
        dlib::extract_fhog_features(in, expected, 8, 10, 10);
        const fwhog::fhog_rows geometry(width, height, 10, 10);
        if (geometry.plane_rows() != expected[0].nr() || geometry.plane_cols() != expected[0].nc()) return HUGE_VAL;
        const std::vector<std::vector<float>> ours = our_planes(rgb, width, height, band_rows);
        double largest = 0;
        for (size_t p = 0; p < ours.size(); ++p) {
            for (long r = 0; r < geometry.plane_rows(); ++r) {
                for (long c = 0; c < geometry.plane_cols(); ++c) {
                    const double value = ours[p][static_cast<size_t>(r * geometry.plane_cols() + c)];
                    largest = std::max(largest, std::fabs(value - static_cast<double>(expected[p][r][c])));
                }
            }
        }
        return largest;
    } catch (...) {
        return -1;
    }
}

extern "C" long hsc_fhog_band_differences(const uint8_t *rgb, int32_t width, int32_t height, int32_t band_rows,
                                          int32_t other_band_rows) {
    return guarded([&]() -> long {
        const std::vector<std::vector<float>> a = our_planes(rgb, width, height, band_rows);
        const std::vector<std::vector<float>> b = our_planes(rgb, width, height, other_band_rows);
        long differences = 0;
        for (size_t p = 0; p < a.size(); ++p) {
            for (size_t i = 0; i < a[p].size(); ++i) differences += same_bits(a[p][i], b[p][i]) ? 0 : 1;
        }
        return differences;
    });
}

namespace {

const dlib::frontal_face_detector &face_detector() {
    // Deserializing the detector takes a second: once per process (thread-safe static).
    static const dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
    return detector;
}

const fwhog::model &face_model() {
    static const fwhog::model model = fwhog::model_from_dlib(face_detector());
    return model;
}

// Our score images of every filter (indexed [f][r * plane_cols + c], scan area only), computed in
// bands of `band_rows` over the planes dlib extracted.
std::vector<std::vector<float>> our_scores(const dlib::array<dlib::array2d<float>> &planes, long band_rows) {
    const fwhog::model &model = face_model();
    const long plane_rows = planes[0].nr(), plane_cols = planes[0].nc();
    fwhog::filter_bank_band bank(model, plane_rows, plane_cols, band_rows);
    const size_t stride = static_cast<size_t>(band_rows + bank.halo()) * static_cast<size_t>(plane_cols);
    std::vector<float> band(31 * stride);
    std::vector<std::vector<float>> scores(model.filters.size(),
                                           std::vector<float>(static_cast<size_t>(plane_rows * plane_cols), 0.0f));
    for (long r0 = bank.first_row(); r0 < bank.last_row(); r0 += band_rows) {
        const long r1 = std::min<long>(r0 + band_rows, bank.last_row());
        const long from = r0 - bank.first_row(), to = r1 - bank.first_row() + bank.halo();
        for (size_t p = 0; p < 31; ++p) {
            for (long r = from; r < to; ++r) {
                std::memcpy(band.data() + p * stride + static_cast<size_t>((r - from) * plane_cols), &planes[p][r][0],
                            sizeof(float) * static_cast<size_t>(plane_cols));
            }
        }
        bank.apply(band.data(), stride, r0, r1);
        for (size_t f = 0; f < model.filters.size(); ++f) {
            for (long r = r0; r < r1; ++r) {
                for (long c = bank.first_col(); c < bank.last_col(); ++c) {
                    scores[f][static_cast<size_t>(r * plane_cols + c)] = bank.scores(f, r)[c];
                }
            }
        }
    }
    return scores;
}

}  // namespace

extern "C" double hsc_filter_score_max_difference(const uint8_t *rgb, int32_t width, int32_t height,
                                                  int32_t band_rows) {
    try {
        const rgb_array in = to_dlib(rgb, width, height);
        const fwhog::model &model = face_model();
        dlib::array<dlib::array2d<float>> planes;
        dlib::extract_fhog_features(in, planes, 8, model.filter_rows, model.filter_cols);
        if (planes[0].size() == 0) return 0;
        const std::vector<std::vector<float>> ours = our_scores(planes, band_rows);
        const long plane_cols = planes[0].nc();
        const long first_row = model.filter_rows / 2, first_col = model.filter_cols / 2;
        const long last_row = planes[0].nr() - (model.filter_rows - 1) / 2;
        const long last_col = plane_cols - (model.filter_cols - 1) / 2;
        double largest = 0;
        for (unsigned long f = 0; f < face_detector().num_detectors(); ++f) {
            dlib::array2d<float> expected;
            const auto filters = face_detector().get_scanner().build_fhog_filterbank(face_detector().get_w(f));
            dlib::impl::apply_filters_to_fhog(filters, planes, expected);
            for (long r = first_row; r < last_row; ++r) {
                for (long c = first_col; c < last_col; ++c) {
                    const double ours_value = ours[f][static_cast<size_t>(r * plane_cols + c)];
                    largest = std::max(largest, std::fabs(ours_value - static_cast<double>(expected[r][c])));
                }
            }
        }
        return largest;
    } catch (...) {
        return -1;
    }
}

extern "C" long hsc_filter_score_band_differences(const uint8_t *rgb, int32_t width, int32_t height,
                                                  int32_t band_rows, int32_t other_band_rows) {
    return guarded([&]() -> long {
        const rgb_array in = to_dlib(rgb, width, height);
        const fwhog::model &model = face_model();
        dlib::array<dlib::array2d<float>> planes;
        dlib::extract_fhog_features(in, planes, 8, model.filter_rows, model.filter_cols);
        if (planes[0].size() == 0) return 0;
        const std::vector<std::vector<float>> a = our_scores(planes, band_rows);
        const std::vector<std::vector<float>> b = our_scores(planes, other_band_rows);
        long differences = 0;
        for (size_t f = 0; f < a.size(); ++f) {
            for (size_t i = 0; i < a[f].size(); ++i) differences += same_bits(a[f][i], b[f][i]) ? 0 : 1;
        }
        return differences;
    });
}

extern "C" long hsc_cnn_pyramid_differences(const uint8_t *rgb, int32_t width, int32_t height, int32_t upsample,
                                 size_t store_limit) {
    return guarded([&]() -> long {
        dlib::matrix<dlib::rgb_pixel> img(height, width);
        if (width > 0 && height > 0) std::memcpy(&img(0, 0), rgb, static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
        dlib::pyramid_down<2> pyr;
        for (int i = 0; i < upsample; ++i) dlib::pyramid_up(img, pyr);
        const fwcnn::input_pyramid input;
        // dlib's to_tensor writes outside its tensor where its tiled layout puts a level partly outside
        // it (some tiny images): there is nothing to compare with.
        std::vector<dlib::rectangle> tiles;
        long tiled_rows = 0, tiled_cols = 0;
        fwcnn::input_pyramid::pyramid_type down;
        dlib::impl::compute_tiled_image_pyramid_details(down, img.nr(), img.nc(), input.get_pyramid_padding(),
                                                        input.get_pyramid_outer_padding(), tiles, tiled_rows, tiled_cols);
        const dlib::rectangle whole(tiled_cols, tiled_rows);
        for (const dlib::rectangle &tile : tiles) {
            if (!whole.contains(tile)) return -2L;
        }
        dlib::resizable_tensor tensor;
        const dlib::matrix<dlib::rgb_pixel> *first = &img;
        input.to_tensor(first, first + 1, tensor);
        fwcnn::tiled_pyramid ours(input, fwcnn::rgb_image{rgb, width, height}, upsample, store_limit);
        const auto expected = dlib::any_cast<std::vector<dlib::rectangle>>(tensor.annotation());
        if (ours.rows() != tensor.nr() || ours.cols() != tensor.nc() || ours.rects() != expected) return LONG_MAX;
        long differences = 0;
        std::vector<float> row(static_cast<size_t>(3 * ours.cols()));
        const float *values = tensor.host();
        for (long r = 0; r < ours.rows(); ++r) {
            ours.row(r, row.data());
            for (long ch = 0; ch < 3; ++ch) {
                for (long c = 0; c < ours.cols(); ++c) {
                    if (!same_bits(row[static_cast<size_t>(ch * ours.cols() + c)],
                                   values[(ch * tensor.nr() + r) * tensor.nc() + c])) {
                        ++differences;
                    }
                }
            }
        }
        return differences;
    });
}
