// The network's input, dlib's input_rgb_image_pyramid::to_tensor (pyramid_down<6> levels tiled into
// one image, each channel centred on the model's average and divided by 256), produced one row at a
// time instead of as a whole tensor: a 50-megapixel photo upsampled once makes a tiled pyramid of
// about 8 GB of floats, which is never stored.
//
// Each level is dlib's float bilinear resize of the level before it, and the levels lie in the tiled
// image one below the other: the rows of level k are wanted after all of level k - 1's. So each
// level's rows come from a chain of row streams of its own (the upsampled image's rows, level 1's,
// ..., level k - 1's), each keeping the two rows the next one reads, and recomputed for every level;
// the small levels (from the first whose levels together fit `store_limit`) are stored whole, as
// recomputing every level's chain would cost more than the network for a deep pyramid. Every value
// is the one dlib computes, bit for bit: the same float and double operations in the same order.
#ifndef FACEWATCH_CNN_PYRAMID_H
#define FACEWATCH_CNN_PYRAMID_H

#include "dlib_mmod_network.h"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace fwcnn {

/// An 8-bit RGB image: rows of width × 3 bytes, no padding.
struct rgb_image {
    const uint8_t *data = nullptr;
    long width = 0;
    long height = 0;
};

/// The tiled pyramid's bytes kept whole at most: 64 MiB, or 16 bytes per pixel of the image given
/// (before upsampling) when that is more. A photo of up to half a megapixel upsampled once is stored
/// whole, as dlib stores it; beyond, the levels from the first that fits (about the last half of the
/// levels' rows, a tenth of the pyramid) and the rest recomputed. Recomputing costs the more, the less
/// is stored: at 16 bytes per pixel a 50-megapixel photo recomputes about 5 times the pyramid, the
/// network's cost being some 100 times the pyramid's; the budget (MemoryBudget.swift) counts the 16.
constexpr size_t kPyramidStoreBytesPerPixel = 16;
constexpr size_t kPyramidStoreMinimum = size_t(64) << 20;
/// detect's and tiled_pyramid's default: the limit above for the image.
constexpr size_t kAutomaticPyramidStoreLimit = SIZE_MAX;

class tiled_pyramid {
public:
    /// The tiled pyramid of `image` doubled `upsample` times with dlib's pyramid_up (as dlib's
    /// cnn_face_detection_model_v1 does before it runs the network). `image` must outlive this.
    /// Throws std::bad_alloc when memory runs out.
    tiled_pyramid(const input_pyramid &input, rgb_image image, int upsample,
                  size_t store_limit = kAutomaticPyramidStoreLimit);
    ~tiled_pyramid();
    tiled_pyramid(const tiled_pyramid &) = delete;
    tiled_pyramid &operator=(const tiled_pyramid &) = delete;

    long rows() const { return rows_; }
    long cols() const { return cols_; }
    /// Where each level lies in the tiled image (dlib's annotation of the tensor).
    const std::vector<dlib::rectangle> &rects() const { return rects_; }
    /// The first level stored whole (levels before it are recomputed); rects().size() when none is.
    size_t first_stored_level() const { return first_stored_; }
    /// Writes tiled row `t`: cols() red values, then cols() green, then cols() blue. Rows must be
    /// asked for in increasing order.
    void row(long t, float *out);

    struct float_resize;
    struct byte_stream;
    struct level_stream;
    struct chain;

private:
    level_stream &chain_for(size_t level);

    std::vector<dlib::rectangle> rects_;
    long rows_ = 0, cols_ = 0;
    rgb_image image_;
    int upsample_ = 0;
    float average_[3] = {0, 0, 0};
    size_t first_stored_ = 0;
    // Levels first_stored_.. whole, planar rows as level_stream rows are.
    std::vector<std::vector<float>> stored_;
    // Per level from 1: how dlib resizes the level before it into it.
    std::vector<std::unique_ptr<float_resize>> resizes_;
    // Per level below first_stored_: its chain of streams, built when the level's first row is wanted
    // and dropped after its last.
    std::vector<std::unique_ptr<chain>> chains_;
};

}  // namespace fwcnn

#endif
