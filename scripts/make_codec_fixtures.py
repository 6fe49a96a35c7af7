#!/usr/bin/env python3
"""Regenerates Tests/FaceEncodingTests/Fixtures/codec: small test images and, in expected.json,
what Pillow makes of each one (the decoder must give exactly the same pixels).

Pinned: Pillow 13.0.0 and pillow-heif 1.9.0 (the expected values are their output; another version
may differ).
    python3 -m venv /tmp/codecvenv && /tmp/codecvenv/bin/pip install Pillow==13.0.0 pillow-heif==1.9.0
    /tmp/codecvenv/bin/python scripts/make_codec_fixtures.py

For every image, expected.json has either
    {"width": W, "height": H, "sha256": hex of the RGB bytes}
computed as face_recognition loads images (Image.open(f).convert("RGB")) after
ImageOps.exif_transpose, or {"error": "<facewatch error code>"} for files that must be refused.
Two deliberate departures from Pillow: a 16-bit gray PNG is expected to keep the high byte of each
sample (Pillow's convert("RGB") clips it to white), and GIF/BMP/TIFF are refused as
unsupported_format. WebP, HEIF and AVIF fixtures are made by scripts/codec_fixtures_formats.py; an
HEIF entry has "max_difference" and its Pillow pixels in pillow/NAME.rgb instead of exact pixels.
Everything but the HEIF and AVIF files is deterministic (their encoders may vary in the last bits
between runs; the expectations are recomputed with them).
"""
import hashlib
import io
import json
import os
import random
import struct
import sys
import warnings
import zlib

import PIL
from PIL import Image, ImageOps

import codec_fixtures_formats

PILLOW_VERSION = "13.0.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "FaceEncodingTests", "Fixtures", "codec")

files = {}     # name -> bytes
expected = {}  # name -> dict


# ---------------------------------------------------------------------------------------------
# Source pictures: small, asymmetric (so every orientation differs), with smooth colour and edges
# (so chroma upsampling and the IDCT matter).

