// The detector's filter bank on a band of fhog rows (dlib: float_spatially_filter_image_separable,
// once per rank term, summed into the score image). dlib runs each term over whole planes, writing a
// full-plane scratch per term; here a band of rows goes through every term of every filter while it
// is in cache.
//
// The work is multiply-adds (10 for a term's row pass and 10 for its column pass, per output, 305
// terms), and the loops are shaped so the CPU spends its time on them rather than on loads:
// - The band is cut into strips of output columns (the row pass reads 9 columns beyond a strip, and
//   recomputes nothing), so what a strip's passes write stays in L1.
// - The terms of one plane (across the filters) go through the row pass in groups of up to 4: an
//   input vector is loaded once for every term of the group, each tap once per tile of up to 4 column
//   vectors (a register tile of terms × column vectors: 8 to 9 independent sums, enough for two FMA
//   pipes of latency 4).
// - The row pass writes a ring of 16 rows per term, laid out by column block (8 columns) then row, so
//   a column pass reads consecutive rows of one block at fixed offsets from one pointer (aligned
//   loads, no pointer table), and 4 output rows share each loaded ring row; the column taps stay in
//   registers (10 taps, 4 sums and a row: AVX2 has 16; AVX-512VL's 32 would allow 8 rows, measured
//   about 5% faster, not worth a second build of these loops chosen at run time).
// - The row pass prefetches its input two rows ahead.
//
// Reordered float sums (the one place the scanner departs from dlib's arithmetic, for speed): every
// pass is a single chain of fused multiply-adds in tap order (one rounding per tap). A row-pass
// output is in[0]*t[0], then + in[1]*t[1], + in[2]*t[2], ...; a term's column-pass value is
// row[0]*c[0], then + row[1]*c[1], ...; that value is then added to the filter's score (one rounded
// add; the filter's first term is stored), the terms in dlib's order (plane, then singular value).
// dlib keeps three partial sums of separately rounded products and adds each term's value to the
// score the same way. The scores therefore differ from dlib's in the last bits (docs/ARCHITECTURE.md
// and docs/engine.md state the bound the tests enforce; adding a term's value once rather than product
// by product into the score keeps the difference about five times smaller); the boxes are identical
// on every set the tests and the golden set cover. The order is a function of the output's position
// alone, so the scores do not depend on the band size, the strips or the groups. This file alone uses
// FMA (the target attribute below); every other step keeps dlib's rounding.
#include "hog_detector.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#define FWHOG_FMA __attribute__((target("avx2,fma")))

namespace fwhog {
namespace {

constexpr long kLanes = 8;
// Output rows one column pass call computes (they share each ring row it loads).
constexpr long kBlockRows = 4;
// Output columns per strip, in blocks of 8: a group's rings (4 terms × 16 rows × 96 columns, 24 KiB)
// stay in L1.
constexpr long kStripBlocks = 12;
// dlib's frontal face detector has 10 × 10 filters: those take loops with the tap count and the
// ring's size known at compile time; other sizes take the same loops with run-time counts.
constexpr long kFastTaps = 10;
constexpr long kFastRingRows = 16;

// Ring rows for a column filter of `taps` taps: a power of two (slots wrap by masking) that holds the
// kBlockRows + taps - 1 rows one column pass call reads.
long ring_rows_for(long taps) {
    long rows = 1;
    while (rows < kBlockRows + taps - 1) rows *= 2;
    return rows;
}

// Lanes [0, min(left, 8)) on: a masked load or store touches only the row's own columns.
FWHOG_FMA inline __m256i tail_mask(long left) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left < 8 ? left : 8)), lanes);
}

