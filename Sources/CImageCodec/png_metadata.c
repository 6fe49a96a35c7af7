/*
 * png_metadata.c - the EXIF orientation of a PNG, found the way Pillow 13 finds it, and Pillow's
 * limits on PNG text.
 *
 * Pillow's PngImagePlugin fills image.info from the chunks (those after IDAT too, since
 * exif_transpose loads the image first), the last chunk of a kind winning:
 *   eXIf                                  -> info["exif"]
 *   tEXt "exif"                           -> info["exif"] (raw bytes)
 *   tEXt/zTXt/iTXt "Raw profile type exif" -> hex text, used when there is no info["exif"]
 *   tEXt/zTXt/iTXt "XML:com.adobe.xmp"     -> XMP, searched for tiff:Orientation when the EXIF
 *                                            has no Orientation entry
 * For an animated PNG, reading stops at the first fcTL after the image data.
 * Cases where Pillow itself raises (zTXt/iTXt "exif", bad hex) give no orientation.
 * Cases where Pillow refuses the whole file because of its metadata (a compressed text chunk or
 * ICC profile over 1 MB, more than 64 MB of text, a zTXt or iCCP of unknown method) fail here
 * the same way, so the file is refused as face_recognition refuses it. Every chunk is read once
 * per decode.
 * This walks the chunks in the byte buffer itself; libpng is told to skip ancillary chunks.
 */
#include "png_metadata.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

typedef struct text_value {
    const uint8_t *bytes;
    size_t size;
    uint8_t *owned; /* set when bytes were inflated */
    int present;
} text_value;

static void value_set(text_value *v, const uint8_t *bytes, size_t size, uint8_t *owned) {
    free(v->owned);
    v->bytes = bytes;
    v->size = size;
    v->owned = owned;
    v->present = 1;
}

static void value_clear(text_value *v) {
    free(v->owned);
    memset(v, 0, sizeof *v);
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Pillow's limits on text (PngImagePlugin): a compressed chunk (zTXt, iTXt) may expand to at most
 * MAX_TEXT_CHUNK bytes, and the text values of a file may hold MAX_TEXT_MEMORY characters in all.
 * Over either, Pillow raises ValueError and the image does not load.
 */
#define TEXT_CHUNK_LIMIT (1024u * 1024u)
#define TEXT_MEMORY_LIMIT (64u * TEXT_CHUNK_LIMIT)

/*
 * Pillow counts only some of what it inflates (no key, bad UTF-8...), so its count alone would let
 * a file make the codec inflate without end. This one counts every inflated byte; a file needing
 * more inflation than TEXT_MEMORY_LIMIT is refused like one over Pillow's count.
 */
typedef struct text_budget {
    uint64_t pillow_count; /* what Pillow's check_text_memory adds up */
    uint64_t inflated;     /* every byte inflated for this file */
} text_budget;

typedef enum {
    INFLATE_OK,       /* *out holds the text (possibly cut short, like Python's decompressobj) */
    INFLATE_BAD_DATA, /* zlib.error in Pillow */
    INFLATE_TOO_LARGE /* over TEXT_CHUNK_LIMIT or over the file's budget: the file is refused */
} inflate_result;

/*
 * Inflates like Pillow's _safe_zlib_decompress: zlib.decompressobj().decompress(s, MAX_TEXT_CHUNK),
 * too large when input is left over once the output is full. A stream cut short gives what was
 * decoded so far. Out of memory counts as too large (the file is refused, never half read).
 */
static inflate_result inflate_text(const uint8_t *src, size_t size, text_budget *budget,
                                   uint8_t **out, size_t *out_size) {
    *out = NULL;
    *out_size = 0;
    uint64_t left = TEXT_MEMORY_LIMIT - budget->inflated; /* the budget is never overdrawn */
    size_t limit = left < TEXT_CHUNK_LIMIT ? (size_t)left : TEXT_CHUNK_LIMIT;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return INFLATE_TOO_LARGE;
    size_t capacity = size < limit / 4 ? size * 4 + 64 : limit;
    if (capacity > limit) capacity = limit;
    uint8_t *buffer = malloc(capacity > 0 ? capacity : 1);
    if (buffer == NULL) {
        inflateEnd(&z);
        return INFLATE_TOO_LARGE;
    }
    size_t produced = 0;
    const uint8_t *in = src;
    size_t in_left = size;
    inflate_result result = INFLATE_OK;
    int rc = Z_OK;
    for (;;) {
        if (produced == capacity) {
            if (capacity == limit) {
                /* Output full: Python keeps the rest as unconsumed_tail, Pillow raises on it. */
                if (in_left > 0) result = INFLATE_TOO_LARGE;
                break;
            }
            size_t bigger = capacity > limit / 2 ? limit : capacity * 2;
            uint8_t *grown = realloc(buffer, bigger);
            if (grown == NULL) {
                result = INFLATE_TOO_LARGE;
                break;
            }
            buffer = grown;
            capacity = bigger;
        }
        z.next_in = (Bytef *)in;
        z.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        z.next_out = buffer + produced;
        z.avail_out = (uInt)(capacity - produced);
        rc = inflate(&z, Z_SYNC_FLUSH);
        size_t consumed = (size_t)(z.next_in - in);
        in += consumed;
        in_left -= consumed;
        produced = (size_t)(z.next_out - buffer);
        if (rc == Z_STREAM_END) break;
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR && z.avail_out != 0) break; /* input ended early: keep the part */
        if (rc == Z_BUF_ERROR) continue;
        result = rc == Z_MEM_ERROR ? INFLATE_TOO_LARGE : INFLATE_BAD_DATA;
        break;
    }
    inflateEnd(&z);
    budget->inflated += produced;
    /* Out of budget with more to give: refused, whatever Pillow's own count would say. */
    if (result == INFLATE_OK && produced == limit && limit < TEXT_CHUNK_LIMIT && rc != Z_STREAM_END)
        result = INFLATE_TOO_LARGE;
    if (result != INFLATE_OK) {
        free(buffer);
        return result;
    }
    *out = buffer;
    *out_size = produced;
    return INFLATE_OK;
}

