/*
 * dlibface.h: the C ABI over dlib that facewatch's Swift engine calls.
 *
 * No C++ type and no C++ exception crosses this boundary: every entry point catches everything and
 * reports a status code plus a one-line message written into a caller-supplied buffer.
 *
 * Threading model (unlike go-face's single mutex):
 *   - fwd_models holds what is read from disk once. Its shape predictor is shared by every engine
 *     (dlib's shape_predictor is safe to call from many threads); its detector and ResNet are only
 *     templates that each engine copies. fwd_models may be used from any thread.
 *   - fwd_engine owns its own copy of the detector and the network. It is NOT thread-safe: use one
 *     engine per worker thread, and never call two functions on the same engine at the same time.
 *   - fwd_models must outlive every engine created from it.
 */
#ifndef FACEWATCH_DLIBFACE_H
#define FACEWATCH_DLIBFACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes returned by every entry point. */
typedef enum fwd_status {
    FWD_OK = 0,
    /** A model file does not exist or cannot be opened. */
    FWD_MODEL_MISSING = 1,
    /** A model file exists but dlib cannot deserialize it (truncated, wrong file, garbage). */
    FWD_MODEL_CORRUPT = 2,
    /** A bad argument: null pointer, zero size, out-of-range option. */
    FWD_INVALID_ARGUMENT = 3,
    /** std::bad_alloc while working. */
    FWD_OUT_OF_MEMORY = 4,
    /** Any other exception thrown inside dlib. */
    FWD_INTERNAL = 5
} fwd_status;

/** Which face detector an engine runs. */
typedef enum fwd_detector {
    /** face_recognition's default "hog": dlib's HOG frontal face detector computed by facewatch's
     *  own scanner (same boxes and scores as FWD_DETECTOR_DLIB_HOG, faster, less memory). */
    FWD_DETECTOR_HOG = 0,
    /** face_recognition's "cnn": the MMOD CNN face detector, mmod_human_face_detector.dat, computed
     *  by facewatch's own forward pass (same boxes as FWD_DETECTOR_DLIB_CNN, scores within 1e-5,
     *  several times faster). */
    FWD_DETECTOR_CNN = 1,
    /** dlib's own scan_fhog_pyramid running the HOG frontal face detector: the reference. */
    FWD_DETECTOR_DLIB_HOG = 2,
    /** dlib's own network code running the MMOD CNN face detector: the reference for FWD_DETECTOR_CNN. */
    FWD_DETECTOR_DLIB_CNN = 3
} fwd_detector;

/** Number of landmarks the shape predictor places: 5 ("small", default) or 68 ("large"). */
typedef enum fwd_landmarks {
    FWD_LANDMARKS_5 = 5,
    FWD_LANDMARKS_68 = 68
} fwd_landmarks;

/** Number of components of one face encoding. */
#define FWD_ENCODING_LENGTH 128

/** Recommended size of the message buffers passed to the entry points. */
#define FWD_MESSAGE_CAPACITY 512

/** What to load from the model directory. */
typedef struct fwd_model_options {
    fwd_detector detector;
    fwd_landmarks landmarks;
    /** With FWD_DETECTOR_HOG: the file that keeps facewatch's scanner's filters between starts (a
     *  NUL-terminated path; its directory must exist), or NULL for none. */
    const char *filter_cache;
} fwd_model_options;

/** Per-call options. */
typedef struct fwd_encode_options {
    /** How many times to double the image before detecting (face_recognition's default: 1). 0..8 */
    int32_t upsample;
    /** How many jittered copies of each chip to average; <= 1 means no jitter (default 1). */
    int32_t jitters;
} fwd_encode_options;

/** Most landmarks a face can have (the 68-point model). */
#define FWD_MAX_LANDMARKS 68

/** One face: its box (clipped to the image), the detector's confidence in it, the landmarks the shape
 *  predictor placed (the points the chip was aligned on) and its encoding. */
typedef struct fwd_face {
    int32_t top;
    int32_t right;
    int32_t bottom;
    int32_t left;
    /** The detector's confidence, as fwd_detection's `confidence` (before the box was clipped). */
    double confidence;
    /** How many landmarks `landmarks` holds: 5 or 68, the model's number. */
    int32_t landmark_count;
    /** x, y of each landmark in image pixels (dlib's `full_object_detection` parts, in order). */
    int32_t landmarks[2 * FWD_MAX_LANDMARKS];
    float encoding[FWD_ENCODING_LENGTH];
} fwd_face;

/**
 * The result of one fwd_engine_encode call. `faces` points into memory owned by the engine: it stays
 * valid until the next call on that engine or until the engine is freed. Copy it out.
 */
typedef struct fwd_result {
    const fwd_face *faces;
    size_t face_count;
    /** Seconds spent upsampling and detecting. */
    double detect_seconds;
    /** Seconds spent on landmarks, chips and the ResNet. */
    double encode_seconds;
} fwd_result;

