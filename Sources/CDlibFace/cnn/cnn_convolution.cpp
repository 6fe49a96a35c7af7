// Direct convolutions. A hidden layer's output pixels are computed kPixels at a time along a row,
// kChannelBlock output channels at a time: 2 × kPixels accumulators stay in registers through all the
// taps, each input value is broadcast once per pixel and each weight vector loaded once per kPixels
// pixels (a block's weights, at most 72 KiB, stay in L2). The last layer (one output channel) runs
// along the input channels instead: a pixel's 45 channels are contiguous.
#include "cnn_convolution.h"

#include <immintrin.h>

#include <stdexcept>

#define FWCNN_FMA __attribute__((target("avx2,fma")))

namespace fwcnn {
namespace {

constexpr int kPixels = 6;

template <int CI, int K, int S, int P>
FWCNN_FMA inline void hidden_pixels(const float *in, long in_row, long in_pixel, long in_channel, const float *weights,
                                    const float *bias, bool relu, float *out, long out_pixel) {
    __m256 acc[P][2];
    const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
    for (int p = 0; p < P; ++p) {
        acc[p][0] = b0;
        acc[p][1] = b1;
    }
    const float *w = weights;
    for (int ky = 0; ky < K; ++ky) {
        for (int kx = 0; kx < K; ++kx) {
            const float *x = in + ky * in_row + kx * in_pixel;
            for (int ci = 0; ci < CI; ++ci, w += kChannelBlock) {
                const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
                const float *xc = x + ci * in_channel;
                for (int p = 0; p < P; ++p) {
                    const __m256 v = _mm256_broadcast_ss(xc + p * S * in_pixel);
                    acc[p][0] = _mm256_fmadd_ps(v, w0, acc[p][0]);
                    acc[p][1] = _mm256_fmadd_ps(v, w1, acc[p][1]);
                }
            }
        }
    }
    const __m256 zero = _mm256_setzero_ps();
    for (int p = 0; p < P; ++p) {
        __m256 a0 = acc[p][0], a1 = acc[p][1];
        if (relu) {
            a0 = _mm256_max_ps(a0, zero);
            a1 = _mm256_max_ps(a1, zero);
        }
        _mm256_storeu_ps(out + p * out_pixel, a0);
        _mm256_storeu_ps(out + p * out_pixel + 8, a1);
    }
}

template <int CI, int K, int S>
FWCNN_FMA void hidden_rows(const conv_layer &layer, const input_plane &in, const output_plane &out, long row_begin,
                 long row_end) {
    const int blocks = layer.out_stride / kChannelBlock;
    const size_t block_values = static_cast<size_t>(K) * K * CI * kChannelBlock;
    const long out_pixel = layer.out_stride;
    for (long y = row_begin; y < row_end; ++y) {
        const float *in_row = in.data + y * S * in.row_stride;
        float *out_row = out.data + y * out.row_stride;
        for (int b = 0; b < blocks; ++b) {
            const float *w = layer.weights.data() + block_values * static_cast<size_t>(b);
            const float *bias = layer.bias.data() + b * kChannelBlock;
            long x = 0;
            for (; x + kPixels <= out.cols; x += kPixels) {
                hidden_pixels<CI, K, S, kPixels>(in_row + x * S * in.pixel_stride, in.row_stride, in.pixel_stride,
                                                 in.channel_stride, w, bias, layer.relu,
                                                 out_row + x * out_pixel + b * kChannelBlock, out_pixel);
            }
            for (; x < out.cols; ++x) {
                hidden_pixels<CI, K, S, 1>(in_row + x * S * in.pixel_stride, in.row_stride, in.pixel_stride,
                                           in.channel_stride, w, bias, layer.relu,
                                           out_row + x * out_pixel + b * kChannelBlock, out_pixel);
            }
        }
    }
}

FWCNN_FMA inline float hsum(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// The last layer: channels in vectors of 8 (the input's padded channels and their weights are zero),
// two pixels at a time sharing the weight loads; per pixel the vectors are summed, then their lanes.
template <int V, int K>
FWCNN_FMA void final_rows(const conv_layer &layer, const input_plane &in, const output_plane &out, long row_begin,
                          long row_end) {
    const float bias = layer.bias[0];
    const long px = in.pixel_stride;
    for (long y = row_begin; y < row_end; ++y) {
        const float *in_row = in.data + y * in.row_stride;
        float *out_row = out.data + y * out.row_stride;
        long x = 0;
        for (; x + 2 <= out.cols; x += 2) {
            __m256 a[2][V];
            for (int v = 0; v < V; ++v) a[0][v] = a[1][v] = _mm256_setzero_ps();
            const float *w = layer.weights.data();
            for (int ky = 0; ky < K; ++ky) {
                const float *xr = in_row + ky * in.row_stride + x * px;
                for (int kx = 0; kx < K; ++kx, w += V * 8) {
                    const float *x0 = xr + kx * px;
                    for (int v = 0; v < V; ++v) {
                        const __m256 wv = _mm256_loadu_ps(w + v * 8);
                        a[0][v] = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + v * 8), wv, a[0][v]);
                        a[1][v] = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + px + v * 8), wv, a[1][v]);
                    }
                }
            }
            for (int p = 0; p < 2; ++p) {
                __m256 s = a[p][0];
                for (int v = 1; v < V; ++v) s = _mm256_add_ps(s, a[p][v]);
                out_row[x + p] = bias + hsum(s);
            }
        }
        for (; x < out.cols; ++x) {
            __m256 a[V];
            for (int v = 0; v < V; ++v) a[v] = _mm256_setzero_ps();
            const float *w = layer.weights.data();
            for (int ky = 0; ky < K; ++ky) {
                const float *xr = in_row + ky * in.row_stride + x * px;
                for (int kx = 0; kx < K; ++kx, w += V * 8) {
                    for (int v = 0; v < V; ++v) {
                        a[v] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + kx * px + v * 8), _mm256_loadu_ps(w + v * 8), a[v]);
                    }
                }
            }
            __m256 s = a[0];
            for (int v = 1; v < V; ++v) s = _mm256_add_ps(s, a[v]);
            out_row[x] = bias + hsum(s);
        }
    }
}

}  // namespace

void convolve_rows(const conv_layer &layer, const input_plane &in, const output_plane &out, long row_begin,
                   long row_end) {
    const int ci = layer.in_channels, k = layer.kernel, s = layer.stride;
    if (layer.out_channels == 1) {
        if (k == 9 && s == 1 && ci <= 48 && in.pixel_stride == 48 && in.channel_stride == 1) {
            return final_rows<6, 9>(layer, in, out, row_begin, row_end);
        }
    } else if (k == 5 && s == 2 && ci == 3) {
        return hidden_rows<3, 5, 2>(layer, in, out, row_begin, row_end);
    } else if (k == 5 && s == 2 && ci == 16) {
        return hidden_rows<16, 5, 2>(layer, in, out, row_begin, row_end);
    } else if (k == 5 && s == 2 && ci == 32) {
        return hidden_rows<32, 5, 2>(layer, in, out, row_begin, row_end);
    } else if (k == 5 && s == 1 && ci == 32) {
        return hidden_rows<32, 5, 1>(layer, in, out, row_begin, row_end);
    } else if (k == 5 && s == 1 && ci == 45) {
        return hidden_rows<45, 5, 1>(layer, in, out, row_begin, row_end);
    }
    throw std::logic_error("cnn detector: no kernel for a layer of this shape");
}

}  // namespace fwcnn
