#!/usr/bin/env python3
"""face_recognition 1.3.0 as the reference for facewatch's engine.

Runs face_recognition itself over files and folders and prints one JSON line per image, sorted by
file name, in the format of the conformance fixtures:

    {"file": "astronaut.png", "format": "png", "width": 512, "height": 512,
     "faces": [{"box": [top, right, bottom, left], "encoding": [128 floats]}]}

It is face_recognition with its defaults (HOG detector, 1 upsample, 5-point landmarks, 1 jitter):
load_image_file, face_locations(img), face_encodings(img, known_face_locations=locations), so the
landmarks come from the clipped boxes. facewatch's documented departures are applied here too, so
that the output is what facewatch must produce (see docs/ARCHITECTURE.md):

- the EXIF orientation tag is applied before anything else (PIL's ImageOps.exif_transpose);
- a 16-bit grayscale PNG is read as its high bytes (face_recognition turns it white);
- JPEG, PNG, WebP, HEIF and AVIF, sniffed by content, are images (HEIF through pillow-heif,
  registered here as its documentation says; WebP and AVIF through Pillow itself): other formats give
  {"expect_error": "unsupported_format"}, unknown content {"expect_error": "not_an_image"};
- a FIFO, socket or device gives "not_a_regular_file", an empty file "empty_file", more than --max-bytes "too_large", more than --max-pixels
  (from the header) "too_many_pixels".

A line with "expect_error" also has "reference_said": what face_recognition did with the file.
When face_recognition raises on a file that facewatch must accept, the line is
{"file", "reference_error": "Type: message"} (facewatch is expected to fail it with corrupt_image).
A JPEG without its end marker or a PNG without IEND is marked "truncated": true: face_recognition
(which sets PIL's LOAD_TRUNCATED_IMAGES) decodes it as far as the data goes, and facewatch may either
give those faces or fail with corrupt_image.

--timings adds "timings": {"decode", "detect", "encode"} in seconds per image (for `make bench`);
--processes N runs N worker processes (multiprocessing, spawn); --summary FILE writes a JSON object
with the wall time and the peak RSS of every process.

Runs inside the reference virtualenv (.venv-reference-formats, `make reference-venv`).
"""
import argparse
import json
import multiprocessing
import os
import queue
import resource
import stat
import sys
import time

MAX_BYTES = 50_000_000
MAX_PIXELS = 50_000_000

# Filled in by _init_worker (face_recognition loads its models when it is imported).
_fr = None
_np = None
_Image = None
_ImageFile = None
_ImageOps = None
_options = None
_pil_default_max_pixels = None


