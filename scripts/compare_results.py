#!/usr/bin/env python3
"""Compare face_recognition's reference lines with facewatch's, matched by file base name.

    compare_results.py REFERENCE CANDIDATE [--tol 1e-5] [--verbose]

REFERENCE: JSON lines from scripts/reference_encode.py (or a golden reference.jsonl such as ../shared/golden/reference.jsonl):
  {"file", "width", "height", "faces": [{"box": [t, r, b, l], "encoding": [128 floats]}]}
  {"file", "expect_error": CODE}          facewatch must fail the file with exactly this code
  {"file", "reference_error": "..."}      face_recognition raised: facewatch must say corrupt_image
  "truncated": true on a faces line        either these faces or corrupt_image (so is a file whose
                                           name says "truncated", the golden checker's rule, for
                                           references made elsewhere that lack the flag)
CANDIDATE: `facewatch encode` output (the result schema: "file", "image": {"width", "height"},
  "faces": [{"location": {"top", "right", "bottom", "left"}, "encoding"}], "error": {"code"} or null),
  or another reference file.

Every reference image must be in the candidate and nothing else; error codes, image sizes, face
counts and boxes must be identical, in order; no encoding component may differ by more than --tol,
or --heif-tol for a reference line whose "format" is "heif" (facewatch decodes HEIF with Debian's
libheif, whose colour conversion rounds differently from pillow-heif's: docs/formats.md).
Prints each problem, then one summary line. Exit status 0 when it all matches, 1 when not, 2 when a
file cannot be read.
"""
import argparse
import json
import os
import sys

# HEIF encodings: the largest difference measured on the test images (0.06), with a margin (docs/formats.md).
HEIF_TOLERANCE = 0.1


def name_of(d):
    for key in ("file", "path", "name"):
        if isinstance(d.get(key), str):
            return os.path.basename(d[key])
    src = d.get("source")
    if isinstance(src, dict):
        for key in ("name", "path", "file"):
            if isinstance(src.get(key), str):
                return os.path.basename(src[key])
    return None


def box_of(face):
    if "box" in face and isinstance(face["box"], list):
        return [int(v) for v in face["box"]]
    loc = face.get("location") or face.get("box")
    return [loc["top"], loc["right"], loc["bottom"], loc["left"]]


def error_code(d):
    """The error a line reports: facewatch's error.code, or a reference line's expectation."""
    err = d.get("error")
    if err:
        return err.get("code") if isinstance(err, dict) else str(err)
    if "expect_error" in d:
        return d["expect_error"]
    if "reference_error" in d:
        return "corrupt_image"
    return None


def size_of(d):
    image = d.get("image") if isinstance(d.get("image"), dict) else d
    if isinstance(image.get("width"), int) and isinstance(image.get("height"), int):
        return image["width"], image["height"]
    return None


def load(path):
    lines, unparsed, duplicates = {}, 0, []
    try:
        handle = open(path, errors="replace")
    except OSError as exc:
        sys.exit(f"compare_results: cannot read {path}: {exc.strerror}")
    with handle:
        for text in handle:
            text = text.strip()
            if not text:
                continue
            try:
                d = json.loads(text)
            except ValueError:
                unparsed += 1
                continue
            name = name_of(d) if isinstance(d, dict) else None
            if name is None:
                unparsed += 1
                continue
            if name in lines:
                duplicates.append(name)
            lines[name] = d
    return lines, unparsed, duplicates


def compare(ref, cand, tol, verbose, heif_tol=None):
    problems, notes = [], []
    max_delta, faces, worst = 0.0, 0, None
    for name in sorted(ref):
        r, c = ref[name], cand.get(name)
        if c is None:
            problems.append(f"missing {name}: not in the candidate")
            continue
        want, got = error_code(r), error_code(c)
        if "expect_error" in r or "reference_error" in r:
            if got != want:
                said = r.get("reference_error") or r.get("reference_said") or ""
                problems.append(f"error {name}: want {want}, got {got or 'no error'}"
                                + (f" (face_recognition: {said})" if said else ""))
            continue
        if got:
            if (r.get("truncated") or "truncated" in name) and got == "corrupt_image":
                notes.append(f"note {name}: truncated; candidate says corrupt_image (accepted)")
                continue
            problems.append(f"error {name}: unexpected {got}")
            continue
        want_size, got_size = size_of(r), size_of(c)
        if want_size and got_size and want_size != got_size:
            problems.append(f"size {name}: want {want_size[0]}x{want_size[1]}, got {got_size[0]}x{got_size[1]}")
        rf, cf = r.get("faces") or [], c.get("faces") or []
        if len(rf) != len(cf):
            problems.append(f"count {name}: want {len(rf)} faces, got {len(cf)}")
            continue
        file_delta = 0.0
        for index, (fa, fb) in enumerate(zip(rf, cf)):
            faces += 1
            if box_of(fa) != box_of(fb):
                problems.append(f"box {name} face {index}: want {box_of(fa)}, got {box_of(fb)}")
            ea, eb = fa.get("encoding") or [], fb.get("encoding") or []
            if len(eb) != len(ea):
                problems.append(f"encoding {name} face {index}: want {len(ea)} values, got {len(eb)}")
                continue
            delta = max((abs(x - y) for x, y in zip(ea, eb)), default=0.0)
            file_delta = max(file_delta, delta)
            if delta > max_delta:
                max_delta, worst = delta, name
        file_tol = max(tol, heif_tol) if heif_tol is not None and r.get("format") == "heif" else tol
        if file_delta > file_tol:
            problems.append(f"encoding {name}: max abs delta {file_delta:.2e} > {file_tol:g}")
        if verbose:
            notes.append(f"ok {name}: {len(rf)} faces, max abs delta {file_delta:.2e}")
    for name in sorted(set(cand) - set(ref)):
        problems.append(f"extra {name}: in the candidate, not in the reference")
    return problems, notes, max_delta, faces, worst


def main():
    ap = argparse.ArgumentParser(description="Compare face_recognition's results with facewatch's.")
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--tol", type=float, default=1e-5, help="largest allowed per-component difference")
    ap.add_argument("--heif-tol", type=float, default=HEIF_TOLERANCE,
                    help="the same for HEIF images (default %(default)g)")
    ap.add_argument("--verbose", action="store_true", help="a line for every image")
    a = ap.parse_args()
    ref, ref_unparsed, ref_dups = load(a.reference)
    cand, cand_unparsed, cand_dups = load(a.candidate)
    problems, notes, max_delta, faces, worst = compare(ref, cand, a.tol, a.verbose, a.heif_tol)
    problems += [f"duplicate {n}: twice in the reference" for n in ref_dups]
    problems += [f"duplicate {n}: twice in the candidate" for n in cand_dups]
    if cand_unparsed:
        problems.append(f"unparsed: {cand_unparsed} candidate lines are not result objects")
    for line in notes + problems:
        print(line)
    ok = not problems  # each file against its own tolerance
    where = f" ({worst})" if worst else ""
    print(f"{'ok' if ok else 'FAIL'}: images={len(ref)} faces={faces} problems={len(problems)} "
          f"max_abs_delta={max_delta:.2e}{where} tol={a.tol:g} heif_tol={a.heif_tol:g}")
    if ref_unparsed:
        print(f"warning: {ref_unparsed} reference lines could not be read", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