/* Python's bytes.decode("utf-8", "strict") succeeds; *characters is the length of the str. */
static int utf8_characters(const uint8_t *s, size_t n, uint64_t *characters) {
    uint64_t count = 0;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c < 0x80) extra = 0;
        else if (c >= 0xC2 && c <= 0xDF) extra = 1;
        else if (c == 0xE0) extra = 2, lo = 0xA0;
        else if (c == 0xED) extra = 2, hi = 0x9F; /* no surrogates */
        else if (c >= 0xE1 && c <= 0xEF) extra = 2;
        else if (c == 0xF0) extra = 3, lo = 0x90;
        else if (c == 0xF4) extra = 3, hi = 0x8F; /* at most U+10FFFF */
        else if (c >= 0xF1 && c <= 0xF3) extra = 3;
        else return 0;
        if (n - i - 1 < extra) return 0;
        for (size_t k = 1; k <= extra; k++) {
            uint8_t b = s[i + k];
            if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
        }
        i += extra + 1;
        count++;
    }
    *characters = count;
    return 1;
}

static int key_is(const uint8_t *key, size_t key_size, const char *name) {
    size_t n = strlen(name);
    return key_size == n && memcmp(key, name, n) == 0;
}

typedef enum { EXIF_NONE, EXIF_BYTES, EXIF_UNUSABLE } exif_kind;

typedef struct png_meta {
    exif_kind exif;
    text_value exif_bytes;
    text_value raw_profile;
    text_value xmp;
} png_meta;