def _sniff_ftyp(data):
    """ISO base media ("....ftyp"): HEIF/HEIC/AVIF by major or compatible brand."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    box = int.from_bytes(data[0:4], "big")
    if box < 16 or box > len(data):
        box = min(len(data), 64)
    found = None
    for at in range(8, box - 3, 4):
        if at == 12:
            continue  # minor version, not a brand
        brand = data[at:at + 4]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"):
            found = "heif"
    return found


# The formats facewatch decodes (docs/formats.md); the others sniff() knows are unsupported_format.
DECODED = ("jpeg", "png", "webp", "heif", "avif")


def sniff(data):
    """The format named by the file's first bytes (at least 64 of them), never by extension.

    The same table as facewatch's Sources/CImageCodec/sniff.c: the DECODED formats are images; the
    other formats are recognised so that they are "unsupported_format" rather than "not_an_image"."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 18 and data.startswith(b"BM") and \
            int.from_bytes(data[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124):
        return "bmp"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith((b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")):
        return "tiff"
    ftyp = _sniff_ftyp(data)
    if ftyp:
        return ftyp
    if data.startswith((b"\0\0\0\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "jpeg2000"
    if data.startswith((b"\0\0\0\x0cJXL \r\n\x87\n", b"\xff\x0a")):
        return "jpegxl"
    if len(data) >= 10 and data[0] == 0 and data[1] == 0 and data[2] in (1, 2) and data[3] == 0:
        count = data[4] | data[5] << 8
        if 1 <= count <= 512 and data[9] == 0:
            return "ico"
    if len(data) >= 6 and data.startswith(b"8BPS") and data[4] == 0 and data[5] in (1, 2):
        return "psd"
    if data.startswith(b"qoif"):
        return "qoi"
    if data.startswith(b"\x76\x2f\x31\x01"):
        return "openexr"
    if data.startswith((b"\x8aMNG\r\n\x1a\n", b"\x8bJNG\r\n\x1a\n")):
        return "mng"
    if len(data) >= 3 and data[0:1] == b"P" and 0x31 <= data[1] <= 0x37 and data[2] in b" \t\n\r\v\f":
        return "pnm"
    return None


def _init_worker(options):
    global _fr, _np, _Image, _ImageFile, _ImageOps, _options
    import numpy
    import PIL.Image
    import PIL.ImageFile
    import PIL.ImageOps
    import face_recognition
    import pillow_heif
    pillow_heif.register_heif_opener()  # HEIF/HEIC, as pillow-heif's users read it with Pillow
    _fr, _np, _Image, _ImageFile, _ImageOps = face_recognition, numpy, PIL.Image, PIL.ImageFile, PIL.ImageOps
    global _pil_default_max_pixels
    _options = options
    _pil_default_max_pixels = _Image.MAX_IMAGE_PIXELS
    # Pixel limits are facewatch's (checked from the header below), not PIL's bomb guard.
    _Image.MAX_IMAGE_PIXELS = None


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


def _what_face_recognition_says(path):
    """For a departure: what face_recognition's load_image_file does with the file (no detection)."""
    saved = _Image.MAX_IMAGE_PIXELS
    _Image.MAX_IMAGE_PIXELS = _pil_default_max_pixels  # as face_recognition runs it
    try:
        img = _fr.load_image_file(path)
        return f"loads as {img.shape[1]}x{img.shape[0]}"
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return _describe(exc)
    finally:
        _Image.MAX_IMAGE_PIXELS = saved


def _load_rgb(path):
    """face_recognition's load_image_file plus facewatch's departures (EXIF, 16-bit gray)."""
    im = _Image.open(path)
    im = _ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale: keep the high byte (PIL's convert("RGB") would clip to white).
        high = (_np.asarray(im).astype(_np.uint32) >> 8).astype(_np.uint8)
        im = _Image.fromarray(high, mode="L")
    return _np.array(im.convert("RGB"))


def _ends_with(path, marker):
    with open(path, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - len(marker)))
        return handle.read() == marker


def encode_one(path):
    """One result line (a dict) for one file."""
    name = os.path.basename(path)
    line = {"file": name}
    opts = _options
    try:
        status = os.stat(path)
    except OSError as exc:
        line["expect_error"] = "io_error"
        line["reference_said"] = _describe(exc)
        return line
    size = status.st_size
    if not stat.S_ISREG(status.st_mode):
        line["expect_error"] = "not_a_regular_file"
        line["reference_said"] = "not read (not a regular file)"
        return line
    if size == 0:
        line["expect_error"] = "empty_file"
    elif size > opts["max_bytes"]:
        line["expect_error"] = "too_large"
    else:
        with open(path, "rb") as handle:
            head = handle.read(64)
        kind = sniff(head)
        if kind is None:
            line["expect_error"] = "not_an_image"
        elif kind not in DECODED:
            line["expect_error"] = "unsupported_format"
        else:
            try:
                with _Image.open(path) as probe:
                    width, height = probe.size
                if width * height > opts["max_pixels"]:
                    line["expect_error"] = "too_many_pixels"
            except Exception as exc:  # noqa: BLE001 - PIL cannot even read the header
                line["reference_error"] = _describe(exc)
                return line
    if "expect_error" in line:
        line["reference_said"] = _what_face_recognition_says(path)
        return line

    if kind == "jpeg" and not _ends_with(path, b"\xff\xd9") or \
            kind == "png" and not _ends_with(path, b"IEND\xaeB`\x82"):
        line["truncated"] = True
    t0 = time.perf_counter()
    try:
        img = _load_rgb(path)
    except Exception as exc:  # noqa: BLE001 - face_recognition cannot load it
        line["reference_error"] = _describe(exc)
        return line
    t1 = time.perf_counter()
    locations = _fr.face_locations(img, number_of_times_to_upsample=opts["upsample"], model=opts["detector"])
    t2 = time.perf_counter()
    encodings = _fr.face_encodings(img, known_face_locations=locations, num_jitters=opts["jitters"],
                                   model=opts["landmarks"])
    t3 = time.perf_counter()
    line["format"] = kind  # HEIF's encodings are compared with a wider tolerance (docs/formats.md)
    line["width"] = int(img.shape[1])
    line["height"] = int(img.shape[0])
    line["faces"] = [{"box": [int(v) for v in box], "encoding": [float(x) for x in enc]}
                     for box, enc in zip(locations, encodings)]
    if opts["timings"]:
        line["timings"] = {"decode": t1 - t0, "detect": t2 - t1, "encode": t3 - t2}
    return line


def _worker(options, tasks, results):
    """A worker process: encodes (index, path) tasks until None, then reports its peak RSS."""
    _init_worker(options)
    for index, path in iter(tasks.get, None):
        results.put((index, encode_one(path)))
    results.put((None, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def run_processes(files, options, count):
    """Encodes files on `count` spawned processes; returns (lines in order, peak RSS per worker)."""
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(options, tasks, results)) for _ in range(count)]
    for w in workers:
        w.start()
    for item in enumerate(files):
        tasks.put(item)
    for _ in workers:
        tasks.put(None)
    lines, peaks, pending = [None] * len(files), [], len(files) + count
    while pending:
        try:
            index, value = results.get(timeout=2)
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                sys.exit(f"reference_encode: a worker process died (exit status {dead[0]})")
            continue
        pending -= 1
        if index is None:
            peaks.append(value)
        else:
            lines[index] = value
    for w in workers:
        w.join()
        if w.exitcode != 0:
            sys.exit(f"reference_encode: a worker process exited with status {w.exitcode}")
    return lines, sorted(peaks)


def ignored(name):
    """Names facewatch skips in folders: dotfiles and writers' temporary files (README, "On disk")."""
    return name.startswith(".") or name.endswith((".part", ".tmp", "~"))


def collect(paths):
    """Files under the given paths, the way `facewatch encode` lists them: folders recursively,
    ignored names skipped, links to folders not followed; sorted by base name."""
    found = []
    for root in paths:
        if os.path.isdir(root):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not ignored(d))
                found += [os.path.join(dirpath, f) for f in filenames if not ignored(f)]
        elif os.path.exists(root):
            found.append(root)
        else:
            sys.exit(f"reference_encode: no such file or folder: {root}")
    return sorted(found, key=lambda p: (os.path.basename(p), p))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", help="image files or folders")
    ap.add_argument("--out", help="write the JSON lines here instead of stdout")
    ap.add_argument("--processes", type=int, default=1, help="worker processes (default 1: in-process)")
    ap.add_argument("--timings", action="store_true", help="add per-image timings (seconds)")
    ap.add_argument("--summary", help="write wall time and peak RSS (KiB) of every process as JSON")
    ap.add_argument("--upsample", type=int, default=1)
    ap.add_argument("--jitters", type=int, default=1)
    ap.add_argument("--landmarks", choices=["small", "large"], default="small")
    ap.add_argument("--detector", choices=["hog", "cnn"], default="hog")
    ap.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    ap.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    a = ap.parse_args()
    options = {"upsample": a.upsample, "jitters": a.jitters, "landmarks": a.landmarks,
               "detector": a.detector, "max_bytes": a.max_bytes, "max_pixels": a.max_pixels,
               "timings": a.timings}
    files = collect(a.paths)

    start = time.perf_counter()
    worker_rss = []
    if a.processes <= 1:
        _init_worker(options)
        lines = [encode_one(p) for p in files]
    else:
        lines, worker_rss = run_processes(files, options, a.processes)
    wall = time.perf_counter() - start

    out = open(a.out, "w") if a.out else sys.stdout
    for line in lines:
        out.write(json.dumps(line) + "\n")
    if a.out:
        out.close()
    if a.summary:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with open(a.summary, "w") as handle:
            json.dump({"images": len(files), "processes": max(a.processes, 1), "wall_seconds": wall,
                       "peak_rss_kib": {"main": own, "workers": worker_rss},
                       "total_peak_rss_kib": own + sum(worker_rss)}, handle)
            handle.write("\n")


if __name__ == "__main__":
    main()
