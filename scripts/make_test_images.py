#!/usr/bin/env python3
"""Makes the conformance test images in a folder (default .cache/test-images).

    make_test_images.py --wheel scikit_image-*.whl --out .cache/test-images [--record]

Takes astronaut.png, camera.png, chelsea.png and no_time_for_that_tiny.gif out of the scikit-image
wheel, then derives variants from the astronaut deterministically with a pinned Pillow (see
scripts/requirements-tools.txt): EXIF-rotated JPEGs (pixels transposed and the orientation tag set, so
applying the tag gives back the upright image), grayscale, 16-bit, palette, RGBA, gray+alpha,
progressive, a face cut by the image border, a face near it, and two faces side by side; and the
phone formats (docs/formats.md): WebP lossy, lossless, with alpha and animated, HEIC (pillow-heif) at
8 and 10 bits with its rotation in irot, AVIF upright and rotated.

The HEIC and AVIF encoders (x265, aom) gave the same bytes on every run here, but nothing depends on
it: the digests below are of the decoded content.

Every image's decoded content (mode, size, EXIF orientation, pixels) is checked against
scripts/test-images.sha256, so the images match the committed fixtures
(Tests/FaceEncodingTests/Fixtures/conformance.jsonl) on every machine. --record rewrites that list
(only when the set of images is changed on purpose; then run `make fixtures`).
"""
import argparse
import hashlib
import io
import os
import shutil
import sys
import zipfile

import pillow_heif
from PIL import Image, ImageOps

pillow_heif.register_heif_opener()

FROM_WHEEL = ["astronaut.png", "camera.png", "chelsea.png", "no_time_for_that_tiny.gif"]
DIGESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-images.sha256")
COMPLETE = ".complete"  # written last: the folder is done (the Makefile's stamp)
ORIENTATION = 0x0112
JPEG_QUALITY = 90


def extract(wheel, out):
    with zipfile.ZipFile(wheel) as archive:
        for name in FROM_WHEEL:
            member = f"skimage/data/{name}"
            try:
                data = archive.read(member)
            except KeyError:
                sys.exit(f"make_test_images: {member} is not in {wheel}")
            with open(os.path.join(out, name), "wb") as handle:
                handle.write(data)


def save(image, out, name, **params):
    path = os.path.join(out, name)
    image.save(path + ".tmp", format=params.pop("format"), **params)
    os.replace(path + ".tmp", path)


def save_rotated_jpeg(upright, out, name, orientation):
    """Stores the pixels so that applying `orientation` shows `upright`, and sets the tag."""
    stored = {
        3: upright.transpose(Image.Transpose.ROTATE_180),
        5: upright.transpose(Image.Transpose.TRANSPOSE),
        6: upright.transpose(Image.Transpose.ROTATE_90),   # the tag turns it 90 degrees clockwise
        8: upright.transpose(Image.Transpose.ROTATE_270),  # the tag turns it 90 degrees counter-clockwise
    }[orientation]
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    save(stored, out, name, format="JPEG", quality=JPEG_QUALITY, exif=exif.tobytes())
    # Applying the tag must give back the upright image (up to JPEG's loss).
    with Image.open(os.path.join(out, name)) as written:
        shown = ImageOps.exif_transpose(written).convert("RGB")
    if shown.size != upright.size or mean_abs_diff(shown, upright) > 4.0:
        sys.exit(f"make_test_images: {name} does not show the upright image after EXIF orientation")


def mean_abs_diff(a, b):
    pa, pb = a.tobytes(), b.tobytes()
    return sum(abs(x - y) for x, y in zip(pa[::97], pb[::97])) / len(pa[::97])


def gray16(gray):
    """A 16-bit grayscale image whose high bytes are `gray` and whose low bytes are 255 - gray.

    Taking the high byte gives `gray` back; scaling (v * 255 / 65535, rounded) would not, so the
    image tells the two apart."""
    raw = bytearray()
    for v in gray.tobytes():
        raw += bytes((255 - v, v))  # little-endian: low byte, then high byte
    return Image.frombytes("I;16", gray.size, bytes(raw))


