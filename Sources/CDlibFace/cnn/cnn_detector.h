// facewatch's own forward pass of dlib's MMOD face detector (mmod_human_face_detector), as
// face_recognition's cnn_face_detector calls it: dlib's tiled image pyramid, made row by row
// (cnn_pyramid.h); the seven convolutions run on cnn_convolution.cpp's kernels (affine layers folded,
// ReLU fused), streamed by rows, each chunk split among borrowed idle threads when there are some;
// then dlib's mmod rules: every
// output above 0 becomes a window, mapped through the network and the pyramid to the image, sorted
// by score and non-max suppressed as loss_mmod_::to_label does.
//
// Sums are reordered (folded affine, fused multiply-adds, dlib's GEMM order not kept): scores differ
// from dlib's in the low bits (docs/engine.md states the bound); boxes are equal unless a score lies
// within that bound of 0 or of another window's.
#ifndef FACEWATCH_CNN_DETECTOR_H
#define FACEWATCH_CNN_DETECTOR_H

#include "../dlib_configuration.h"

#include "../hog/hog_detector.h"
#include "cnn_model.h"
#include "cnn_pyramid.h"

#include <dlib/image_processing/full_object_detection.h>
#include <dlib/matrix.h>
#include <dlib/pixel.h>

#include <vector>

namespace fwcnn {

struct detection {
    double confidence = 0;
    dlib::rectangle rect;
};

/// dlib's net(pyramid_up^upsample(image)) for the mmod network: detections best first, boxes in the
/// upsampled image's coordinates. A large image's layers are split into strips computed by helper
/// threads borrowed from `helpers` (none when null); the result does not depend on how many, nor on
/// `pyramid_store_limit` (how much of the pyramid is kept whole rather than recomputed: see
/// cnn_pyramid.h). Throws std::bad_alloc when memory runs out.
std::vector<detection> detect(const model &m, const rgb_image &image, int upsample,
                              fwhog::helper_budget *helpers = nullptr,
                              size_t pyramid_store_limit = kAutomaticPyramidStoreLimit);

}  // namespace fwcnn

#endif