FWHOG_FMA inline __m256 load(const float *p, bool masked, __m256i mask) {
    return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

// Row pass of T terms over `V` column blocks from block b: ring[t][b + v] = sum_j in[8(b + v) + lane + j]
// * taps[t][j], one chain per output in tap order. MASKED: one block whose lanes from `mask` on are
// past the row (their inputs read as 0, so their outputs are 0). Term t's ring row for column block b
// is at out + t * term_stride + b * block_stride (8 floats).
template <int N, int T, int V, bool MASKED>
FWHOG_FMA inline void row_pass_tile(const float *in, const float *taps, long n, long b, __m256i mask, float *out,
                                    long block_stride, long term_stride) {
    const long count = N > 0 ? N : n;
    const float *p = in + b * kLanes;
    // The fast path's strides are constants (addresses fold into the stores).
    if constexpr (N > 0) {
        block_stride = kFastRingRows * kLanes;
        term_stride = kStripBlocks * kFastRingRows * kLanes;
    }
    __m256 acc[T][V];
    __m256 x[V];
    for (int v = 0; v < V; ++v) x[v] = load(p + v * kLanes, MASKED, mask);
    for (int t = 0; t < T; ++t) {
        const __m256 tap = _mm256_broadcast_ss(taps + t * count);
        for (int v = 0; v < V; ++v) acc[t][v] = _mm256_mul_ps(x[v], tap);
    }
    for (long j = 1; j < count; ++j) {
        for (int v = 0; v < V; ++v) x[v] = load(p + v * kLanes + j, MASKED, mask);
        for (int t = 0; t < T; ++t) {
            const __m256 tap = _mm256_broadcast_ss(taps + t * count + j);
            for (int v = 0; v < V; ++v) acc[t][v] = _mm256_fmadd_ps(x[v], tap, acc[t][v]);
        }
    }
    for (int t = 0; t < T; ++t) {
        for (int v = 0; v < V; ++v) {
            _mm256_store_ps(out + t * term_stride + (b + v) * block_stride, acc[t][v]);
        }
    }
}

// One input row's row pass for a group of T terms over `blocks` column blocks, the last of which
// has `tail` columns of the row (8 when full). `in` is the input row at the strip's first output
// column (out[c] reads in[c - first_col + j]); taps: T × n, term after term.
template <int N, int T>
FWHOG_FMA void row_pass_group(const float *in, const float *taps, long n, long blocks, long tail, float *out,
                              long block_stride, long term_stride) {
    // Column vectors per tile: T × V accumulators plus V inputs and a tap within 16 registers.
    constexpr int V = T >= 4 ? 2 : T == 3 ? 3 : 4;
    const __m256i none = _mm256_setzero_si256();
    const long full = tail == kLanes ? blocks : blocks - 1;
    long b = 0;
    for (; b + V <= full; b += V) row_pass_tile<N, T, V, false>(in, taps, n, b, none, out, block_stride, term_stride);
    for (; b < full; ++b) row_pass_tile<N, T, 1, false>(in, taps, n, b, none, out, block_stride, term_stride);
    if (full < blocks) row_pass_tile<N, T, 1, true>(in, taps, n, b, tail_mask(tail), out, block_stride, term_stride);
}

// Column pass of one term over R output rows of a strip: dst[rho][8b + lane] (+)= sum_m
// ring[b][slot(rho + m)] * taps[m], one chain per output in tap order, then added to the score (or
// stored when the term is its filter's first). Ring row s of the call is at slot (start + s) mod
// ring_rows; with the fast path's sizes START is that start, known at compile time, so every ring
// row is a fixed offset from the block's pointer.
struct column_job {
    const float *ring;  // block 0, slot 0
    long block_stride;
    long start;  // the slot of the call's first ring row (run-time sizes)
    long ring_rows;
    const float *taps;
    long n;
    long blocks, tail;
    float *dst;  // output row 0 at the strip's first column
    size_t dst_stride;
    bool add;
};

// Ends one ring row's step of a column pass: its loads and multiply-adds stay on this side. Without
// it, clang loads all 13 ring rows first and then runs the sums output by output, which needs 27
// registers where AVX2 has 16 and spills taps and rows to the stack on every block.
template <int R>
FWHOG_FMA inline void step_barrier(__m256 *acc) {
    if constexpr (R == 1) __asm__ volatile("" : "+x"(acc[0])::"memory");
    if constexpr (R == 2) __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1])::"memory");
    if constexpr (R == 3) __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2])::"memory");
    if constexpr (R == 4) __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3])::"memory");
}