/* A text value of one of the keys that matter, from any of the three text chunk kinds. */
static void take_text(png_meta *meta, const uint8_t *key, size_t key_size, const uint8_t *v,
                      size_t v_size, uint8_t *owned, int from_plain_text) {
    if (key_is(key, key_size, "exif")) {
        if (from_plain_text) {
            meta->exif = EXIF_BYTES;
            value_set(&meta->exif_bytes, v, v_size, owned);
        } else {
            meta->exif = EXIF_UNUSABLE; /* Pillow gets text there and fails to parse it */
            value_clear(&meta->exif_bytes);
            free(owned);
        }
    } else if (key_is(key, key_size, "Raw profile type exif")) {
        value_set(&meta->raw_profile, v, v_size, owned);
    } else if (key_is(key, key_size, "XML:com.adobe.xmp")) {
        value_set(&meta->xmp, v, v_size, owned);
    } else {
        free(owned);
    }
}

static int wants_key(const uint8_t *key, size_t key_size) {
    return key_is(key, key_size, "exif") || key_is(key, key_size, "Raw profile type exif") ||
           key_is(key, key_size, "XML:com.adobe.xmp");
}

/* What reading a text chunk did: Pillow reads it, or refuses the whole file because of it. */
typedef enum { TEXT_READ, TEXT_TOO_LARGE, TEXT_UNKNOWN_METHOD, TEXT_UNREADABLE } text_outcome;

/* Pillow's check_text_memory: the characters of every text value it stores, in all. */
static text_outcome count_text(text_budget *budget, uint64_t characters) {
    budget->pillow_count += characters;
    return budget->pillow_count > TEXT_MEMORY_LIMIT ? TEXT_TOO_LARGE : TEXT_READ;
}

/*
 * One tEXt, zTXt or iTXt chunk, read as Pillow's chunk_tEXt / chunk_zTXt / chunk_iTXt read it:
 * every compressed chunk is inflated (whatever its key, since Pillow refuses the file when one
 * expands past the limit) and every stored value counts towards the total.
 */
static text_outcome read_text_chunk(png_meta *meta, text_budget *budget, const uint8_t type[4],
                                    const uint8_t *d, size_t n) {
    const uint8_t *nul = memchr(d, 0, n);
    const uint8_t *key = d;
    size_t key_size = nul ? (size_t)(nul - d) : n;
    const uint8_t *rest = nul ? nul + 1 : d + n;
    size_t rest_size = (size_t)(d + n - rest);
    int wanted = key_size > 0 && wants_key(key, key_size);

    if (memcmp(type, "tEXt", 4) == 0) {
        if (key_size == 0) return TEXT_READ;
        if (wanted) take_text(meta, key, key_size, rest, rest_size, NULL, 1);
        return count_text(budget, rest_size); /* latin-1: one character per byte */
    }
    if (memcmp(type, "zTXt", 4) == 0) {
        if (rest_size > 0 && rest[0] != 0) return TEXT_UNKNOWN_METHOD; /* Pillow: SyntaxError */
        uint8_t *text = NULL;
        size_t text_size = 0;
        if (rest_size > 1) {
            inflate_result rc = inflate_text(rest + 1, rest_size - 1, budget, &text, &text_size);
            if (rc == INFLATE_TOO_LARGE) return TEXT_TOO_LARGE;
            /* INFLATE_BAD_DATA: Pillow stores an empty value */
        }
        if (key_size == 0) {
            free(text);
            return TEXT_READ;
        }
        if (wanted)
            take_text(meta, key, key_size, text, text_size, text, 0);
        else
            free(text);
        return count_text(budget, text_size);
    }
    /* iTXt: keyword\0, flag, method, language\0, translated keyword\0, text */
    if (nul == NULL || rest_size < 2) return TEXT_READ;
    int compressed = rest[0] != 0, method = rest[1];
    const uint8_t *p = rest + 2, *end = d + n;
    const uint8_t *lang_end = memchr(p, 0, (size_t)(end - p));
    if (lang_end == NULL) return TEXT_READ;
    const uint8_t *tk_end = memchr(lang_end + 1, 0, (size_t)(end - lang_end - 1));
    if (tk_end == NULL) return TEXT_READ;
    const uint8_t *v = tk_end + 1;
    size_t v_size = (size_t)(end - v);
    uint8_t *text = NULL;
    if (compressed) {
        if (method != 0) return TEXT_READ;
        inflate_result rc = inflate_text(v, v_size, budget, &text, &v_size);
        if (rc == INFLATE_TOO_LARGE) return TEXT_TOO_LARGE;
        if (rc == INFLATE_BAD_DATA) return TEXT_READ;
        v = text;
    }
    uint64_t characters = 0, ignored;
    int counted = utf8_characters(p, (size_t)(lang_end - p), &ignored) &&
                  utf8_characters(lang_end + 1, (size_t)(tk_end - lang_end - 1), &ignored) &&
                  utf8_characters(v, v_size, &characters);
    if (wanted)
        take_text(meta, key, key_size, v, v_size, text, 0);
    else
        free(text);
    return counted ? count_text(budget, characters) : TEXT_READ;
}

