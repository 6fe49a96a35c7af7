/*
 * heif_sps.c - the picture sizes in a HEIF file's HEVC decoder configurations (hvcC boxes), read
 * before libheif decodes anything (ITU-T H.265 7.3.2.2 and 7.3.3, ISO/IEC 14496-15 8.3.3.1).
 *
 * The boxes are found by scanning the file for the "hvcC" type with a size that fits: a grid image
 * has one per tile, and the primary item's may sit anywhere in the meta box. Parameter sets carried
 * inside the coded data instead of hvcC are not looked at (encoders put them in hvcC; docs/formats.md
 * says so).
 */
#include "heif_sps.h"

#include <string.h>

typedef struct bit_reader {
    uint8_t rbsp[64]; /* the first bytes of the SPS payload, emulation prevention removed */
    size_t size;
    size_t bit;
    int overrun;
} bit_reader;

static uint32_t read_bits(bit_reader *r, unsigned n) {
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        if (r->bit >= r->size * 8) {
            r->overrun = 1;
            return 0;
        }
        v = v << 1 | ((r->rbsp[r->bit >> 3] >> (7 - (r->bit & 7))) & 1u);
        r->bit++;
    }
    return v;
}

/* Exp-Golomb ue(v); values past 32 bits mark the reader overrun. */
static uint32_t read_ue(bit_reader *r) {
    unsigned zeros = 0;
    while (read_bits(r, 1) == 0) {
        if (r->overrun || ++zeros > 31) {
            r->overrun = 1;
            return 0;
        }
    }
    return (uint32_t)((1ull << zeros) - 1 + read_bits(r, zeros));
}

int fwc_hevc_sps_size(const uint8_t *nal, size_t size, uint32_t *width, uint32_t *height) {
    if (size < 3 || ((nal[0] >> 1) & 0x3F) != 33) return 0; /* not an SPS */
    bit_reader r;
    memset(&r, 0, sizeof r);
    int zeros = 0;
    for (size_t i = 2; i < size && r.size < sizeof r.rbsp; i++) {
        if (zeros >= 2 && nal[i] == 3) { /* emulation prevention byte */
            zeros = 0;
            continue;
        }
        zeros = nal[i] == 0 ? zeros + 1 : 0;
        r.rbsp[r.size++] = nal[i];
    }
    read_bits(&r, 4); /* sps_video_parameter_set_id */
    unsigned sub_layers = read_bits(&r, 3); /* sps_max_sub_layers_minus1 */
    read_bits(&r, 1);                       /* sps_temporal_id_nesting_flag */
    read_bits(&r, 32); read_bits(&r, 32); read_bits(&r, 24); /* general profile: 88 bits */
    read_bits(&r, 8);                                        /* general_level_idc */
    unsigned profile_present[8] = {0}, level_present[8] = {0};
    for (unsigned i = 0; i < sub_layers; i++) {
        profile_present[i] = read_bits(&r, 1);
        level_present[i] = read_bits(&r, 1);
    }
    if (sub_layers > 0)
        for (unsigned i = sub_layers; i < 8; i++) read_bits(&r, 2);
    for (unsigned i = 0; i < sub_layers; i++) {
        if (profile_present[i]) {
            read_bits(&r, 32); read_bits(&r, 32); read_bits(&r, 24);
        }
        if (level_present[i]) read_bits(&r, 8);
    }
    read_ue(&r); /* sps_seq_parameter_set_id */
    if (read_ue(&r) == 3) read_bits(&r, 1); /* chroma_format_idc, separate_colour_plane_flag */
    uint32_t w = read_ue(&r), h = read_ue(&r);
    if (r.overrun) return 0;
    *width = w;
    *height = h;
    return 1;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The SPS units of one hvcC box's payload (after the 8-byte box header). */
static fwc_status check_hvcc(const uint8_t *p, size_t size, const fwc_limits *limits,
                             const char *name, fwc_report *report) {
    if (size < 23) return FWC_OK;
    unsigned arrays = p[22];
    size_t at = 23;
    for (unsigned a = 0; a < arrays; a++) {
        if (size - at < 3) return FWC_OK;
        unsigned count = (unsigned)p[at + 1] << 8 | p[at + 2];
        at += 3;
        for (unsigned n = 0; n < count; n++) {
            if (size - at < 2) return FWC_OK;
            size_t length = (size_t)p[at] << 8 | p[at + 1];
            at += 2;
            if (length > size - at) return FWC_OK;
            uint32_t w, h;
            if (fwc_hevc_sps_size(p + at, length, &w, &h)) {
                uint64_t pixels = (uint64_t)w * h;
                if (pixels > limits->max_pixels)
                    return fwc_fail(report, FWC_TOO_MANY_PIXELS,
                                    "%s's HEVC stream is %ux%u = %llu pixels, over the limit of %llu",
                                    name, (unsigned)w, (unsigned)h, (unsigned long long)pixels,
                                    (unsigned long long)limits->max_pixels);
            }
            at += length;
        }
    }
    return FWC_OK;
}

int fwc_bmff_largest_ispe(const uint8_t *data, size_t size, uint32_t *width, uint32_t *height) {
    uint64_t best = 0;
    for (size_t at = 4; at + 16 <= size; at++) {
        /* size 20: header, version and flags, width, height */
        if (data[at] != 'i' || memcmp(data + at, "ispe", 4) != 0 || be32(data + at - 4) != 20)
            continue;
        uint32_t w = be32(data + at + 8), h = be32(data + at + 12);
        if ((uint64_t)w * h > best) {
            best = (uint64_t)w * h;
            *width = w;
            *height = h;
        }
    }
    return best > 0;
}

fwc_status fwc_bmff_probe_fallback(const uint8_t *data, size_t size, const fwc_limits *limits,
                                   fwc_header *header, fwc_report *report, fwc_status failure) {
    uint32_t width, height;
    if (!fwc_bmff_largest_ispe(data, size, &width, &height)) return failure;
    report->status = FWC_OK;
    report->message[0] = '\0';
    header->stored_width = width;
    header->stored_height = height;
    header->orientation = 1;
    return fwc_accept_header(header, limits, NULL, NULL, report);
}

fwc_status fwc_heif_check_coded_sizes(const uint8_t *data, size_t size, const fwc_limits *limits,
                                      const char *name, fwc_report *report) {
    for (size_t at = 4; at + 4 <= size; at++) {
        if (data[at] != 'h' || memcmp(data + at, "hvcC", 4) != 0) continue;
        uint32_t box = be32(data + at - 4);
        if (box < 8 || box - 4 > size - at) continue;
        fwc_status status = check_hvcc(data + at + 4, box - 8, limits, name, report);
        if (status != FWC_OK) return status;
    }
    return FWC_OK;
}