template <int N, int R, int START, bool MASKED>
FWHOG_FMA inline void column_pass_block(const float *q, const __m256 *tv, const float *taps, long n, long start,
                                        long ring_mask, float *d, size_t dst_stride, bool add, __m256i mask) {
    const long count = N > 0 ? N : n;
    auto slot = [&](long s) { return N > 0 ? ((START + s) & (kFastRingRows - 1)) : ((start + s) & ring_mask); };
    auto tap = [&](long m) { return N > 0 ? tv[m] : _mm256_broadcast_ss(taps + m); };
    __m256 acc[R];
#pragma unroll
    for (int rho = 0; rho < R; ++rho) {
        acc[rho] = _mm256_setzero_ps();
    }
    // Ring row s serves output rows rho with tap m = s - rho.
#pragma unroll
    for (long s = 0; s < count + R - 1; ++s) {
        const __m256 x = _mm256_load_ps(q + slot(s) * kLanes);
#pragma unroll
        for (int rho = 0; rho < R; ++rho) {
            const long m = s - rho;
            if (m >= 0 && m < count) acc[rho] = _mm256_fmadd_ps(x, tap(m), acc[rho]);
        }
        step_barrier<R>(acc);
    }
#pragma unroll
    for (int rho = 0; rho < R; ++rho) {
        if (add) acc[rho] = _mm256_add_ps(load(d + rho * dst_stride, MASKED, mask), acc[rho]);
        if (MASKED) {
            _mm256_maskstore_ps(d + rho * dst_stride, mask, acc[rho]);
        } else {
            _mm256_storeu_ps(d + rho * dst_stride, acc[rho]);
        }
    }
}

template <int N, int R, int START>
FWHOG_FMA void column_pass_rows(const column_job &job) {
    // Locals, not job's fields: the stores below may alias anything, which would make the compiler
    // reload every field after each one.
    const float *const ring = job.ring;
    const long block_stride = N > 0 ? kFastRingRows * kLanes : job.block_stride;
    const float *const taps = job.taps;
    const long n = job.n, start = job.start, ring_mask = job.ring_rows - 1;
    float *const dst = job.dst;
    const size_t dst_stride = job.dst_stride;
    const bool add = job.add;
    __m256 tv[N > 0 ? N : 1];
    if constexpr (N > 0) {
        for (int m = 0; m < N; ++m) tv[m] = _mm256_broadcast_ss(taps + m);
    }
    const __m256i none = _mm256_setzero_si256();
    const long full = job.tail == kLanes ? job.blocks : job.blocks - 1;
    long b = 0;
    for (; b < full; ++b) {
        column_pass_block<N, R, START, false>(ring + b * block_stride, tv, taps, n, start, ring_mask, dst + b * kLanes,
                                              dst_stride, add, none);
    }
    if (full < job.blocks) {
        column_pass_block<N, R, START, true>(ring + b * block_stride, tv, taps, n, start, ring_mask, dst + b * kLanes,
                                             dst_stride, add, tail_mask(job.tail));
    }
}

using row_pass_fn = void (*)(const float *, const float *, long, long, long, float *, long, long);
using column_pass_fn = void (*)(const column_job &);

template <int N>
row_pass_fn row_pass_for_group(int terms) {
    switch (terms) {
    case 1: return row_pass_group<N, 1>;
    case 2: return row_pass_group<N, 2>;
    case 3: return row_pass_group<N, 3>;
    default: return row_pass_group<N, 4>;
    }
}

// The fast path's calls start at slots 0, 4, 8 or 12 (output rows go by 4, the ring has 16 rows).
template <int R>
column_pass_fn fast_column_pass_at(long start) {
    switch (start) {
    case 0: return column_pass_rows<kFastTaps, R, 0>;
    case 4: return column_pass_rows<kFastTaps, R, 4>;
    case 8: return column_pass_rows<kFastTaps, R, 8>;
    default: return column_pass_rows<kFastTaps, R, 12>;
    }
}