typedef struct fwd_models fwd_models;
typedef struct fwd_engine fwd_engine;

/**
 * Loads the models named below from `directory` (a path, NUL-terminated):
 *   dlib_face_recognition_resnet_model_v1.dat, always;
 *   shape_predictor_5_face_landmarks.dat or shape_predictor_68_face_landmarks.dat, per `landmarks`;
 *   mmod_human_face_detector.dat when `detector` is FWD_DETECTOR_CNN or FWD_DETECTOR_DLIB_CNN.
 * With FWD_DETECTOR_HOG and options->filter_cache set, it also reads that file, the scanner's filters
 * kept from an earlier start, and writes it (atomically, when its directory can be written) when it is
 * missing, stale or corrupt: then the filters come from decoding dlib's compiled-in detector, which
 * takes about 0.4 s.
 * On success stores the models in *out and returns FWD_OK. On failure *out is NULL and `message`
 * (if not NULL) holds a NUL-terminated line naming the file.
 */
fwd_status fwd_models_load(const char *directory, const fwd_model_options *options, fwd_models **out,
                           char *message, size_t message_capacity);

/** Frees models loaded by fwd_models_load. NULL is allowed. Free every engine first. */
void fwd_models_free(fwd_models *models);

/** Creates an engine with its own copy of the detector and the network. Safe from any thread. */
fwd_status fwd_engine_create(const fwd_models *models, fwd_engine **out, char *message,
                             size_t message_capacity);

/** Frees an engine. NULL is allowed. */
void fwd_engine_free(fwd_engine *engine);

/**
 * Finds and encodes every face in an 8-bit RGB image (`rgb`: width*height*3 bytes, row-major,
 * no padding). Faces come in the detector's order.
 */
fwd_status fwd_engine_encode(fwd_engine *engine, const uint8_t *rgb, int32_t width, int32_t height,
                             const fwd_encode_options *options, fwd_result *result, char *message,
                             size_t message_capacity);

/** One detection before face_recognition's clipping: its box in the input image and its score. */
typedef struct fwd_detection {
    int32_t top;
    int32_t right;
    int32_t bottom;
    int32_t left;
    /** dlib's detection confidence: the window's score minus its filter's threshold (HOG); the
     *  MMOD detection confidence (CNN). */
    double confidence;
} fwd_detection;

/**
 * Runs only the engine's detector on an 8-bit RGB image (as fwd_engine_encode does, with
 * `upsample`), and returns every detection in the detector's order, boxes not clipped to the image.
 * `*detections` points into memory owned by the engine, valid until the next call on it.
 */
fwd_status fwd_engine_detect(fwd_engine *engine, const uint8_t *rgb, int32_t width, int32_t height,
                             int32_t upsample, const fwd_detection **detections, size_t *count,
                             char *message, size_t message_capacity);

/**
 * Spare threads engines may borrow for one detection (FWD_DETECTOR_HOG and FWD_DETECTOR_CNN): an encoder pool keeps the
 * number of its idle workers in one, so a lone image on an idle pool is scanned by several threads and
 * a busy pool runs one thread per image. Thread-safe.
 */
typedef struct fwd_helper_budget fwd_helper_budget;

/** A budget with `available` spare threads; NULL if memory ran out. */
fwd_helper_budget *fwd_helper_budget_create(int32_t available);

/** Frees a budget. NULL is allowed. No engine may use it any more (detach it or free the engines first). */
void fwd_helper_budget_free(fwd_helper_budget *budget);

/** Adds `delta` (negative: removes) spare threads. */
void fwd_helper_budget_add(fwd_helper_budget *budget, int32_t delta);

/**
 * The budget `engine` borrows helper threads from while it detects (NULL: none, the default). The
 * engine does not own it. Detection results do not depend on it.
 */
void fwd_engine_set_helper_budget(fwd_engine *engine, fwd_helper_budget *budget);

/**
 * Makes OpenBLAS (which dlib's libblas.so is here) use one thread, so N workers use N cores and not
 * N*cores threads. Looks `openblas_set_num_threads` up with dlsym; returns 1 if it was found and
 * called, 0 if the BLAS in use is not OpenBLAS.
 */
int fwd_limit_blas_threads(void);

/**
 * The name OpenBLAS gives the matrix-product kernel it chose for this CPU when it loaded (as
 * `openblas_get_corename` returns it, e.g. "Haswell", "Prescott"), looked up with dlsym; NULL if the
 * BLAS in use is not OpenBLAS. The string is OpenBLAS's own and lives as long as the process.
 */
const char *fwd_blas_kernel(void);

/** 1 if the CPU supports AVX2 and FMA (the C++ is compiled with -mavx2; the HOG filter bank and the CNN use FMA),
 *  0 if not. Always 1 off x86_64. */
int fwd_cpu_has_avx2(void);

#ifdef __cplusplus
}
#endif

#endif