def alpha_ramp(size):
    """An alpha channel from 255 on the left to 16 on the right: dropping it and blending it differ."""
    w, h = size
    row = bytes(255 - (239 * x) // max(w - 1, 1) for x in range(w))
    return Image.frombytes("L", size, row * h)


def make_variants(out):
    with Image.open(os.path.join(out, "astronaut.png")) as source:
        astronaut = source.convert("RGB")
    head = astronaut.crop((94, 0, 350, 256))  # 256x256 around the face (box 76,265,166,175)

    save(astronaut, out, "astronaut.jpg", format="JPEG", quality=JPEG_QUALITY)
    save(astronaut, out, "astronaut_progressive.jpg", format="JPEG", quality=JPEG_QUALITY, progressive=True)
    for orientation in (3, 5, 6, 8):
        save_rotated_jpeg(astronaut, out, f"astronaut_exif{orientation}.jpg", orientation)
    gray = astronaut.convert("L")
    save(gray, out, "astronaut_gray.jpg", format="JPEG", quality=JPEG_QUALITY)
    save(gray16(gray), out, "astronaut_gray16.png", format="PNG")
    save(astronaut.quantize(256), out, "astronaut_palette.png", format="PNG")
    rgba = head.copy()
    rgba.putalpha(alpha_ramp(head.size))
    save(rgba, out, "astronaut_rgba.png", format="PNG")
    gray_alpha = head.convert("L")
    gray_alpha.putalpha(alpha_ramp(head.size))
    save(gray_alpha.convert("LA"), out, "astronaut_gray_alpha.png", format="PNG")
    # The face cut by the left border: its box is clipped, and the landmarks come from the clipped box.
    save(astronaut.crop((200, 30, 456, 286)), out, "astronaut_partial.png", format="PNG")
    # The face 6 pixels from the left border (box 76,96,166,6): one of the 5-point predictor's feature
    # pixels falls on a rounding boundary, where dlib's matrix code with LAPACK (Debian's build) and
    # without it (face_recognition's dlib) read different pixels: the landmarks move by a pixel.
    save(astronaut.crop((176, 0, 432, 256)), out, "astronaut_left.png", format="PNG")
    pair = Image.new("RGB", (head.width * 2, head.height))
    pair.paste(head, (0, 0))
    pair.paste(ImageOps.mirror(head), (head.width, 0))
    save(pair, out, "two_faces.png", format="PNG")
    make_phone_formats(out, astronaut, rgba)


def make_phone_formats(out, astronaut, rgba):
    """WebP, HEIC and AVIF variants: each must give the astronaut's face, upright."""
    save(astronaut, out, "astronaut_lossy.webp", format="WEBP", quality=JPEG_QUALITY)
    save(astronaut, out, "astronaut_lossless.webp", format="WEBP", lossless=True)
    save(rgba, out, "astronaut_alpha.webp", format="WEBP", quality=JPEG_QUALITY)
    save(astronaut, out, "astronaut_animated.webp", format="WEBP", save_all=True,
         append_images=[ImageOps.flip(astronaut)], duration=100, quality=JPEG_QUALITY)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    turned = astronaut.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
    save(astronaut, out, "astronaut.heic", format="HEIF", quality=JPEG_QUALITY)
    # pillow-heif writes the orientation as an irot box (and keeps the EXIF): applied once.
    save(turned, out, "astronaut_rot6.heic", format="HEIF", quality=JPEG_QUALITY, exif=exif.tobytes())
    deep = pillow_heif.from_bytes(mode="RGB;16", size=turned.size,
                                  data=bytes(b for v in turned.tobytes() for b in (v, v)))
    path = os.path.join(out, "astronaut_10bit_rot6.heic")
    deep.save(path + ".tmp", format="HEIF", quality=JPEG_QUALITY, exif=exif.tobytes())
    os.replace(path + ".tmp", path)
    save(astronaut, out, "astronaut.avif", format="AVIF", quality=JPEG_QUALITY)
    save(turned, out, "astronaut_rot6.avif", format="AVIF", quality=JPEG_QUALITY, exif=exif.tobytes())
    for name in ("astronaut_lossy.webp", "astronaut_lossless.webp", "astronaut_animated.webp", "astronaut.heic",
                 "astronaut_rot6.heic", "astronaut_10bit_rot6.heic", "astronaut.avif", "astronaut_rot6.avif"):
        with Image.open(os.path.join(out, name)) as written:
            shown = ImageOps.exif_transpose(written).convert("RGB")
        if shown.size != astronaut.size or mean_abs_diff(shown, astronaut) > 4.0:
            sys.exit(f"make_test_images: {name} does not show the upright astronaut")


def digest(path):
    """SHA-256 of what a decoder sees: mode, size, EXIF orientation and pixels (not the file bytes,
    which depend on the compressor's build)."""
    with Image.open(path) as image:
        orientation = image.getexif().get(ORIENTATION, 1)
        header = f"{image.mode} {image.width}x{image.height} orientation={orientation}\n".encode()
        return hashlib.sha256(header + image.tobytes()).hexdigest()


def image_names(out):
    return sorted(n for n in os.listdir(out) if not n.startswith(".") and not n.endswith(".tmp"))


def main():
    ap = argparse.ArgumentParser(description="Makes the conformance test images.")
    ap.add_argument("--wheel", required=True, help="the scikit-image wheel (pip download)")
    ap.add_argument("--out", required=True, help="folder for the images")
    ap.add_argument("--record", action="store_true", help=f"rewrite {os.path.basename(DIGESTS)}")
    a = ap.parse_args()
    final = a.out.rstrip("/")
    work = final + ".partial"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    extract(a.wheel, work)
    make_variants(work)
    actual = {name: digest(os.path.join(work, name)) for name in image_names(work)}
    if a.record:
        with open(DIGESTS, "w") as handle:
            handle.writelines(f"{value}  {name}\n" for name, value in sorted(actual.items()))
        print(f"make_test_images: recorded {len(actual)} digests in {DIGESTS}")
    expected = {}
    with open(DIGESTS) as handle:
        for line in handle:
            value, name = line.split()
            expected[name] = value
    wrong = [n for n in sorted(expected) if actual.get(n) != expected[n]]
    extra = sorted(set(actual) - set(expected))
    if wrong or extra:
        for name in wrong:
            print(f"make_test_images: {name}: {'missing' if name not in actual else 'content differs'}",
                  file=sys.stderr)
        for name in extra:
            print(f"make_test_images: {name}: not in {DIGESTS}", file=sys.stderr)
        sys.exit("make_test_images: the images differ from the ones the fixtures were made from "
                 "(is Pillow the pinned version? see scripts/requirements-tools.txt)")
    with open(os.path.join(work, COMPLETE), "w") as handle:
        handle.write("".join(f"{actual[n]}  {n}\n" for n in sorted(actual)))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(work, final)
    print(f"make_test_images: {len(actual)} images in {final}, all match {os.path.relpath(DIGESTS)}")


if __name__ == "__main__":
    main()
