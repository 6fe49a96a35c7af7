/*
 * codec_fuzzer.c - libFuzzer target for the image codec (Sources/CImageCodec).
 *
 * Every input goes through the public entry points the daemon calls on untrusted bytes: fwc_sniff,
 * fwc_probe and, when the probe accepts, fwc_decode_probed (what ImageDecoder calls) and
 * fwc_decode, into buffers of the size the probe gave. Limits are small so that large declared
 * sizes are rejected quickly and the fuzzer spends its time in the parsers, not in allocating
 * pixels. Besides the sanitizers' findings, the target aborts when the codec contradicts itself:
 * decode must see the header probe saw, both decode paths must give the same status and pixels,
 * messages must be NUL-terminated within their buffer, and a failure must carry a message.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

/* Small enough to keep each execution fast, large enough for every committed fixture. */
static const fwc_limits fuzz_limits = {.max_bytes = 1u << 20, .max_pixels = 1u << 18};

static void check_message(fwc_status status, const char *message, size_t capacity) {
    if (memchr(message, '\0', capacity) == NULL) abort();
    if (status != FWC_OK && message[0] == '\0') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fwc_format format = fwc_sniff(data, size);
    if (fwc_format_name(format) == NULL) abort();

    fwc_header probed;
    char message[FWC_MESSAGE_CAPACITY];
    fwc_status status = fwc_probe(data, size, fuzz_limits, &probed, message, sizeof message);
    check_message(status, message, sizeof message);
    if (status != FWC_OK) return 0;
    if (probed.format != format) abort();
    if ((uint64_t)probed.width * probed.height > fuzz_limits.max_pixels) abort();

    size_t rgb_size = (size_t)probed.width * probed.height * 3;
    uint8_t *rgb = malloc(rgb_size);
    uint8_t *again = malloc(rgb_size);
    if (rgb == NULL || again == NULL) {
        free(rgb);
        free(again);
        return 0;
    }
    /* The path ImageDecoder takes: the probe's header handed on, the metadata not read again.
     * A short message buffer too: the codec must truncate, not overflow. */
    fwc_header decoded;
    char short_message[8];
    status = fwc_decode_probed(data, size, fuzz_limits, &probed, rgb, rgb_size, &decoded,
                               short_message, sizeof short_message);
    check_message(status, short_message, sizeof short_message);
    if (status == FWC_BAD_ARGUMENT) abort(); /* the header and buffer are the probe's */
    if (status == FWC_OK && memcmp(&probed, &decoded, sizeof probed) != 0) abort();
    /* fwc_decode reads everything again: it must come to the same answer and the same pixels. */
    fwc_header decoded_again;
    fwc_status status_again = fwc_decode(data, size, fuzz_limits, again, rgb_size, &decoded_again,
                                         message, sizeof message);
    check_message(status_again, message, sizeof message);
    if (status_again != status) abort();
    if (status == FWC_OK && memcmp(&decoded, &decoded_again, sizeof decoded) != 0) abort();
    /* Not for HEIF: libde265 may leave a damaged stream's pixels unwritten without a word, so they
     * hold whatever the memory held (docs/formats.md; Fixtures/codec/fuzz/heif_unwritten_pixels.heic
     * is the input that showed it). Everything else must decode to the same pixels twice. */
    if (status == FWC_OK && format != FWC_FORMAT_HEIF && memcmp(rgb, again, rgb_size) != 0) abort();
    free(rgb);
    free(again);
    return 0;
}
