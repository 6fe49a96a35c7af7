// The scanner's model file (hog_model_cache.h). Layout, native byte order: 8 magic bytes (which also
// tell the byte order apart), the source (uint64), the payload's length (uint64), the payload, and
// the payload's FNV-1a 64-bit checksum. The payload: the geometry (cell size, filter and box rows and
// columns as int32; pyramid limits as uint64; the overlap test's two thresholds as doubles), then the
// filters: their count, and for each its threshold (double), its term count, and each term's plane,
// row taps and column taps (counts as uint32, taps as floats).
#include "hog_model_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace fwhog {
namespace {

constexpr char kMagic[8] = {'F', 'W', 'H', 'O', 'G', '\x01', '\r', '\n'};
constexpr uint32_t kByteOrder = 0x01020304;
// Far above the frontal face detector's (5 filters, 305 terms, 10 taps): a file that claims more is
// corrupt, and reading stops before allocating for it.
constexpr uint32_t kMostFilters = 64;
constexpr uint32_t kMostTerms = 4096;
constexpr uint32_t kMostTaps = 64;
constexpr uint64_t kMostPayload = 16u << 20;

uint64_t fnv1a(const uint8_t *data, size_t size) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 0x100000001b3ull;
    return hash;
}

struct writer {
    std::vector<uint8_t> bytes;
    template <typename T>
    void put(const T &value) {
        const auto *p = reinterpret_cast<const uint8_t *>(&value);
        bytes.insert(bytes.end(), p, p + sizeof(T));
    }
    void put_floats(const std::vector<float> &values) {
        put(static_cast<uint32_t>(values.size()));
        const auto *p = reinterpret_cast<const uint8_t *>(values.data());
        bytes.insert(bytes.end(), p, p + values.size() * sizeof(float));
    }
};

struct reader {
    const uint8_t *at;
    const uint8_t *end;
    bool ok = true;
    template <typename T>
    T get() {
        T value{};
        if (static_cast<size_t>(end - at) < sizeof(T)) {
            ok = false;
            return value;
        }
        std::memcpy(&value, at, sizeof(T));
        at += sizeof(T);
        return value;
    }
    std::vector<float> get_floats() {
        const uint32_t count = get<uint32_t>();
        if (!ok || count > kMostTaps || static_cast<size_t>(end - at) < count * sizeof(float)) {
            ok = false;
            return {};
        }
        std::vector<float> values(count);
        std::memcpy(values.data(), at, count * sizeof(float));
        at += count * sizeof(float);
        return values;
    }
};

// Reads the whole file (at most `limit` bytes); false on any error or a larger file.
bool read_file(const std::string &path, size_t limit, std::vector<uint8_t> &out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    struct stat st {};
    bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<size_t>(st.st_size) <= limit;
    if (ok) {
        out.resize(static_cast<size_t>(st.st_size));
        size_t done = 0;
        while (ok && done < out.size()) {
            const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
            if (n > 0) {
                done += static_cast<size_t>(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                ok = false;
            }
        }
    }
    ::close(fd);
    return ok;
}

}  // namespace