column_pass_fn column_pass_for(bool fast, long rows, long start) {
    static_assert(kBlockRows == 4 && kFastRingRows == 16 && kFastRingRows % kBlockRows == 0);
    switch (rows) {
    case 1: return fast ? fast_column_pass_at<1>(start) : column_pass_rows<0, 1, 0>;
    case 2: return fast ? fast_column_pass_at<2>(start) : column_pass_rows<0, 2, 0>;
    case 3: return fast ? fast_column_pass_at<3>(start) : column_pass_rows<0, 3, 0>;
    default: return fast ? fast_column_pass_at<4>(start) : column_pass_rows<0, 4, 0>;
    }
}

}  // namespace

filter_bank_band::filter_bank_band(const model &m, long plane_rows, long plane_cols, long band_rows)
    : plane_rows_(plane_rows), plane_cols_(plane_cols),
      filter_rows_(m.filter_rows), filter_cols_(m.filter_cols) {
    first_row_ = filter_rows_ / 2;
    first_col_ = filter_cols_ / 2;
    last_row_ = plane_rows - (filter_rows_ - 1) / 2;
    last_col_ = plane_cols - (filter_cols_ - 1) / 2;
    fast_ = filter_rows_ == kFastTaps && filter_cols_ == kFastTaps;
    ring_rows_ = ring_rows_for(filter_rows_);
    // Rings of a group: kGroupTerms terms × kStripBlocks blocks × ring_rows_ rows × 8 lanes, aligned
    // to 32 bytes for the column pass's aligned loads.
    rings_.assign(static_cast<size_t>(kGroupTerms * kStripBlocks * ring_rows_ * kLanes) + 8, 0.0f);
    score_stride_ = static_cast<size_t>((plane_cols + kLanes - 1) / kLanes * kLanes);
    scores_.assign(m.filters.size(), std::vector<float>(static_cast<size_t>(band_rows) * score_stride_ + kLanes, 0.0f));
    for (std::vector<float> &scores : scores_) {
        const uintptr_t first = reinterpret_cast<uintptr_t>(scores.data() + first_col_) / sizeof(float);
        score_rows_.push_back(scores.data() + (kLanes - first % kLanes) % kLanes);
    }
    // Groups: per plane, the terms of every filter on it (filter by filter, each filter's in its
    // order), cut into groups of at most kGroupTerms of sizes as even as possible (a smaller group
    // shares fewer loads).
    std::vector<bool> started(m.filters.size(), false);
    for (int plane = 0; plane < 31; ++plane) {
        std::vector<std::pair<size_t, const separable_term *>> terms;
        for (size_t f = 0; f < m.filters.size(); ++f) {
            for (const separable_term &term : m.filters[f].terms) {
                if (term.plane == plane) terms.emplace_back(f, &term);
            }
        }
        const size_t count = terms.size();
        const size_t groups = (count + kGroupTerms - 1) / kGroupTerms;
        size_t next = 0;
        for (size_t g = 0; g < groups; ++g) {
            const size_t size = (count - next) / (groups - g);
            term_group group;
            group.plane = plane;
            for (size_t i = next; i < next + size; ++i) {
                const auto [f, term] = terms[i];
                group.filters.push_back(f);
                group.adds.push_back(started[f]);
                started[f] = true;
                group.row_taps.insert(group.row_taps.end(), term->row.begin(), term->row.end());
                group.col_taps.insert(group.col_taps.end(), term->col.begin(), term->col.end());
            }
            next += size;
            groups_.push_back(std::move(group));
        }
    }
    for (size_t f = 0; f < m.filters.size(); ++f) {
        if (!started[f]) empty_filters_.push_back(f);
    }
}