def base_rgb(w=48, h=32, seed=1):
    rng = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = []
    for y in range(h):
        for x in range(w):
            r = (x * 255) // (w - 1)
            g = (y * 255) // (h - 1)
            b = 255 if (x // 6 + y // 5) % 2 else 40
            if x < 8 and y < 6:  # a marker in the top-left corner
                r, g, b = 250, 20, 20
            n = rng.randint(-12, 12)
            px.append(tuple(max(0, min(255, c + n)) for c in (r, g, b)))
    im.putdata(px)
    return im


def base_gray(w=48, h=32, seed=2):
    return base_rgb(w, h, seed).convert("L")


def png_bytes(im, **params):
    b = io.BytesIO()
    im.save(b, "PNG", **params)
    return b.getvalue()


def jpeg_bytes(im, **params):
    b = io.BytesIO()
    im.save(b, "JPEG", **params)
    return b.getvalue()


# ---------------------------------------------------------------------------------------------
# A raw PNG writer for what Pillow cannot write: 2/4-bit gray, 16-bit colour, interlacing.

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """Samples (ints) at a bit depth of 1, 2, 4, 8 or 16 to bytes."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def raw_png(width, height, depth, color_type, pixels, channels, interlace=False, extra=b""):
    """pixels: rows of lists of samples (channels per pixel)."""
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            xs = list(range(x0, width, dx))
            if not xs:
                continue
            for y in range(y0, height, dy):
                samples = [s for x in xs for s in pixels[y][x * channels:(x + 1) * channels]]
                raw += b"\0" + pack_row(samples, depth)
    else:
        for y in range(height):
            raw += b"\0" + pack_row(pixels[y], depth)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def rows_from(im, scale=1):
    w, h = im.size
    data = list(im.get_flattened_data())
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            v = data[y * w + x]
            v = v if isinstance(v, tuple) else (v,)
            row.extend(c * scale for c in v)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# EXIF / XMP blocks written by hand so byte order and hostile cases are under control.

def tiff_ifd(entries, big_endian=False, ifd_offset=8, extra=b""):
    e = ">" if big_endian else "<"
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", ifd_offset)
    head = head.ljust(ifd_offset, b"\0")
    body = struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        body += struct.pack(e + "HHI", tag, typ, count) + value
    body += struct.pack(e + "I", 0)
    return head + body + extra


def short_value(v, big_endian=False):
    return struct.pack((">" if big_endian else "<") + "HH", v, 0)


def exif_orientation_block(orientation, big_endian=False):
    return b"Exif\0\0" + tiff_ifd([(0x0112, 3, 1, short_value(orientation, big_endian))], big_endian)


def insert_app1(jpeg, payload):
    """Inserts an APP1 segment right after SOI."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# ---------------------------------------------------------------------------------------------
# Expected values, from Pillow.

def rgb_after_transpose(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    mode = im.mode
    im = ImageOps.exif_transpose(im)
    if mode in ("I;16", "I;16B", "I"):
        # Departure: the high byte of every 16-bit gray sample, replicated.
        raw = im.tobytes("raw", "I;16")  # little-endian 16-bit samples
        high = raw[1::2]
        rgb = bytes(b for v in high for b in (v, v, v))
        return im.size, rgb
    rgb = im.convert("RGB")
    return rgb.size, rgb.tobytes()


def image(name, data, note=""):
    files[name] = data
    (w, h), rgb = rgb_after_transpose(data)
    assert len(rgb) == w * h * 3
    expected[name] = {"width": w, "height": h, "sha256": hashlib.sha256(rgb).hexdigest()}
    if note:
        expected[name]["note"] = note


def heif_image(name, data, note=""):
    """An HEIF fixture: Pillow's pixels are kept in pillow/NAME.rgb, matched within a tolerance."""
    files[name] = data
    (w, h), rgb = codec_fixtures_formats.heif_expectation(data)
    files[f"pillow/{name}.rgb"] = rgb
    expected[name] = {"width": w, "height": h, "pillow_pixels": f"pillow/{name}.rgb",
                      "max_difference": codec_fixtures_formats.HEIF_MAX_DIFFERENCE}
    if note:
        expected[name]["note"] = note


def refused(name, data, code, note=""):
    files[name] = data
    expected[name] = {"error": code}
    if note:
        expected[name]["note"] = note


def main():
    warnings.simplefilter("ignore")  # Pillow warns about the deliberately broken EXIF blocks
    if PIL.__version__ != PILLOW_VERSION:
        sys.exit(f"Pillow {PILLOW_VERSION} is required (found {PIL.__version__}); see the top of this file")

    rgb = base_rgb()
    gray = base_gray()

    # ---- PNG variants
    image("png_rgb.png", png_bytes(rgb))
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    image("png_rgba.png", png_bytes(rgba), "semi-transparent: alpha dropped, not blended")
    image("png_gray8.png", png_bytes(gray))
    image("png_gray1.png", png_bytes(gray.point(lambda v: 255 if v > 128 else 0).convert("1")))
    for depth in (2, 4):
        levels = (1 << depth) - 1
        q = gray.point(lambda v, levels=levels: v * levels // 255)
        image(f"png_gray{depth}.png", raw_png(48, 32, depth, 0, rows_from(q), 1))
    la = Image.merge("LA", (gray, Image.linear_gradient("L").resize(gray.size)))
    image("png_gray_alpha.png", png_bytes(la))
    pal = rgb.quantize(colors=40, dither=Image.Dither.NONE)
    image("png_palette.png", png_bytes(pal))
    image("png_palette_trns.png", png_bytes(pal, transparency=3), "tRNS ignored")
    # 4-bit palette with indexes past the end of a 5-entry PLTE: Pillow makes those black.
    plte = bytes([200, 10, 10, 10, 200, 10, 10, 10, 200, 240, 240, 240, 5, 5, 5])
    idx = [[(x + y) % 16 for x in range(21)] for y in range(13)]
    image("png_palette4_short.png", raw_png(21, 13, 4, 3, idx, 1, extra=chunk(b"PLTE", plte)),
          "indexes 5..15 are past the palette: black")
    g16 = [[(x * 1311 + y * 977) % 65536 for x in range(40)] for y in range(24)]
    image("png_gray16.png", raw_png(40, 24, 16, 0, g16, 1), "departure: high bytes, Pillow clips")
    rgb16 = [[(v * 257 + (x * 37 + y) % 256) % 65536 for x in range(40) for v in rgb.getpixel((x, y))]
             for y in range(24)]
    image("png_rgb16.png", raw_png(40, 24, 16, 2, rgb16, 3))
    rgba16 = [[s for x in range(40) for s in (*rgb16[y][3 * x:3 * x + 3], (x * 1500) % 65536)]
              for y in range(24)]
    image("png_rgba16.png", raw_png(40, 24, 16, 6, rgba16, 4))
    la16 = [[s for x in range(40) for s in (g16[y][x], 65535 - g16[y][x])] for y in range(24)]
    image("png_gray_alpha16.png", raw_png(40, 24, 16, 4, la16, 2))
    image("png_interlaced_rgb.png", raw_png(37, 29, 8, 2, rows_from(rgb.crop((0, 0, 37, 29))), 3,
                                            interlace=True))
    idx2 = [[(x * 3 + y) % 4 for x in range(11)] for y in range(7)]
    image("png_interlaced_palette2.png",
          raw_png(11, 7, 2, 3, idx2, 1, interlace=True,
                  extra=chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]))))
    image("png_interlaced_tiny.png", raw_png(3, 2, 8, 2, rows_from(rgb.crop((0, 0, 3, 2))), 3,
                                             interlace=True), "several Adam7 passes are empty")
    image("png_interlaced_rgba16.png",
          raw_png(9, 10, 16, 6, [r[:36] for r in rgba16[:10]], 4, interlace=True))
    image("png_exif6.png", png_bytes(rgb, exif=exif_orientation_block(6)[6:]), "eXIf chunk, orientation 6")

    png_plain = png_bytes(rgb)
    at = png_plain.index(b"IDAT") - 4
    xmp_itxt = chunk(b"iTXt", b"XML:com.adobe.xmp\0\1\0\0\0" +
                     zlib.compress(b'<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'))
    image("png_xmp8.png", png_plain[:at] + xmp_itxt + png_plain[at:], "compressed iTXt XMP, orientation 8")
    tiff = exif_orientation_block(3)
    profile = b"\nexif\n%8d\n%s\n" % (len(tiff), tiff.hex().encode())
    raw = chunk(b"zTXt", b"Raw profile type exif\0\0" + zlib.compress(profile))
    image("png_raw_profile3.png", png_plain[:at] + raw + png_plain[at:],
          "ImageMagick's zTXt 'Raw profile type exif', orientation 3")

    full = png_bytes(rgb)
    idat = full.index(b"IDAT")
    refused("png_truncated.png", full[:idat + 4 + 60], "corrupt_image", "cut inside IDAT")
    iend = full.index(b"IEND") - 4
    image("png_no_iend.png", full[:iend], "every row is there, IEND is missing: Pillow accepts it")
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    refused("png_bomb.png", bomb, "too_many_pixels", "claims 60000x60000")

    # ---- JPEG variants
    image("jpeg_baseline.jpg", jpeg_bytes(rgb, quality=85), "4:2:0")
    image("jpeg_422.jpg", jpeg_bytes(rgb, quality=90, subsampling=1))
    image("jpeg_444.jpg", jpeg_bytes(rgb, quality=90, subsampling=0))
    image("jpeg_odd_size.jpg", jpeg_bytes(base_rgb(37, 19, 5), quality=80), "partial MCUs")
    image("jpeg_progressive.jpg", jpeg_bytes(rgb, quality=85, progressive=True))
    image("jpeg_gray.jpg", jpeg_bytes(gray, quality=85))
    image("jpeg_cmyk.jpg", jpeg_bytes(rgb.convert("CMYK"), quality=90), "Adobe CMYK")
    plain = jpeg_bytes(rgb, quality=85)
    for o in range(1, 9):
        image(f"jpeg_exif{o}.jpg", insert_app1(plain, exif_orientation_block(o)))
    image("jpeg_exif6_motorola.jpg", insert_app1(plain, exif_orientation_block(6, big_endian=True)),
          "big-endian TIFF")
    xmp = (b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>"
           b"<rdf:Description tiff:Orientation=\"8\"/></rdf:RDF></x:xmpmeta>")
    image("jpeg_xmp8.jpg", insert_app1(plain, xmp), "no EXIF; XMP tiff:Orientation 8")
    hostile = b"Exif\0\0" + tiff_ifd([
        (0x010F, 2, 0xFFFFFFF0, struct.pack("<I", 0xFFFFFF00)),  # huge string far away
        (0x0112, 3, 1, short_value(3)),
    ])
    image("jpeg_exif_hostile.jpg", insert_app1(plain, hostile),
          "an entry with a huge count and offset before a valid orientation 3")
    cut = b"Exif\0\0II*\0\x08\0"
    image("jpeg_exif_short_xmp8.jpg", insert_app1(insert_app1(plain, xmp), cut),
          "a 6-byte TIFF header: Pillow fails on the EXIF and then ignores the XMP too")
    loop = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 0xFFFFFFF0)
    image("jpeg_exif_bad_offset.jpg", insert_app1(plain, loop), "IFD offset past the end: no orientation")
    refused("jpeg_truncated.jpg", plain[:len(plain) // 2], "corrupt_image", "cut in the middle of the scan")
    refused("jpeg_header_only.jpg", plain[:200], "corrupt_image", "ends inside the headers")
    refused("jpeg_no_eoi.jpg", plain[:-2], "corrupt_image",
            "baseline without the EOI marker: Pillow refuses it as truncated")

    # ---- other formats and non-images
    small = rgb.resize((8, 6))
    for fmt, name in (("GIF", "other.gif"), ("BMP", "other.bmp"), ("TIFF", "other.tif")):
        b = io.BytesIO()
        small.save(b, fmt)
        refused(name, b.getvalue(), "unsupported_format")
    refused("other.heic", struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 32,
            "corrupt_image", "an ISO-BMFF header with HEIF brands and nothing else")

    # ---- WebP, HEIF, AVIF
    codec_fixtures_formats.add(rgb, image, refused, heif_image, lambda name, data: files.__setitem__(name, data))
    rng = random.Random(7)
    noise = bytes([0x42]) + bytes(rng.randrange(256) for _ in range(999))
    refused("noise.bin", noise, "not_an_image")
    refused("text.txt", b"BMW is a car, not a bitmap.\n" * 3, "not_an_image")
    refused("empty.bin", b"", "empty_file")

    os.makedirs(os.path.join(OUT, "pillow"), exist_ok=True)
    for folder in (OUT, os.path.join(OUT, "pillow")):  # fuzz/ (the fuzzer's findings) stays
        for old in os.listdir(folder):
            if os.path.isfile(os.path.join(folder, old)):
                os.remove(os.path.join(folder, old))
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    doc = {"generator": "scripts/make_codec_fixtures.py", "pillow": PILLOW_VERSION,
           "images": dict(sorted(expected.items()))}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    total = sum(len(d) for d in files.values())
    print(f"{len(expected)} fixtures ({len(files)} files), {total} bytes, in {OUT}")


if __name__ == "__main__":
    main()
