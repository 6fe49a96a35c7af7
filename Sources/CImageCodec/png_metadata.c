/*
 * png_metadata.c - the EXIF orientation of a PNG, found the way Pillow 13 finds it.
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
 * This walks the chunks in the byte buffer itself; libpng is told to skip ancillary chunks.
 */
#include "png_metadata.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* Pillow's MAX_TEXT_CHUNK: a compressed text chunk may expand to at most this much. */
#define TEXT_LIMIT (1024u * 1024u)

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
 * Inflates at most TEXT_LIMIT bytes like Python's zlib.decompressobj().decompress(s, limit):
 * a stream cut short gives what was decoded so far. Returns 1 with *out set (possibly empty),
 * 0 for bad data (Pillow then uses an empty value), -1 when over the limit or out of memory
 * (the chunk is ignored).
 */
static int inflate_text(const uint8_t *src, size_t size, uint8_t **out, size_t *out_size) {
    *out = NULL;
    *out_size = 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return -1;
    size_t capacity = size < TEXT_LIMIT / 4 ? size * 4 + 64 : TEXT_LIMIT;
    if (capacity > TEXT_LIMIT) capacity = TEXT_LIMIT;
    uint8_t *buffer = malloc(capacity);
    if (buffer == NULL) {
        inflateEnd(&z);
        return -1;
    }
    size_t produced = 0;
    const uint8_t *in = src;
    size_t in_left = size;
    int result = 1;
    for (;;) {
        if (produced == capacity) {
            if (capacity == TEXT_LIMIT) {
                /* Output is full: over the limit if the stream has more to give. */
                uint8_t probe;
                z.next_out = &probe;
                z.avail_out = 1;
                z.next_in = (Bytef *)in;
                z.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
                int rc = inflate(&z, Z_NO_FLUSH);
                if (z.avail_out == 0 || (rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK))
                    result = rc == Z_DATA_ERROR ? 0 : -1;
                break;
            }
            size_t bigger = capacity * 2 > TEXT_LIMIT ? TEXT_LIMIT : capacity * 2;
            uint8_t *grown = realloc(buffer, bigger);
            if (grown == NULL) {
                result = -1;
                break;
            }
            buffer = grown;
            capacity = bigger;
        }
        z.next_in = (Bytef *)in;
        z.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        z.next_out = buffer + produced;
        z.avail_out = (uInt)(capacity - produced);
        int rc = inflate(&z, Z_NO_FLUSH);
        size_t consumed = (size_t)(z.next_in - in);
        in += consumed;
        in_left -= consumed;
        produced = (size_t)(z.next_out - buffer);
        if (rc == Z_STREAM_END) break;
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR && z.avail_out != 0) break; /* input ended early: keep the part */
        if (rc == Z_BUF_ERROR) continue;
        result = rc == Z_MEM_ERROR ? -1 : 0;
        break;
    }
    inflateEnd(&z);
    if (result != 1) {
        free(buffer);
        return result;
    }
    *out = buffer;
    *out_size = produced;
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

static void read_text_chunk(png_meta *meta, const uint8_t type[4], const uint8_t *d, size_t n) {
    const uint8_t *nul = memchr(d, 0, n);
    const uint8_t *key = d;
    size_t key_size = nul ? (size_t)(nul - d) : n;
    if (key_size == 0 || !wants_key(key, key_size)) return;
    const uint8_t *rest = nul ? nul + 1 : d + n;
    size_t rest_size = (size_t)(d + n - rest);

    if (memcmp(type, "tEXt", 4) == 0) {
        take_text(meta, key, key_size, rest, rest_size, NULL, 1);
        return;
    }
    if (memcmp(type, "zTXt", 4) == 0) {
        if (rest_size > 0 && rest[0] != 0) return; /* unknown method: Pillow fails to open */
        uint8_t *text = NULL;
        size_t text_size = 0;
        int rc = rest_size > 0 ? inflate_text(rest + 1, rest_size - 1, &text, &text_size) : 0;
        if (rc < 0) return;
        take_text(meta, key, key_size, text, text_size, text, 0);
        return;
    }
    /* iTXt: flag, method, language\0, translated keyword\0, text */
    if (rest_size < 2) return;
    int compressed = rest[0] != 0, method = rest[1];
    const uint8_t *p = rest + 2, *end = d + n;
    const uint8_t *lang_end = memchr(p, 0, (size_t)(end - p));
    if (lang_end == NULL) return;
    const uint8_t *tk_end = memchr(lang_end + 1, 0, (size_t)(end - lang_end - 1));
    if (tk_end == NULL) return;
    const uint8_t *v = tk_end + 1;
    size_t v_size = (size_t)(end - v);
    if (compressed) {
        if (method != 0) return;
        uint8_t *text = NULL;
        size_t text_size = 0;
        if (inflate_text(v, v_size, &text, &text_size) != 1) return;
        take_text(meta, key, key_size, text, text_size, text, 0);
    } else {
        take_text(meta, key, key_size, v, v_size, NULL, 0);
    }
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

uint32_t fwc_png_orientation(const uint8_t *data, size_t size) {
    png_meta meta;
    memset(&meta, 0, sizeof meta);
    int seen_image_data = 0, animation_control = 0, frame_before_image = 0;
    uint32_t frames = 0;
    size_t pos = 8;
    while (size - pos >= 8) {
        uint32_t length = be32(data + pos);
        const uint8_t *type = data + pos + 4;
        const uint8_t *body = data + pos + 8;
        if (length > size - pos - 8) break; /* cut short */
        pos += 8 + (size_t)length;
        pos = size - pos >= 4 ? pos + 4 : size; /* CRC */

        if (memcmp(type, "IEND", 4) == 0) break;
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
        if (memcmp(type, "fcTL", 4) == 0) {
            if (!seen_image_data) {
                frame_before_image = 1;
            } else {
                uint64_t n = (uint64_t)frames + (frame_before_image ? 0 : 1);
                if (frames > 0 && n > 1) break; /* Pillow stops at the next frame */
            }
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
        if (memcmp(type, "tEXt", 4) == 0 || memcmp(type, "zTXt", 4) == 0 ||
            memcmp(type, "iTXt", 4) == 0)
            read_text_chunk(&meta, type, body, length);
    }
    int value = orientation_of(&meta);
    value_clear(&meta.exif_bytes);
    value_clear(&meta.raw_profile);
    value_clear(&meta.xmp);
    return fwc_effective_orientation(value);
}
