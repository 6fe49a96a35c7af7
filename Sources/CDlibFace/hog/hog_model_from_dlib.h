// The bridge from dlib's model to the HOG scanner: the only part of the scanner that sees dlib.
#ifndef FACEWATCH_HOG_MODEL_FROM_DLIB_H
#define FACEWATCH_HOG_MODEL_FROM_DLIB_H

#include "../dlib_configuration.h"

#include <dlib/image_processing/frontal_face_detector.h>

#include "hog_detector.h"

namespace fwhog {

/// The filters of dlib's frontal face detector as dlib's scanner uses them: for each weight vector,
/// the separable rank terms build_fhog_filterbank derives (plane by plane, in its order) and the
/// threshold; plus the scanner's geometry and the overlap test of its non-max suppression.
/// Throws std::runtime_error for a detector the scanner cannot run (not 31 planes, filters of
/// different sizes, or filters dlib would apply unseparated).
model model_from_dlib(const dlib::frontal_face_detector &detector);

}  // namespace fwhog

#endif