/*
 * Pillow's chunk_iCCP: profile name, NUL, method 0, zlib data inflated under the same 1 MB cap
 * (the profile itself is not used). Pillow reads the method byte right after the first NUL, or
 * the first byte when there is none, and fails the file when it is missing or not 0.
 */
static text_outcome read_icc_profile(text_budget *budget, const uint8_t *d, size_t n) {
    const uint8_t *nul = memchr(d, 0, n);
    size_t method_at = nul ? (size_t)(nul - d) + 1 : 0;
    if (method_at >= n) return TEXT_UNREADABLE;
    if (d[method_at] != 0) return TEXT_UNKNOWN_METHOD;
    uint8_t *profile = NULL;
    size_t profile_size = 0;
    inflate_result rc = inflate_text(d + method_at + 1, n - method_at - 1, budget, &profile,
                                     &profile_size);
    free(profile);
    return rc == INFLATE_TOO_LARGE ? TEXT_TOO_LARGE : TEXT_READ; /* bad data: Pillow goes on */
}

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Python: bytes.fromhex("".join(text.split("\n")[3:])). Returns -1 on bad hex, else the size. */
static long decode_raw_profile(const uint8_t *text, size_t size, uint8_t *out) {
    if (text == NULL) return 0;
    size_t i = 0;
    for (int lines = 0; lines < 3; lines++) {
        const uint8_t *nl = memchr(text + i, '\n', size - i);
        if (nl == NULL) return 0;
        i = (size_t)(nl - text) + 1;
    }
    long produced = 0;
    while (i < size) {
        uint8_t c = text[i];
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < size && text[j] == '\n') j++; /* lines were joined before fromhex */
        if (j >= size) return -1;
        int hi = hex_digit(c), lo = hex_digit(text[j]);
        if (hi < 0 || lo < 0) return -1;
        out[produced++] = (uint8_t)(hi << 4 | lo);
        i = j + 1;
    }
    return produced;
}

static int orientation_of(png_meta *meta) {
    int value = FWC_EXIF_ABSENT;
    if (meta->exif == EXIF_UNUSABLE) return 1;
    if (meta->exif == EXIF_BYTES) {
        value = fwc_exif_orientation(meta->exif_bytes.bytes, meta->exif_bytes.size);
    } else if (meta->raw_profile.present) {
        uint8_t *bytes = malloc(meta->raw_profile.size / 2 + 1);
        if (bytes == NULL) return 1;
        long n = decode_raw_profile(meta->raw_profile.bytes, meta->raw_profile.size, bytes);
        if (n < 0) {
            free(bytes);
            return 1; /* Pillow raises on bad hex */
        }
        value = fwc_exif_orientation(bytes, (size_t)n);
        free(bytes);
    }
    if (value == FWC_EXIF_ABSENT && meta->xmp.present)
        value = fwc_xmp_orientation(meta->xmp.bytes, meta->xmp.size);
    return value;
}

