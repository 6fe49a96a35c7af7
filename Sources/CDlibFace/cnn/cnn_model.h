// What facewatch's CNN detector computes with: the seven convolutions of mmod_human_face_detector with
// each affine (batch-norm) layer folded into the convolution before it, weights packed for the
// kernels of cnn_convolution.cpp; dlib's input layer (the pyramid) and mmod options (detector window,
// non-max suppression) as the model file has them.
#ifndef FACEWATCH_CNN_MODEL_H
#define FACEWATCH_CNN_MODEL_H

#include "dlib_mmod_network.h"

#include <vector>

namespace fwcnn {

/// Output channels a kernel computes at a time (two AVX2 vectors).
constexpr int kChannelBlock = 16;

/// One convolution with its affine layer folded in and, except for the last, a ReLU after it.
struct conv_layer {
    int in_channels = 0;
    int out_channels = 0;
    /// Output channels rounded up to kChannelBlock: the pixel stride of this layer's output plane (the
    /// extra channels have zero weights and bias, so they are 0 after the ReLU).
    int out_stride = 0;
    int kernel = 0;  // square: kernel × kernel taps
    int stride = 1;
    int padding = 0;
    bool relu = true;
    /// Hidden layers: per block of kChannelBlock output channels, [tap row][tap column][input
    /// channel][kChannelBlock]. The last layer (one output channel): [tap row][tap column][input
    /// channel rounded up to 8].
    std::vector<float> weights;
    /// out_stride biases (zero beyond out_channels).
    std::vector<float> bias;
};

struct model {
    std::vector<conv_layer> layers;
    input_pyramid input;
    dlib::mmod_options options;
};

/// The model of dlib's network as loaded from mmod_human_face_detector.dat. Throws std::runtime_error
/// when the network's shapes are not the ones the kernels are built for.
model model_from_dlib(const mmod_network &net);

}  // namespace fwcnn

#endif