bool read_model_cache(const std::string &path, uint64_t source, model &out) {
    std::vector<uint8_t> file;
    if (!read_file(path, kMostPayload + 64, file)) return false;
    reader in{file.data(), file.data() + file.size()};
    char magic[8];
    for (char &c : magic) c = static_cast<char>(in.get<uint8_t>());
    if (!in.ok || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0 || in.get<uint32_t>() != kByteOrder) return false;
    if (in.get<uint64_t>() != source) return false;
    const uint64_t length = in.get<uint64_t>();
    if (!in.ok || length > static_cast<uint64_t>(in.end - in.at) || static_cast<uint64_t>(in.end - in.at) - length != 8) {
        return false;
    }
    const uint8_t *payload = in.at;
    uint64_t checksum = 0;
    std::memcpy(&checksum, payload + length, sizeof(checksum));
    if (checksum != fnv1a(payload, length)) return false;

    reader body{payload, payload + length};
    model m;
    m.cell_size = body.get<int32_t>();
    m.filter_rows = body.get<int32_t>();
    m.filter_cols = body.get<int32_t>();
    m.box_rows = body.get<int32_t>();
    m.box_cols = body.get<int32_t>();
    m.max_pyramid_levels = body.get<uint64_t>();
    m.min_pyramid_layer_width = body.get<uint64_t>();
    m.min_pyramid_layer_height = body.get<uint64_t>();
    m.iou_threshold = body.get<double>();
    m.covered_threshold = body.get<double>();
    const uint32_t filters = body.get<uint32_t>();
    if (!body.ok || filters == 0 || filters > kMostFilters || m.cell_size != 8 || m.filter_rows <= 0 ||
        m.filter_cols <= 0 || m.filter_rows > static_cast<int32_t>(kMostTaps) ||
        m.filter_cols > static_cast<int32_t>(kMostTaps) || m.box_rows <= 0 || m.box_cols <= 0 ||
        m.box_rows > m.filter_rows || m.box_cols > m.filter_cols) {
        return false;
    }
    for (uint32_t f = 0; f < filters; ++f) {
        filter one;
        one.threshold = body.get<double>();
        const uint32_t terms = body.get<uint32_t>();
        if (!body.ok || terms > kMostTerms) return false;
        for (uint32_t t = 0; t < terms; ++t) {
            separable_term term;
            term.plane = body.get<int32_t>();
            term.row = body.get_floats();
            term.col = body.get_floats();
            if (!body.ok || term.plane < 0 || term.plane >= 31 ||
                term.row.size() != static_cast<size_t>(m.filter_cols) ||
                term.col.size() != static_cast<size_t>(m.filter_rows)) {
                return false;
            }
            one.terms.push_back(std::move(term));
        }
        m.filters.push_back(std::move(one));
    }
    if (body.at != body.end) return false;
    out = std::move(m);
    return true;
}

bool write_model_cache(const std::string &path, uint64_t source, const model &m) {
    writer body;
    body.put(static_cast<int32_t>(m.cell_size));
    body.put(static_cast<int32_t>(m.filter_rows));
    body.put(static_cast<int32_t>(m.filter_cols));
    body.put(static_cast<int32_t>(m.box_rows));
    body.put(static_cast<int32_t>(m.box_cols));
    body.put(static_cast<uint64_t>(m.max_pyramid_levels));
    body.put(static_cast<uint64_t>(m.min_pyramid_layer_width));
    body.put(static_cast<uint64_t>(m.min_pyramid_layer_height));
    body.put(m.iou_threshold);
    body.put(m.covered_threshold);
    body.put(static_cast<uint32_t>(m.filters.size()));
    for (const filter &f : m.filters) {
        body.put(f.threshold);
        body.put(static_cast<uint32_t>(f.terms.size()));
        for (const separable_term &term : f.terms) {
            body.put(static_cast<int32_t>(term.plane));
            body.put_floats(term.row);
            body.put_floats(term.col);
        }
    }
    writer file;
    for (char c : kMagic) file.put(static_cast<uint8_t>(c));
    file.put(kByteOrder);
    file.put(source);
    file.put(static_cast<uint64_t>(body.bytes.size()));
    file.bytes.insert(file.bytes.end(), body.bytes.begin(), body.bytes.end());
    file.put(fnv1a(body.bytes.data(), body.bytes.size()));

    const std::string temporary = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return false;
    size_t done = 0;
    bool ok = true;
    while (ok && done < file.bytes.size()) {
        const ssize_t n = ::write(fd, file.bytes.data() + done, file.bytes.size() - done);
        if (n > 0) {
            done += static_cast<size_t>(n);
        } else if (!(n < 0 && errno == EINTR)) {
            ok = false;
        }
    }
    ok = ::fsync(fd) == 0 && ok;
    ok = ::close(fd) == 0 && ok;
    if (ok) ok = ::rename(temporary.c_str(), path.c_str()) == 0;
    if (!ok) ::unlink(temporary.c_str());
    return ok;
}

}  // namespace fwhog
