// Reads the convolutions of dlib's network and folds each affine layer into the convolution before it:
// dlib computes g * (w · x + b) + beta per channel; folded, it is (g * w) · x + (g * b + beta). The
// products are rounded once more than dlib's, which cnn_detector.h's score bound covers.
#include "cnn_model.h"

#include <stdexcept>
#include <string>

namespace fwcnn {
namespace {

template <typename Con>
conv_layer read_convolution(const Con &con, int in_channels, const float *gamma, const float *beta, bool relu) {
    const dlib::tensor &params = con.get_layer_params();
    const int out_channels = static_cast<int>(con.num_filters());
    const int kernel = static_cast<int>(con.nr());
    if (con.nc() != kernel || con.stride_x() != con.stride_y() || con.padding_x() != con.padding_y()) {
        throw std::runtime_error("mmod network: a convolution that is not square");
    }
    const size_t filter_values = static_cast<size_t>(out_channels) * static_cast<size_t>(in_channels) *
                                 static_cast<size_t>(kernel) * static_cast<size_t>(kernel);
    const bool has_bias = !con.bias_is_disabled();
    if (params.size() != filter_values + (has_bias ? static_cast<size_t>(out_channels) : 0)) {
        throw std::runtime_error("mmod network: a convolution's weights do not match its shape");
    }
    const float *w = params.host();
    const float *b = has_bias ? w + filter_values : nullptr;

    conv_layer layer;
    layer.in_channels = in_channels;
    layer.out_channels = out_channels;
    layer.kernel = kernel;
    layer.stride = static_cast<int>(con.stride_y());
    layer.padding = static_cast<int>(con.padding_y());
    layer.relu = relu;
    const bool last = out_channels == 1;
    layer.out_stride = last ? 1 : (out_channels + kChannelBlock - 1) / kChannelBlock * kChannelBlock;
    layer.bias.assign(static_cast<size_t>(layer.out_stride), 0.0f);
    for (int o = 0; o < out_channels; ++o) {
        const float g = gamma != nullptr ? gamma[o] : 1.0f;
        const float bias = b != nullptr ? b[o] : 0.0f;
        layer.bias[static_cast<size_t>(o)] = gamma != nullptr ? g * bias + beta[o] : bias;
    }
    // dlib's filters: [out][in][row][column].
    auto weight = [&](int o, int i, int r, int c) {
        const float v = w[((static_cast<size_t>(o) * in_channels + i) * kernel + r) * kernel + c];
        return gamma != nullptr ? gamma[o] * v : v;
    };
    const size_t taps = static_cast<size_t>(kernel) * static_cast<size_t>(kernel);
    if (last) {
        const int in_padded = (in_channels + 7) / 8 * 8;
        layer.weights.assign(taps * static_cast<size_t>(in_padded), 0.0f);
        for (int r = 0; r < kernel; ++r)
            for (int c = 0; c < kernel; ++c)
                for (int i = 0; i < in_channels; ++i)
                    layer.weights[(static_cast<size_t>(r) * kernel + c) * in_padded + i] = weight(0, i, r, c);
        return layer;
    }
    const int blocks = layer.out_stride / kChannelBlock;
    const size_t block_values = taps * static_cast<size_t>(in_channels) * kChannelBlock;
    layer.weights.assign(block_values * static_cast<size_t>(blocks), 0.0f);
    for (int o = 0; o < out_channels; ++o) {
        float *block = layer.weights.data() + block_values * static_cast<size_t>(o / kChannelBlock);
        for (int r = 0; r < kernel; ++r)
            for (int c = 0; c < kernel; ++c)
                for (int i = 0; i < in_channels; ++i)
                    block[((static_cast<size_t>(r) * kernel + c) * in_channels + i) * kChannelBlock + o % kChannelBlock] =
                        weight(o, i, r, c);
    }
    return layer;
}

// A convolution followed by affine and ReLU: layer<I> is the ReLU, I + 1 the affine, I + 2 the con.
template <size_t I>
conv_layer read_block(const mmod_network &net, int in_channels) {
    const auto &affine = dlib::layer<I + 1>(net).layer_details();
    if (affine.is_disabled() || affine.get_mode() != dlib::CONV_MODE) {
        throw std::runtime_error("mmod network: an affine layer that is disabled or not per channel");
    }
    // The instances own the views .get() returns: keep them alive.
    const auto gamma_view = affine.get_gamma();
    const auto beta_view = affine.get_beta();
    const dlib::tensor &gamma = gamma_view.get();
    const dlib::tensor &beta = beta_view.get();
    const auto &con = dlib::layer<I + 2>(net).layer_details();
    if (static_cast<long>(gamma.size()) != con.num_filters()) {
        throw std::runtime_error("mmod network: an affine layer of the wrong size");
    }
    return read_convolution(con, in_channels, gamma.host(), beta.host(), true);
}

}  // namespace

model model_from_dlib(const mmod_network &net) {
    model m;
    // From the input up: layer<1> is the 9 × 9 convolution, then relu/affine/con triples.
    m.layers.push_back(read_block<17>(net, 3));
    m.layers.push_back(read_block<14>(net, m.layers.back().out_channels));
    m.layers.push_back(read_block<11>(net, m.layers.back().out_channels));
    m.layers.push_back(read_block<8>(net, m.layers.back().out_channels));
    m.layers.push_back(read_block<5>(net, m.layers.back().out_channels));
    m.layers.push_back(read_block<2>(net, m.layers.back().out_channels));
    m.layers.push_back(read_convolution(dlib::layer<1>(net).layer_details(), m.layers.back().out_channels, nullptr,
                                        nullptr, false));
    const int expected_strides[] = {2, 2, 2, 1, 1, 1, 1};
    for (size_t i = 0; i < m.layers.size(); ++i) {
        const conv_layer &l = m.layers[i];
        const bool fits = l.stride == expected_strides[i] && l.padding == (l.stride == 1 ? l.kernel / 2 : 0) &&
                          (i + 1 == m.layers.size() ? l.out_channels == 1 : l.out_channels > 1);
        if (!fits) throw std::runtime_error("mmod network: layer " + std::to_string(i) + " has an unexpected shape");
    }
    m.input = dlib::input_layer(net);
    m.options = net.loss_details().get_options();
    if (m.options.detector_windows.size() != 1) {
        throw std::runtime_error("mmod network: more than one detector window");
    }
    return m;
}

}  // namespace fwcnn
