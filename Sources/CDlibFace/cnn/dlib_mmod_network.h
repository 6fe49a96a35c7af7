// The exact type of dlib's mmod_human_face_detector network (dnn_mmod_face_detection_ex.cpp,
// cnn_face_detector.cpp): what mmod_human_face_detector.dat deserializes into. engine.cpp runs it as
// the reference detector (FWD_DETECTOR_DLIB_CNN); facewatch's CNN detector (cnn_detector.h) reads its
// weights, input layer and mmod options from it.
#ifndef FACEWATCH_DLIB_MMOD_NETWORK_H
#define FACEWATCH_DLIB_MMOD_NETWORK_H

#include "../dlib_configuration.h"

#include <dlib/dnn.h>

namespace fwcnn {

template <long num_filters, typename SUBNET> using con5d = dlib::con<num_filters, 5, 5, 2, 2, SUBNET>;
template <long num_filters, typename SUBNET> using con5 = dlib::con<num_filters, 5, 5, 1, 1, SUBNET>;
template <typename SUBNET>
using downsampler = dlib::relu<dlib::affine<con5d<32, dlib::relu<dlib::affine<con5d<32,
    dlib::relu<dlib::affine<con5d<16, SUBNET>>>>>>>>>;
template <typename SUBNET> using rcon5 = dlib::relu<dlib::affine<con5<45, SUBNET>>>;

using input_pyramid = dlib::input_rgb_image_pyramid<dlib::pyramid_down<6>>;
using mmod_network = dlib::loss_mmod<dlib::con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<input_pyramid>>>>>>;

}  // namespace fwcnn

#endif
