// Reads the HOG scanner's filters out of dlib's frontal face detector, once, when the models load.
#include "hog_model_from_dlib.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace fwhog {

model model_from_dlib(const dlib::frontal_face_detector &detector) {
    const auto &scanner = detector.get_scanner();
    model m;
    m.cell_size = static_cast<int>(scanner.get_cell_size());
    m.max_pyramid_levels = scanner.get_max_pyramid_levels();
    m.min_pyramid_layer_width = scanner.get_min_pyramid_layer_width();
    m.min_pyramid_layer_height = scanner.get_min_pyramid_layer_height();
    m.iou_threshold = detector.get_overlap_tester().get_iou_thresh();
    m.covered_threshold = detector.get_overlap_tester().get_percent_covered_thresh();
    const long dims = scanner.get_num_dimensions();
    for (unsigned long i = 0; i < detector.num_detectors(); ++i) {
        const auto bank = scanner.build_fhog_filterbank(detector.get_w(i));
        if (bank.filters.size() != 31) {
            throw std::runtime_error("HOG detector: expected 31 fhog planes");
        }
        const long rows = bank.filters[0].nr(), cols = bank.filters[0].nc();
        // dlib filters with the full (not separable) filters when that is cheaper; the scanner here
        // only does the separable form, which is what the frontal face detector uses.
        if (bank.num_separable_filters() > bank.filters.size() * std::min(rows, cols) / 3.0) {
            throw std::runtime_error("HOG detector: filters are not low-rank enough for the scanner");
        }
        if (i == 0) {
            m.filter_rows = static_cast<int>(rows);
            m.filter_cols = static_cast<int>(cols);
            m.box_rows = static_cast<int>(rows - 2 * static_cast<long>(scanner.get_padding()));
            m.box_cols = static_cast<int>(cols - 2 * static_cast<long>(scanner.get_padding()));
        } else if (rows != m.filter_rows || cols != m.filter_cols) {
            throw std::runtime_error("HOG detector: filters of different sizes");
        }
        filter f;
        f.threshold = detector.get_w(i)(dims);
        for (size_t plane = 0; plane < bank.row_filters.size(); ++plane) {
            for (size_t j = 0; j < bank.row_filters[plane].size(); ++j) {
                separable_term term;
                term.plane = static_cast<int>(plane);
                const auto &row = bank.row_filters[plane][j];
                const auto &col = bank.col_filters[plane][j];
                if (row.size() != cols || col.size() != rows) {
                    throw std::runtime_error("HOG detector: a rank term of unexpected length");
                }
                term.row.assign(row.begin(), row.end());
                term.col.assign(col.begin(), col.end());
                f.terms.push_back(std::move(term));
            }
        }
        m.filters.push_back(std::move(f));
    }
    return m;
}

}  // namespace fwhog