void filter_bank_band::apply_group(const term_group &group, const float *plane, long rows, long first,
                                   long blocks, long tail) {
    const size_t cols = static_cast<size_t>(plane_cols_);
    const long terms = static_cast<long>(group.filters.size());
    const long n_row = filter_cols_, n_col = filter_rows_;
    float *rings = aligned_rings();
    // Term t's ring: block b's slot k at rings + t * term_stride + b * block_stride + 8k.
    const long block_stride = ring_rows_ * kLanes, term_stride = kStripBlocks * ring_rows_ * kLanes;
    const row_pass_fn row_pass = fast_ ? row_pass_for_group<kFastTaps>(static_cast<int>(terms))
                                       : row_pass_for_group<0>(static_cast<int>(terms));
    // dlib's zero border rows (plane rows before pad_top or from pad_bottom on) give a row pass of
    // +0 everywhere (each chain starts at +0 and adds only zero products), written directly.
    const long pad_top = (filter_rows_ - 1) / 2, pad_bottom = plane_rows_ - filter_rows_ / 2;
    const long plane_first = band_first_ - first_row_;  // the plane row at i = 0
    // Input row i (of the band) goes to ring slot i mod ring_rows_.
    auto row_pass_row = [&](long i) {
        float *out = rings + (i & (ring_rows_ - 1)) * kLanes;
        if (plane_first + i < pad_top || plane_first + i >= pad_bottom) {
            for (long t = 0; t < terms; ++t) {
                for (long b = 0; b < blocks; ++b) {
                    std::memset(out + t * term_stride + b * block_stride, 0, sizeof(float) * kLanes);
                }
            }
        } else {
            // Input row i + 2 into L1 while row i is filtered: the first group of a plane reads its
            // rows from L3 (a band's 31 planes do not fit L2), and the hardware prefetcher does not
            // run ahead of a strip's short row segments (this took a quarter off the row passes).
            if (i + 2 < rows + n_col - 1) {
                const char *ahead = reinterpret_cast<const char *>(plane + static_cast<size_t>(i + 2) * cols +
                                                                   static_cast<size_t>(first - first_col_));
                const long bytes = static_cast<long>(sizeof(float)) * (blocks * kLanes + n_row);
                for (long byte = 0; byte < bytes; byte += 64) _mm_prefetch(ahead + byte, _MM_HINT_T0);
            }
            row_pass(plane + static_cast<size_t>(i) * cols + static_cast<size_t>(first - first_col_),
                     group.row_taps.data(), n_row, blocks, tail, out, block_stride, term_stride);
        }
    };
    for (long i = 0; i < n_col - 1; ++i) row_pass_row(i);
    for (long r = 0; r < rows; r += kBlockRows) {
        const long block_rows = std::min(kBlockRows, rows - r);
        for (long i = r + n_col - 1; i < r + n_col - 1 + block_rows; ++i) row_pass_row(i);
        const long start = r & (ring_rows_ - 1);
        const column_pass_fn column_pass = column_pass_for(fast_, block_rows, start);
        for (long t = 0; t < terms; ++t) {
            const size_t f = group.filters[static_cast<size_t>(t)];
            column_job job{rings + t * term_stride,
                           block_stride,
                           start,
                           ring_rows_,
                           group.col_taps.data() + t * n_col,
                           n_col,
                           blocks,
                           tail,
                           score_rows_[f] + static_cast<size_t>(r) * score_stride_ + static_cast<size_t>(first),
                           score_stride_,
                           group.adds[static_cast<size_t>(t)]};
            column_pass(job);
        }
    }
}

float *filter_bank_band::aligned_rings() {
    const uintptr_t at = reinterpret_cast<uintptr_t>(rings_.data());
    return rings_.data() + ((32 - at % 32) % 32) / sizeof(float);
}

void filter_bank_band::apply(const float *planes, size_t stride, long r0, long r1) {
    band_first_ = r0;
    const long rows = r1 - r0;
    // Strip by strip; within a strip, plane by plane, so every output receives its filter's terms
    // in dlib's order.
    for (long first = first_col_; first < last_col_; first += kStripBlocks * kLanes) {
        const long width = std::min(kStripBlocks * kLanes, last_col_ - first);
        const long blocks = (width + kLanes - 1) / kLanes;
        const long tail = width - (blocks - 1) * kLanes;
        for (const term_group &group : groups_) {
            apply_group(group, planes + static_cast<size_t>(group.plane) * stride, rows, first, blocks, tail);
        }
    }
    // A filter with no terms scores 0 everywhere (dlib: an all-zero score image).
    for (size_t f : empty_filters_) {
        std::memset(score_rows_[f], 0, sizeof(float) * static_cast<size_t>(rows) * score_stride_);
    }
}

}  // namespace fwhog
