"""The WebP, HEIF (HEIC) and AVIF codec fixtures (used by scripts/make_codec_fixtures.py).

WebP and AVIF are read by Pillow 13 itself; HEIF through pillow-heif (pinned in
scripts/requirements-reference-formats.txt), registered as face_recognition's reference registers
it. WebP and AVIF pixels must be Pillow's exactly (the sha256); HEIF pixels come from Debian's
libheif 1.15, whose YCbCr-to-RGB conversion rounds differently from the libheif in pillow-heif's
wheel, so an HEIF entry also names Pillow's pixels (pillow/NAME.rgb) and the largest difference per
sample the decoder may show ("max_difference", docs/formats.md).

Hostile files are made by editing real ones: a WebP whose header declares 16384x16384, HEIF and
AVIF files whose ispe box says more pixels than the limit, and ones whose ispe says fewer pixels
than the coded stream holds (the decoder must not allocate the stream's size: checked with a small
pixel limit by ImageDecoderTests).

No AVIF with alpha: Pillow 13 (libavif 1.4.2) and Debian's libavif 0.11.1 give different colours for
the semi-transparent pixels of the AVIF files Pillow writes (docs/formats.md).
"""
import hashlib
import io
import struct

from PIL import Image, ImageOps

import pillow_heif

pillow_heif.register_heif_opener()

# The largest difference of an HEIF sample from Pillow's (pillow-heif 1.9.0's libheif 1.23.7 against
# Debian 12's libheif 1.15.1), measured on these fixtures and the test images.
HEIF_MAX_DIFFERENCE = 2


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _save(im, fmt, **params):
    b = io.BytesIO()
    im.save(b, fmt, **params)
    return b.getvalue()


def _replace_ispe(data, width, height, which=None):
    """The file with every ispe box (or only the index `which`) declaring width x height."""
    out = bytearray(data)
    at, index = 0, 0
    while (at := out.find(b"ispe", at + 1)) >= 0:
        if struct.unpack(">I", out[at - 4:at])[0] == 20 and (which is None or which == index):
            out[at + 8:at + 16] = struct.pack(">II", width, height)
        index += 1
    return bytes(out)


def _vp8l_header(width, height):
    """A lossless WebP whose bitstream header declares width x height, followed by a few bytes."""
    bits = (width - 1) | (height - 1) << 14
    payload = b"\x2f" + struct.pack("<I", bits) + b"\0" * 17  # an even size: no RIFF padding
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def add(rgb, image, refused, heif_image, unexpected):
    """Adds the fixtures through the callbacks of make_codec_fixtures.py."""
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))

    # ---- WebP: exact (libwebp on both sides)
    image("webp_lossy.webp", _save(rgb, "WEBP", quality=80))
    image("webp_lossless.webp", _save(rgb, "WEBP", lossless=True))
    image("webp_alpha.webp", _save(rgba, "WEBP", quality=80), "lossy with an alpha plane: dropped")
    image("webp_alpha_lossless.webp", _save(rgba, "WEBP", lossless=True, exact=True),
          "lossless RGBA, colour kept under transparent pixels: dropped alpha")
    image("webp_animated.webp",
          _save(rgb, "WEBP", save_all=True, append_images=[ImageOps.mirror(rgb)], duration=100, quality=80),
          "two frames: the first one")
    image("webp_exif6.webp", _save(rgb, "WEBP", quality=80, exif=_exif(6)), "EXIF chunk, orientation 6")
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="8"/></rdf:RDF></x:xmpmeta>')
    image("webp_xmp8.webp", _save(rgb, "WEBP", quality=80, xmp=xmp), "XMP chunk, orientation 8")
    lossy = _save(rgb, "WEBP", quality=80)
    refused("webp_truncated.webp", lossy[:len(lossy) // 2], "corrupt_image", "cut in the middle")
    refused("webp_bomb.webp", _vp8l_header(16384, 16384), "too_many_pixels",
            "a VP8L header declaring 16384x16384 (268 million pixels) in 42 bytes")

    # ---- AVIF: exact (libavif with dav1d on both sides), irot/imir as the orientation
    image("avif_8bit.avif", _save(rgb, "AVIF", quality=80))
    for orientation in (2, 5, 6):
        image(f"avif_orient{orientation}.avif", _save(rgb, "AVIF", quality=80, exif=_exif(orientation)),
              f"EXIF orientation {orientation} written as irot/imir by Pillow")
    avif = _save(rgb, "AVIF", quality=80)
    refused("avif_truncated.avif", avif[:len(avif) // 2], "corrupt_image", "cut in the middle")
    refused("avif_ispe_huge.avif", _replace_ispe(avif, 20000, 20000), "too_many_pixels",
            "ispe edited to 20000x20000")
    refused("avif_ispe_small.avif", _replace_ispe(avif, 16, 16), "corrupt_image",
            "ispe edited to 16x16 over a 48x32 stream: the decoder refuses the larger frame")

    # ---- HEIF (HEIC): libheif on both sides, different versions: within HEIF_MAX_DIFFERENCE
    heif = _save(rgb, "HEIF", quality=80)
    heif_image("heic_8bit.heic", heif)
    heif_image("heic_alpha.heic", _save(rgba, "HEIF", quality=80), "alpha plane: dropped")
    deep = pillow_heif.from_bytes(mode="RGB;16", size=rgb.size,
                                  data=b"".join(struct.pack("<H", v * 257) for v in rgb.tobytes()))
    b = io.BytesIO()
    deep.save(b, format="HEIF", quality=80)
    heif_image("heic_10bit.heic", b.getvalue(), "10 bits per sample, reduced to 8")
    for orientation in (2, 5, 6):
        heif_image(f"heic_orient{orientation}.heic", _save(rgb, "HEIF", quality=80, exif=_exif(orientation)),
                   f"EXIF orientation {orientation} written by pillow-heif as irot/imir (applied once)")
    refused("heic_truncated.heic", heif[:len(heif) // 2], "corrupt_image", "cut in the middle")
    refused("heic_ispe_huge.heic", _replace_ispe(heif, 20000, 20000), "too_many_pixels",
            "ispe edited to 20000x20000")
    # No expectation: Pillow (libheif 1.23) refuses it, Debian's libheif 1.15 decodes the 48x32
    # stream; ImageDecoderTests checks that a pixel limit under the stream's size refuses it.
    unexpected("heic_ispe_small.heic", _replace_ispe(heif, 16, 16))


def heif_expectation(data):
    """(width, height, Pillow's RGB bytes) of an HEIF file, as the reference loads it."""
    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    return im.size, im.tobytes()


def sha256(data):
    return hashlib.sha256(data).hexdigest()
