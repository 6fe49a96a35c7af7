// face_recognition 1.3.0's pipeline on dlib, behind the C ABI of include/dlibface.h (the default HOG
// detector runs on facewatch's own scanner in hog/, the CNN detector on facewatch's own forward pass
// in cnn/). Every step mirrors what face_recognition (Python) and dlib's Python binding do,
// because the results must equal face_recognition's: same boxes, encodings within 1e-5.
//
// Compiled with -O3 -mavx2 -ffp-contract=off in every configuration (Package.swift): dlib's detector
// templates are instantiated here, the scanner reproduces their AVX arithmetic, and FMA contraction
// changes boxes.

#include "dlib_configuration.h"

#include "dlibface.h"
#include "cnn/cnn_detector.h"
#include "cnn/dlib_mmod_network.h"
#include "hog/hog_detector.h"
#include "hog/hog_model_cache.h"
#include "hog/hog_model_from_dlib.h"

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/matrix.h>
#include <dlib/rand.h>
#include <dlib/revision.h>

#if defined(DLIB_USE_BLAS) || defined(DLIB_USE_LAPACK)
#error "dlib's matrix code must run without BLAS and LAPACK here, as face_recognition's does (dlib_configuration.h)"
#endif

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <new>
#include <string>
#include <vector>

namespace {

// ---------------------------------------------------------------------------------------------
// Networks: the exact types of dlib's examples and Python binding.

// dlib_face_recognition_resnet_model_v1 (dnn_face_recognition_ex.cpp, face_recognition.cpp).
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = dlib::add_prev1<block<N, BN, 1, dlib::tag1<SUBNET>>>;

template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down =
    dlib::add_prev2<dlib::avg_pool<2, 2, 2, 2, dlib::skip1<dlib::tag2<block<N, BN, 2, dlib::tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<dlib::con<N, 3, 3, 1, 1, dlib::relu<BN<dlib::con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET> using ares = dlib::relu<residual<block, N, dlib::affine, SUBNET>>;
template <int N, typename SUBNET> using ares_down = dlib::relu<residual_down<block, N, dlib::affine, SUBNET>>;

template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;

using resnet_type = dlib::loss_metric<dlib::fc_no_bias<128, dlib::avg_pool_everything<
    alevel0<alevel1<alevel2<alevel3<alevel4<
    dlib::max_pool<3, 3, 2, 2, dlib::relu<dlib::affine<dlib::con<32, 7, 7, 2, 2,
    dlib::input_rgb_image_sized<150>>>>>>>>>>>>>;

// mmod_human_face_detector: cnn/dlib_mmod_network.h.
using mmod_type = fwcnn::mmod_network;

using image_type = dlib::matrix<dlib::rgb_pixel>;

// ---------------------------------------------------------------------------------------------
// Errors

// A failure with the status to report; thrown inside this file only, caught at every entry point.
struct status_error {
    fwd_status status;
    std::string message;
};

void write_message(char *buffer, size_t capacity, const std::string &text) {
    if (buffer == nullptr || capacity == 0) return;
    // One line: the Swift side shows it as is.
    std::string line = text;
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::snprintf(buffer, capacity, "%s", line.c_str());
}

// Runs `body`, turning every exception into a status and a message. Nothing escapes.
template <typename Body>
fwd_status guarded(char *message, size_t capacity, Body &&body) {
    try {
        body();
        write_message(message, capacity, "");
        return FWD_OK;
    } catch (const status_error &e) {
        write_message(message, capacity, e.message);
        return e.status;
    } catch (const std::bad_alloc &) {
        write_message(message, capacity, "out of memory");
        return FWD_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        write_message(message, capacity, std::string("dlib: ") + e.what());
        return FWD_INTERNAL;
    } catch (...) {
        write_message(message, capacity, "dlib: unknown exception");
        return FWD_INTERNAL;
    }
}

// Deserializes one model file. A missing/unreadable file and a file dlib cannot parse are told apart.
template <typename T>
void load_model(const std::string &directory, const char *name, T &into) {
    const std::string path = directory + "/" + name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        throw status_error{FWD_MODEL_MISSING, path + ": " + std::strerror(errno)};
    }
    if (!S_ISREG(st.st_mode)) {
        throw status_error{FWD_MODEL_MISSING, path + ": not a regular file"};
    }
    {
        std::FILE *probe = std::fopen(path.c_str(), "rb");
        if (probe == nullptr) {
            throw status_error{FWD_MODEL_MISSING, path + ": " + std::strerror(errno)};
        }
        std::fclose(probe);
    }
    try {
        dlib::deserialize(path) >> into;
    } catch (const std::bad_alloc &) {
        // Garbage sizes in a corrupt file ask for absurd allocations.
        throw status_error{FWD_MODEL_CORRUPT, path + ": corrupt (dlib cannot deserialize it)"};
    } catch (const std::exception &e) {
        throw status_error{FWD_MODEL_CORRUPT, path + ": corrupt (dlib: " + e.what() + ")"};
    }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Models and engines

struct fwd_models {
    fwd_model_options options;
    // Shared by every engine: shape_predictor's call operator is const and thread-safe.
    dlib::shape_predictor predictor;
    // Templates only: each engine copies them (a detector/net holds per-call state).
    dlib::frontal_face_detector hog;
    // facewatch's scanner's filters (FWD_DETECTOR_HOG): read-only, shared by every engine.
    fwhog::model hog_filters;
    // dlib's CNN (FWD_DETECTOR_DLIB_CNN; each engine copies it) or facewatch's CNN's weights
    // (FWD_DETECTOR_CNN: read-only, shared by every engine).
    std::unique_ptr<mmod_type> mmod;
    std::unique_ptr<fwcnn::model> cnn;
    resnet_type resnet;
    // Serializes copying the templates into new engines (engine creation is rare).
    mutable std::mutex copy_lock;
};

struct fwd_helper_budget {
    fwhog::helper_budget helpers;
};

struct fwd_engine {
    const fwd_models *models;
    // Where facewatch's scanner borrows helper threads (not owned; may be null).
    fwd_helper_budget *helpers = nullptr;
    // facewatch's scanner's scratch blocks, kept between this engine's images.
    fwhog::scratch_pool hog_scratch{fwhog::scratch_pool::default_keep_bytes};
    dlib::frontal_face_detector hog;
    std::unique_ptr<mmod_type> mmod;
    resnet_type resnet;
    // Owned by the engine, as dlib's Python binding owns one per face_recognition_model_v1.
    dlib::rand rnd;
    std::vector<fwd_face> faces;
    std::vector<fwd_detection> detections;
};

namespace {

// The detector's raw detections on `rgb` with face_recognition's upsampling, mapped back to the
// input image: dlib's Python detectors map every box with pyramid_down<2>::rect_down.
std::vector<std::pair<double, dlib::rectangle>> raw_detections(fwd_engine &engine, const uint8_t *rgb, long width,
                                                               long height, int upsample) {
    dlib::pyramid_down<2> pyr;
    std::vector<std::pair<double, dlib::rectangle>> found;
    const fwd_detector kind = engine.models->options.detector;
    fwhog::helper_budget *helpers = engine.helpers != nullptr ? &engine.helpers->helpers : nullptr;
    if (kind == FWD_DETECTOR_HOG) {
        const fwhog::rgb_view view{rgb, width, height};
        for (const fwhog::detection &d : fwhog::detect(engine.models->hog_filters, view, upsample, helpers, &engine.hog_scratch)) {
            dlib::rectangle r(d.rect.left, d.rect.top, d.rect.right, d.rect.bottom);
            if (upsample > 0) r = pyr.rect_down(r, static_cast<unsigned int>(upsample));
            found.emplace_back(d.confidence, r);
        }
        return found;
    }
    if (kind == FWD_DETECTOR_CNN) {
        // dlib's cnn_face_detection_model_v1.detect (pyramid_up in place, net(image), rect_down), with
        // the upsampling done row by row inside the pyramid: no copy of the image is made.
        const fwcnn::rgb_image view{rgb, width, height};
        for (const fwcnn::detection &d : fwcnn::detect(*engine.models->cnn, view, upsample, helpers)) {
            found.emplace_back(d.confidence, pyr.rect_down(d.rect, static_cast<unsigned int>(upsample)));
        }
        return found;
    }
    image_type img(height, width);
    std::memcpy(&img(0, 0), rgb, static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
    if (kind == FWD_DETECTOR_DLIB_CNN) {
        // dlib's cnn_face_detection_model_v1.detect: pyramid_up in place, net(image), rect_down.
        for (int level = 0; level < upsample; ++level) dlib::pyramid_up(img, pyr);
        // dlib's tiled layout of some tiny images (under about 10 pixels: 6 x 6, 5 x 40) puts a level
        // partly outside the tensor (its layout asserts this only in debug builds of dlib), and
        // to_tensor writes outside it: refuse those, as dlib's layers refuse other images too small
        // for the network (facewatch's own CNN finds no face there).
        {
            std::vector<dlib::rectangle> tiles;
            long tiled_rows = 0, tiled_cols = 0;
            fwcnn::input_pyramid::pyramid_type down;
            const fwcnn::input_pyramid &input = dlib::input_layer(*engine.mmod);
            dlib::impl::compute_tiled_image_pyramid_details(down, img.nr(), img.nc(), input.get_pyramid_padding(),
                                                            input.get_pyramid_outer_padding(), tiles, tiled_rows,
                                                            tiled_cols);
            const dlib::rectangle tensor(tiled_cols, tiled_rows);
            for (const dlib::rectangle &tile : tiles) {
                if (!tensor.contains(tile)) throw std::invalid_argument("image too small for dlib's CNN pyramid");
            }
        }
        for (const dlib::mmod_rect &d : (*engine.mmod)(img)) {
            found.emplace_back(d.detection_confidence, pyr.rect_down(d.rect, static_cast<unsigned int>(upsample)));
        }
    } else if (upsample == 0) {
        std::vector<dlib::rect_detection> dets;
        engine.hog(img, dets);
        for (const auto &d : dets) found.emplace_back(d.detection_confidence, d.rect);
    } else {
        // dlib's Python run_detector_with_upscale: pyramid_up into a temporary, then more levels
        // in place, detect with adjust_threshold 0, map each rectangle back.
        dlib::array2d<dlib::rgb_pixel> temp;
        dlib::pyramid_up(img, temp, pyr);
        for (int level = 1; level < upsample; ++level) dlib::pyramid_up(temp);
        std::vector<dlib::rect_detection> dets;
        engine.hog(temp, dets);
        for (const auto &d : dets) {
            found.emplace_back(d.detection_confidence, pyr.rect_down(d.rect, static_cast<unsigned int>(upsample)));
        }
    }
    return found;
}

// face_recognition's _raw_face_locations + _trim_css_to_bounds: detector order, boxes clipped, each
// with its detection's confidence.
std::vector<std::pair<double, dlib::rectangle>> detect(fwd_engine &engine, const uint8_t *rgb, long width, long height,
                                                       int upsample) {
    std::vector<std::pair<double, dlib::rectangle>> rects;
    for (const auto &d : raw_detections(engine, rgb, width, height, upsample)) {
        const dlib::rectangle &r = d.second;
        const long top = std::max(r.top(), 0L);
        const long right = std::min(r.right(), width);
        const long bottom = std::min(r.bottom(), height);
        const long left = std::max(r.left(), 0L);
        // face_recognition's _css_to_rect: dlib.rectangle(left, top, right, bottom).
        rects.emplace_back(d.first, dlib::rectangle(left, top, right, bottom));
    }
    return rects;
}

// face_recognition.face_encodings with known locations: one compute_face_descriptor call per face,
// which in dlib's binding is a batch of one chip, net(chips, 16) or, with jitters, the mean of the
// net over `jitters` jittered copies of the chip.
void encode_faces(fwd_engine &engine, const image_type &img,
                  const std::vector<std::pair<double, dlib::rectangle>> &boxes, int jitters) {
    for (const auto &found : boxes) {
        const dlib::rectangle &box = found.second;
        const dlib::full_object_detection shape = engine.models->predictor(img, box);
        std::vector<dlib::chip_details> details{dlib::get_face_chip_details(shape, 150, 0.25)};
        dlib::array<dlib::matrix<dlib::rgb_pixel>> chips;
        dlib::extract_image_chips(img, details, chips);

        dlib::matrix<float, 0, 1> descriptor;
        if (jitters <= 1) {
            std::vector<dlib::matrix<float, 0, 1>> out = engine.resnet(chips, 16);
            descriptor = out.at(0);
        } else {
            std::vector<dlib::matrix<dlib::rgb_pixel>> crops;
            crops.reserve(static_cast<size_t>(jitters));
            for (int i = 0; i < jitters; ++i) crops.push_back(dlib::jitter_image(chips[0], engine.rnd));
            descriptor = dlib::mean(dlib::mat(engine.resnet(crops, 16)));
        }
        if (descriptor.size() != FWD_ENCODING_LENGTH) {
            throw status_error{FWD_INTERNAL, "the network returned a descriptor of the wrong size"};
        }

        fwd_face face{};
        face.top = static_cast<int32_t>(box.top());
        face.right = static_cast<int32_t>(box.right());
        face.bottom = static_cast<int32_t>(box.bottom());
        face.left = static_cast<int32_t>(box.left());
        face.confidence = found.first;
        const unsigned long parts = std::min<unsigned long>(shape.num_parts(), FWD_MAX_LANDMARKS);
        face.landmark_count = static_cast<int32_t>(parts);
        for (unsigned long i = 0; i < parts; ++i) {
            face.landmarks[2 * i] = static_cast<int32_t>(shape.part(i).x());
            face.landmarks[2 * i + 1] = static_cast<int32_t>(shape.part(i).y());
        }
        for (long i = 0; i < FWD_ENCODING_LENGTH; ++i) face.encoding[i] = descriptor(i);
        engine.faces.push_back(face);
    }
}

}  // namespace

// The detector facewatch's scanner's kept filters were derived from: dlib's frontal face detector of
// this dlib release.
constexpr uint64_t kHogModelSource = (uint64_t{DLIB_MAJOR_VERSION} << 32) | (uint64_t{DLIB_MINOR_VERSION} << 16) |
                                     uint64_t{DLIB_PATCH_VERSION};

// ---------------------------------------------------------------------------------------------
// C ABI

extern "C" fwd_status fwd_models_load(const char *directory, const fwd_model_options *options,
                                      fwd_models **out, char *message, size_t message_capacity) {
    if (out != nullptr) *out = nullptr;
    return guarded(message, message_capacity, [&] {
        if (directory == nullptr || options == nullptr || out == nullptr) {
            throw status_error{FWD_INVALID_ARGUMENT, "fwd_models_load: null argument"};
        }
        if (options->landmarks != FWD_LANDMARKS_5 && options->landmarks != FWD_LANDMARKS_68) {
            throw status_error{FWD_INVALID_ARGUMENT, "landmarks must be 5 or 68"};
        }
        if (options->detector != FWD_DETECTOR_HOG && options->detector != FWD_DETECTOR_CNN &&
            options->detector != FWD_DETECTOR_DLIB_HOG && options->detector != FWD_DETECTOR_DLIB_CNN) {
            throw status_error{FWD_INVALID_ARGUMENT, "unknown detector"};
        }
        const std::string dir(directory);
        auto models = std::make_unique<fwd_models>();
        models->options = *options;
        // dlib's HOG detector is compiled into dlib compressed: decoding it takes most of a start
        // (about 0.4 s here). facewatch's scanner needs only the filters derived from it, which the
        // filter cache file keeps after the first start (when it can be written); otherwise the
        // decoding runs on a thread of its own while this one reads the model files.
        const bool cached = options->detector == FWD_DETECTOR_HOG && options->filter_cache != nullptr;
        const std::string cache = cached ? std::string(options->filter_cache) : std::string();
        std::exception_ptr hog_error;
        auto load_hog = [&] {
            try {
                if (cached && fwhog::read_model_cache(cache, kHogModelSource, models->hog_filters)) return;
                models->hog = dlib::get_frontal_face_detector();
                if (options->detector == FWD_DETECTOR_HOG) {
                    models->hog_filters = fwhog::model_from_dlib(models->hog);
                    if (cached) fwhog::write_model_cache(cache, kHogModelSource, models->hog_filters);
                }
            } catch (...) {
                hog_error = std::current_exception();
            }
        };
        std::thread hog_loader;
        if (options->detector == FWD_DETECTOR_HOG || options->detector == FWD_DETECTOR_DLIB_HOG) {
            try {
                hog_loader = std::thread(load_hog);
            } catch (const std::system_error &) {
                load_hog();  // no thread to be had: in turn
            }
        }
        // Joins the loader however this scope ends (a model file that fails to load throws).
        struct join_on_exit {
            std::thread &thread;
            ~join_on_exit() {
                if (thread.joinable()) thread.join();
            }
        } join_hog{hog_loader};
        load_model(dir, "dlib_face_recognition_resnet_model_v1.dat", models->resnet);
        const char *predictor_file = options->landmarks == FWD_LANDMARKS_68
                                         ? "shape_predictor_68_face_landmarks.dat"
                                         : "shape_predictor_5_face_landmarks.dat";
        load_model(dir, predictor_file, models->predictor);
        const unsigned long expected_parts = options->landmarks == FWD_LANDMARKS_68 ? 68 : 5;
        if (models->predictor.num_parts() != expected_parts) {
            throw status_error{FWD_MODEL_CORRUPT, dir + "/" + predictor_file + ": places " +
                                                      std::to_string(models->predictor.num_parts()) +
                                                      " points, expected " + std::to_string(expected_parts)};
        }
        if (options->detector == FWD_DETECTOR_CNN || options->detector == FWD_DETECTOR_DLIB_CNN) {
            models->mmod = std::make_unique<mmod_type>();
            load_model(dir, "mmod_human_face_detector.dat", *models->mmod);
        }
        if (options->detector == FWD_DETECTOR_CNN) {
            // The weights are folded in well under a millisecond: nothing to keep in a cache.
            try {
                models->cnn = std::make_unique<fwcnn::model>(fwcnn::model_from_dlib(*models->mmod));
            } catch (const std::runtime_error &e) {
                throw status_error{FWD_MODEL_CORRUPT, dir + "/mmod_human_face_detector.dat: " + e.what()};
            }
            models->mmod.reset();
        }
        if (hog_loader.joinable()) hog_loader.join();
        if (hog_error) std::rethrow_exception(hog_error);
        *out = models.release();
    });
}

extern "C" void fwd_models_free(fwd_models *models) {
    try {
        delete models;
    } catch (...) {
    }
}

extern "C" fwd_status fwd_engine_create(const fwd_models *models, fwd_engine **out, char *message,
                                        size_t message_capacity) {
    if (out != nullptr) *out = nullptr;
    return guarded(message, message_capacity, [&] {
        if (models == nullptr || out == nullptr) {
            throw status_error{FWD_INVALID_ARGUMENT, "fwd_engine_create: null argument"};
        }
        auto engine = std::make_unique<fwd_engine>();
        engine->models = models;
        std::lock_guard<std::mutex> lock(models->copy_lock);
        engine->resnet = models->resnet;
        if (models->options.detector == FWD_DETECTOR_DLIB_CNN) {
            engine->mmod = std::make_unique<mmod_type>(*models->mmod);
        } else if (models->options.detector == FWD_DETECTOR_DLIB_HOG) {
            engine->hog = models->hog;
        }
        *out = engine.release();
    });
}

extern "C" void fwd_engine_free(fwd_engine *engine) {
    try {
        delete engine;
    } catch (...) {
    }
}

extern "C" fwd_status fwd_engine_encode(fwd_engine *engine, const uint8_t *rgb, int32_t width, int32_t height,
                                        const fwd_encode_options *options, fwd_result *result, char *message,
                                        size_t message_capacity) {
    if (result != nullptr) *result = fwd_result{nullptr, 0, 0.0, 0.0};
    return guarded(message, message_capacity, [&] {
        if (engine == nullptr || rgb == nullptr || options == nullptr || result == nullptr) {
            throw status_error{FWD_INVALID_ARGUMENT, "fwd_engine_encode: null argument"};
        }
        if (width <= 0 || height <= 0) {
            throw status_error{FWD_INVALID_ARGUMENT, "image has no pixels"};
        }
        if (options->upsample < 0 || options->upsample > 8) {
            throw status_error{FWD_INVALID_ARGUMENT, "upsample must be between 0 and 8"};
        }
        engine->faces.clear();

        const auto start = std::chrono::steady_clock::now();
        const std::vector<std::pair<double, dlib::rectangle>> boxes =
            detect(*engine, rgb, width, height, options->upsample);
        result->detect_seconds = seconds_since(start);

        // Made after detection, so detection's peak memory does not include this copy.
        image_type img(height, width);
        static_assert(sizeof(dlib::rgb_pixel) == 3, "rgb_pixel must be 3 packed bytes");
        std::memcpy(&img(0, 0), rgb, static_cast<size_t>(width) * static_cast<size_t>(height) * 3);

        const auto encode_start = std::chrono::steady_clock::now();
        encode_faces(*engine, img, boxes, options->jitters);
        result->encode_seconds = seconds_since(encode_start);

        result->faces = engine->faces.empty() ? nullptr : engine->faces.data();
        result->face_count = engine->faces.size();
    });
}

extern "C" fwd_status fwd_engine_detect(fwd_engine *engine, const uint8_t *rgb, int32_t width, int32_t height,
                                        int32_t upsample, const fwd_detection **detections, size_t *count,
                                        char *message, size_t message_capacity) {
    if (detections != nullptr) *detections = nullptr;
    if (count != nullptr) *count = 0;
    return guarded(message, message_capacity, [&] {
        if (engine == nullptr || rgb == nullptr || detections == nullptr || count == nullptr) {
            throw status_error{FWD_INVALID_ARGUMENT, "fwd_engine_detect: null argument"};
        }
        if (width <= 0 || height <= 0) {
            throw status_error{FWD_INVALID_ARGUMENT, "image has no pixels"};
        }
        if (upsample < 0 || upsample > 8) {
            throw status_error{FWD_INVALID_ARGUMENT, "upsample must be between 0 and 8"};
        }
        engine->detections.clear();
        for (const auto &d : raw_detections(*engine, rgb, width, height, upsample)) {
            fwd_detection out{};
            out.top = static_cast<int32_t>(d.second.top());
            out.right = static_cast<int32_t>(d.second.right());
            out.bottom = static_cast<int32_t>(d.second.bottom());
            out.left = static_cast<int32_t>(d.second.left());
            out.confidence = d.first;
            engine->detections.push_back(out);
        }
        *detections = engine->detections.empty() ? nullptr : engine->detections.data();
        *count = engine->detections.size();
    });
}

extern "C" fwd_helper_budget *fwd_helper_budget_create(int32_t available) {
    try {
        return new fwd_helper_budget{fwhog::helper_budget(available)};
    } catch (...) {
        return nullptr;
    }
}

extern "C" void fwd_helper_budget_free(fwd_helper_budget *budget) { delete budget; }

extern "C" void fwd_helper_budget_add(fwd_helper_budget *budget, int32_t delta) {
    if (budget != nullptr) budget->helpers.add(delta);
}

extern "C" void fwd_engine_set_helper_budget(fwd_engine *engine, fwd_helper_budget *budget) {
    if (engine != nullptr) engine->helpers = budget;
}

extern "C" int fwd_limit_blas_threads(void) {
    using set_threads_fn = void (*)(int);
    void *symbol = ::dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (symbol == nullptr) return 0;
    reinterpret_cast<set_threads_fn>(symbol)(1);
    return 1;
}

extern "C" const char *fwd_blas_kernel(void) {
    using corename_fn = char *(*)(void);
    void *symbol = ::dlsym(RTLD_DEFAULT, "openblas_get_corename");
    if (symbol == nullptr) return nullptr;
    return reinterpret_cast<corename_fn>(symbol)();
}

extern "C" int fwd_cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
#else
    return 1;
#endif
}