/* Pillow's is_cid: a chunk type Pillow reads on (four of [A-Za-z0-9_]). */
static int is_chunk_type(const uint8_t *type) {
    for (int i = 0; i < 4; i++) {
        uint8_t c = type[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static void meta_free(png_meta *meta) {
    value_clear(&meta->exif_bytes);
    value_clear(&meta->raw_profile);
    value_clear(&meta->xmp);
}

fwc_status fwc_png_metadata(const uint8_t *data, size_t size, uint32_t *orientation,
                            fwc_report *report) {
    png_meta meta;
    memset(&meta, 0, sizeof meta);
    text_budget budget = {0, 0};
    int seen_image_data = 0, animation_control = 0, frame_before_image = 0;
    uint32_t frames = 0;
    size_t pos = 8;
    while (size - pos >= 8) {
        uint32_t length = be32(data + pos);
        const uint8_t *type = data + pos + 4;
        const uint8_t *body = data + pos + 8;
        if (seen_image_data && !is_chunk_type(type)) break; /* Pillow's load_end stops there */
        if (memcmp(type, "IEND", 4) == 0) break;
        int next_frame = seen_image_data && memcmp(type, "fcTL", 4) == 0 && frames > 0 &&
                         (uint64_t)frames + (frame_before_image ? 0 : 1) > 1;
        if (length > size - pos - 8) {
            /* Cut short. Before the image data libpng fails on it; after, Pillow fails reading
             * it (Truncated File Read), unless it is image data or the next frame's fcTL. */
            if (seen_image_data && !next_frame && memcmp(type, "IDAT", 4) != 0) {
                meta_free(&meta);
                return fwc_fail(report, FWC_CORRUPT_IMAGE,
                                "truncated PNG data (a chunk after the image data is cut short)");
            }
            break;
        }
        pos += 8 + (size_t)length;
        pos = size - pos >= 4 ? pos + 4 : size; /* CRC */

        if (memcmp(type, "IDAT", 4) == 0) {
            seen_image_data = 1;
            continue;
        }
        if (memcmp(type, "acTL", 4) == 0 && !seen_image_data) {
            if (length >= 8) {
                frames = animation_control ? 0 : be32(body);
                if (frames > 0x80000000u) frames = 0;
            }
            animation_control = 1;
            continue;
        }
        if (next_frame) break; /* Pillow stops at the next frame */
        if (memcmp(type, "fcTL", 4) == 0) {
            if (!seen_image_data) frame_before_image = 1;
            continue;
        }
        if (memcmp(type, "eXIf", 4) == 0) {
            /* Pillow prepends "Exif\0\0" and strips at most two such prefixes. */
            if (length >= 12 && memcmp(body, "Exif\0\0Exif\0\0", 12) == 0) {
                meta.exif = EXIF_UNUSABLE;
                value_clear(&meta.exif_bytes);
            } else {
                meta.exif = EXIF_BYTES;
                value_set(&meta.exif_bytes, body, length, NULL);
            }
            continue;
        }
        text_outcome outcome = TEXT_READ;
        if (memcmp(type, "tEXt", 4) == 0 || memcmp(type, "zTXt", 4) == 0 ||
            memcmp(type, "iTXt", 4) == 0)
            outcome = read_text_chunk(&meta, &budget, type, body, length);
        else if (memcmp(type, "iCCP", 4) == 0)
            outcome = read_icc_profile(&budget, body, length);
        if (outcome == TEXT_READ) continue;
        meta_free(&meta);
        char name[5] = {(char)type[0], (char)type[1], (char)type[2], (char)type[3], '\0'};
        if (outcome == TEXT_UNKNOWN_METHOD)
            return fwc_fail(report, FWC_CORRUPT_IMAGE,
                            "corrupt PNG: unknown compression method in %s", name);
        if (outcome == TEXT_UNREADABLE)
            return fwc_fail(report, FWC_CORRUPT_IMAGE, "corrupt PNG: unreadable %s", name);
        return fwc_fail(report, FWC_CORRUPT_IMAGE,
                        "PNG metadata expands past Pillow's limits (%u MB per compressed chunk, "
                        "%u MB of text in all)",
                        TEXT_CHUNK_LIMIT >> 20, TEXT_MEMORY_LIMIT >> 20);
    }
    *orientation = fwc_effective_orientation(orientation_of(&meta));
    meta_free(&meta);
    return FWC_OK;
}
