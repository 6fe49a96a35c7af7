// The scanner's large scratch blocks, kept between images (see scratch_pool in hog_detector.h).
#include "hog_detector.h"

#include <algorithm>
#include <new>

namespace fwhog {

scratch_pool::block::~block() {
    if (pool_ != nullptr && data_ != nullptr) pool_->give(std::move(data_), size_);
}

scratch_pool::block &scratch_pool::block::operator=(block &&other) noexcept {
    if (this != &other) {
        if (pool_ != nullptr && data_ != nullptr) pool_->give(std::move(data_), size_);
        pool_ = other.pool_;
        data_ = std::move(other.data_);
        size_ = other.size_;
        other.pool_ = nullptr;
        other.size_ = 0;
    }
    return *this;
}

scratch_pool::~scratch_pool() = default;

scratch_pool::block scratch_pool::take(size_t bytes) {
    if (bytes == 0) return block();
    {
        // The smallest free block that is large enough: levels and bands shrink as the pyramid goes
        // down, so a level's blocks serve the next level's.
        std::lock_guard<std::mutex> lock(mutex_);
        size_t best = free_.size();
        for (size_t i = 0; i < free_.size(); ++i) {
            if (free_[i].size >= bytes && (best == free_.size() || free_[i].size < free_[best].size)) best = i;
        }
        if (best != free_.size()) {
            entry found = std::move(free_[best]);
            free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
            free_bytes_ -= found.size;
            return block(this, std::move(found.data), found.size);
        }
    }
    // Whole 64 KiB, so a block serves a slightly larger request next time.
    const size_t size = (bytes + 65535) / 65536 * 65536;
    return block(this, std::unique_ptr<uint8_t[]>(new uint8_t[size]), size);
}

void scratch_pool::give(std::unique_ptr<uint8_t[]> data, size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
        free_.push_back(entry{size, std::move(data)});
        free_bytes_ += size;
    } catch (const std::bad_alloc &) {
        // The block is freed (it was moved into the failed push or still in `data`).
    }
}

void scratch_pool::trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    // Largest first: what a big photo left behind goes back to the system, a usual image's blocks stay.
    std::sort(free_.begin(), free_.end(), [](const entry &a, const entry &b) { return a.size > b.size; });
    size_t i = 0;
    while (i < free_.size() && free_bytes_ > keep_bytes_) {
        free_bytes_ -= free_[i].size;
        ++i;
    }
    free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(i));
}

size_t scratch_pool::kept_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return free_bytes_;
}

}  // namespace fwhog
