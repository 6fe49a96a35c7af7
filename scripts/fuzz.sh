#!/usr/bin/env bash
# Builds the codec's libFuzzer target (fuzz/codec_fuzzer.c, ASan + UBSan) and runs it for a bounded
# time on one core. Exits non-zero when the fuzzer finds a crash, a leak or undefined behaviour; the
# input is left in .cache/fuzz/artifacts/.
#
# The seed corpus is made here, not committed: the codec fixtures (Tests/FaceEncodingTests/Fixtures/
# codec, with fuzz/ holding what earlier runs found) and the test images (make test-images), named
# by content so a seed is stored once. What
# the fuzzer adds goes to .cache/fuzz/corpus and is reused by the next run.
#
#   FUZZ_SECONDS  how long to fuzz (default 60)
#   FUZZ_MAX_LEN  the largest input tried, in bytes (default 65536; bigger seeds are cut to it)
#   FUZZ_CC       the clang with libFuzzer's runtime (default clang-14 from Debian)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-65536}
cc=${FUZZ_CC:-clang-14}
work=.cache/fuzz
binary=$work/codec_fuzzer

# The compiler must link libFuzzer's runtime (Debian: libclang-rt-14-dev next to clang-14).
probe='int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }'
if ! command -v "$cc" >/dev/null 2>&1 ||
    ! echo "$probe" | "$cc" -fsanitize=fuzzer,address,undefined -x c - -o /dev/null >/dev/null 2>&1; then
    echo "fuzz: $cc cannot build a libFuzzer target (missing compiler or fuzzer runtime); install:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y clang-14 libclang-rt-14-dev" >&2
    exit 1
fi

mkdir -p "$work/seed" "$work/corpus" "$work/artifacts"

# Seeds: every fixture and test image, stored under its SHA-256 (no duplicates across runs).
seeds=0
while IFS= read -r -d "" file; do
    [[ -f "$file" && "$file" != */expected.json && "$file" != */.complete ]] || continue
    digest=$(sha256sum "$file" | cut -d' ' -f1)
    [[ -e "$work/seed/$digest" ]] || cp "$file" "$work/seed/$digest"
    seeds=$((seeds + 1))
done < <(find Tests/FaceEncodingTests/Fixtures/codec .cache/test-images -type f -print0 2>/dev/null)
echo "fuzz: $seeds seed files in $work/seed"

sources=(Sources/CImageCodec/*.c fuzz/codec_fuzzer.c)
# Rebuilt when a source changed or another compiler is asked for ($binary.cc names the last one).
if [[ ! -x "$binary" ]] || [[ "$(cat "$binary.cc" 2>/dev/null)" != "$cc" ]] ||
    [[ -n "$(find "${sources[@]}" Sources/CImageCodec -newer "$binary" -print -quit)" ]]; then
    echo "fuzz: building $binary with $cc (ASan + UBSan + libFuzzer)"
    "$cc" -std=c11 -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -ISources/CImageCodec/include -ISources/CImageCodec \
        "${sources[@]}" -ljpeg -lpng -lz -lwebp -lwebpdemux -lheif -lavif -lm -o "$binary.tmp"
    mv "$binary.tmp" "$binary"
    echo "$cc" >"$binary.cc"
fi

echo "fuzz: running for $seconds s on one core (inputs up to $max_len bytes)"
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    "$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seed"
