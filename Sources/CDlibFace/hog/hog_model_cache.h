// A file that keeps the scanner's model between starts. dlib compiles its frontal face detector into
// the library compressed, and decoding it took most of a start (about 0.4 s of 0.6 s for `facewatch
// encode` on one photo); the model the scanner needs from it is 305 short rank terms, which this file
// holds. Internal to CDlibFace; nothing here sees dlib.
#ifndef FACEWATCH_HOG_MODEL_CACHE_H
#define FACEWATCH_HOG_MODEL_CACHE_H

#include <cstdint>
#include <string>

#include "hog_detector.h"

namespace fwhog {

/// The model kept in the file at `path` for the detector identified by `source` (the dlib release it
/// was derived from), into `out`. False, with `out` untouched, when the file is missing, unreadable,
/// for another source, cut short, corrupt (its checksum) or not a model the scanner can run.
/// Throws std::bad_alloc only.
bool read_model_cache(const std::string &path, uint64_t source, model &out);

/// Keeps `m` in the file at `path` for the next start: written to a temporary file beside it, then
/// renamed over it, so a reader sees the old file or the new one. Best effort: a directory that
/// cannot be written (a package's models, owned by root) is no error; false when it was not kept.
bool write_model_cache(const std::string &path, uint64_t source, const model &m);

}  // namespace fwhog

#endif
