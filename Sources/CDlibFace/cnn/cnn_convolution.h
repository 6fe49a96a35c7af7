// The kernels of facewatch's CNN detector: one convolution (affine folded in, ReLU fused) over a range
// of output rows, direct (no im2col), with AVX2 fused multiply-adds.
#ifndef FACEWATCH_CNN_CONVOLUTION_H
#define FACEWATCH_CNN_CONVOLUTION_H

#include "cnn_model.h"

namespace fwcnn {

/// Where a layer reads its input: `data` is the top-left corner of the padded input (the layer's
/// padding is a zero border the caller has put around the plane), and element (row, column, channel)
/// is at data[row * row_stride + column * pixel_stride + channel * channel_stride].
struct input_plane {
    const float *data = nullptr;
    long row_stride = 0;
    long pixel_stride = 0;
    long channel_stride = 1;
};

/// Where a layer writes: output (row, column) channel c at data[row * row_stride + column *
/// layer.out_stride + c].
struct output_plane {
    float *data = nullptr;
    long row_stride = 0;
    long cols = 0;
};

/// Computes output rows [row_begin, row_end) of `layer`: per output channel, its bias plus the taps
/// in the order (tap row, tap column, input channel), one fused multiply-add each; then the ReLU.
/// Throws std::logic_error for a layer shape no kernel is built for.
void convolve_rows(const conv_layer &layer, const input_plane &in, const output_plane &out, long row_begin,
                   long row_end);

}  // namespace fwcnn

#endif
