// dlib's header code as face_recognition's dlib runs it. Included before any other dlib header in
// every file that includes dlib (a check below refuses a file that includes it too late).
//
// Debian's dlib is configured with DLIB_USE_BLAS and DLIB_USE_LAPACK (dlib/config.h), so the matrix
// templates instantiated here would call BLAS for products and LAPACK's dgesvd for pinv(). The dlib
// under face_recognition (the dlib-bin wheel) is built with neither: its find_affine_transform,
// and so the shape predictor's mapping from the face box to the image, runs on dlib's own svd3 and
// loops. The two differ in the last bits of the transform, and a feature pixel whose position lies
// on a rounding boundary (x.5) is then read one pixel off: a split flips, the landmarks move by a
// pixel, the encoding by up to 2e-2 (docs/engine.md). Without both, facewatch's header code is the
// reference's; the compiled parts of libdlib (the networks' GEMMs) are not affected.
#ifndef FACEWATCH_DLIB_CONFIGURATION_H
#define FACEWATCH_DLIB_CONFIGURATION_H

#if defined(DLIB_MATRIx_LA_FUNCTS_) || defined(DLIB_MATRIx_) || defined(DLIB_MATRIx_BLAS_BINDINGS_)
#error "dlib_configuration.h must be included before any dlib header"
#endif

// dlib/config.h has no include guard; these two headers are the only ones that include it, and
// theirs keep it from being read again after the #undefs.
#include <dlib/assert.h>
#include <dlib/test_for_odr_violations.h>

#undef DLIB_USE_BLAS
#undef DLIB_USE_LAPACK

#endif
