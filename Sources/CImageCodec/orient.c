/*
 * orient.c - placing decoded rows where the EXIF orientation puts them.
 *
 * Rows arrive in bands of a few stored rows; each band is written straight into the final image,
 * so no second full-size buffer is needed. The mapping of stored pixel (x, y) of a sw x sh image
 * to output pixel (X, Y) follows Pillow's Image.transpose, as ImageOps.exif_transpose uses it:
 *   2 FLIP_LEFT_RIGHT  X = sw-1-x  Y = y
 *   3 ROTATE_180       X = sw-1-x  Y = sh-1-y
 *   4 FLIP_TOP_BOTTOM  X = x       Y = sh-1-y
 *   5 TRANSPOSE        X = y       Y = x
 *   6 ROTATE_270       X = sh-1-y  Y = x
 *   7 TRANSVERSE       X = sh-1-y  Y = sw-1-x
 *   8 ROTATE_90        X = y       Y = sw-1-x
 */
#include "internal.h"

#include <string.h>

void fwc_oriented_size(uint32_t orientation, uint32_t sw, uint32_t sh, uint32_t *w, uint32_t *h) {
    if (orientation >= 5 && orientation <= 8) {
        *w = sh;
        *h = sw;
    } else {
        *w = sw;
        *h = sh;
    }
}

static void copy_reversed(uint8_t *dst, const uint8_t *src, uint32_t width) {
    for (uint32_t x = 0; x < width; x++, dst += 3) {
        const uint8_t *s = src + (size_t)(width - 1 - x) * 3;
        dst[0] = s[0];
        dst[1] = s[1];
        dst[2] = s[2];
    }
}

void fwc_orient_rows(uint8_t *dst, uint32_t sw, uint32_t sh, uint32_t orientation,
                     const uint8_t *rows, size_t stride, uint32_t y0, uint32_t count) {
    if (count == 0 || sw == 0 || sh == 0) return;
    if (orientation >= 2 && orientation <= 4) {
        size_t dst_stride = (size_t)sw * 3;
        for (uint32_t k = 0; k < count; k++) {
            uint32_t y = y0 + k;
            const uint8_t *src = rows + (size_t)k * stride;
            size_t out_row = orientation == 2 ? y : (size_t)(sh - 1 - y);
            uint8_t *out = dst + out_row * dst_stride;
            if (orientation == 4)
                memcpy(out, src, dst_stride);
            else
                copy_reversed(out, src, sw);
        }
        return;
    }
    if (orientation >= 5 && orientation <= 8) {
        /* Each stored column becomes an output row; the band's rows land next to each other. */
        size_t dst_stride = (size_t)sh * 3;
        int ascending = orientation == 5 || orientation == 8; /* X = y, else X = sh-1-y */
        int flip_rows = orientation == 7 || orientation == 8; /* Y = sw-1-x, else Y = x */
        for (uint32_t x = 0; x < sw; x++) {
            size_t out_row = flip_rows ? (size_t)(sw - 1 - x) : x;
            uint8_t *out = dst + out_row * dst_stride;
            const uint8_t *src = rows + (size_t)x * 3;
            if (ascending) {
                uint8_t *d = out + (size_t)y0 * 3;
                for (uint32_t k = 0; k < count; k++, d += 3, src += stride) {
                    d[0] = src[0];
                    d[1] = src[1];
                    d[2] = src[2];
                }
            } else {
                for (uint32_t k = 0; k < count; k++, src += stride) {
                    uint8_t *d = out + (size_t)(sh - 1 - (y0 + k)) * 3;
                    d[0] = src[0];
                    d[1] = src[1];
                    d[2] = src[2];
                }
            }
        }
        return;
    }
    /* 1 (or anything unexpected): rows go where they are. */
    size_t row_bytes = (size_t)sw * 3;
    for (uint32_t k = 0; k < count; k++)
        memcpy(dst + (size_t)(y0 + k) * row_bytes, rows + (size_t)k * stride, row_bytes);
}

void fwc_orient_pixel(uint8_t *dst, uint32_t sw, uint32_t sh, uint32_t orientation,
                           const uint8_t *src, uint32_t x, uint32_t y) {
    size_t X, Y, W;
    switch (orientation) {
    case 2: X = sw - 1 - x; Y = y; W = sw; break;
    case 3: X = sw - 1 - x; Y = sh - 1 - y; W = sw; break;
    case 4: X = x; Y = sh - 1 - y; W = sw; break;
    case 5: X = y; Y = x; W = sh; break;
    case 6: X = sh - 1 - y; Y = x; W = sh; break;
    case 7: X = sh - 1 - y; Y = sw - 1 - x; W = sh; break;
    case 8: X = y; Y = sw - 1 - x; W = sh; break;
    default: X = x; Y = y; W = sw; break;
    }
    uint8_t *d = dst + (Y * W + X) * 3;
    d[0] = src[0];
    d[1] = src[1];
    d[2] = src[2];
}
