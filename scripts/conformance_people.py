#!/usr/bin/env python3
"""Known people: face_recognition's command line against facewatch's `matches`.

    conformance_people.py KNOWN DIR --facewatch BIN --reference-cli VENV/bin/face_recognition [--models M]

Runs `face_recognition --tolerance 0.6 --show-distance true KNOWN DIR` (the pinned reference), then a
facewatch daemon on a fresh root with `--known KNOWN`, submits the images of DIR and reads each
result's `faces[].matches`. For every image the lines must agree: the same names (exactly; a face
with no match is `unknown_person`, an image without faces `no_persons_found`) and each distance
within 1e-5. face_recognition prints every known person within the tolerance in the known folder's
order; facewatch lists them per face, closest first: lines are compared per image as sorted lists.
Only the standard library is used. Exit status 0 only when every image agrees.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

PICTURE = re.compile(r".*\.(jpg|jpeg|png)", re.IGNORECASE)  # face_recognition's image_files_in_folder
TOLERANCE = 0.6
DISTANCE_TOLERANCE = 1e-5


def pictures(folder):
    return sorted(f for f in os.listdir(folder) if PICTURE.match(f) and os.path.isfile(os.path.join(folder, f)))


def reference_lines(cli, known, photos):
    out = subprocess.run(
        [cli, "--tolerance", str(TOLERANCE), "--show-distance", "true", known, photos],
        check=True, capture_output=True, text=True).stdout
    lines = {}
    for line in out.splitlines():
        path, name, distance = line.rsplit(",", 2)
        entry = (name, None if distance == "None" else float(distance))
        lines.setdefault(os.path.basename(path), []).append(entry)
    return lines


def facewatch_json(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def wait_until(condition, what, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    sys.exit(f"conformance-people: timed out waiting for {what}")


def facewatch_lines(binary, models, known, photos, work):
    root = os.path.join(work, "root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    log = open(os.path.join(work, "serve.log"), "w")
    command = [binary, "serve", "--root", root, "--known", os.path.abspath(known), "--tolerance", str(TOLERANCE)]
    if models:
        command += ["--models", models]
    daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        expected = len(pictures(known))

        def people_ready():
            if daemon.poll() is not None:
                sys.exit(f"conformance-people: the daemon exited; see {log.name}")
            try:
                people = facewatch_json(binary, "people", "--root", root, "--json")
            except (subprocess.CalledProcessError, json.JSONDecodeError):
                return False
            seen = sum(len(p["pictures"]) for p in people["people"])
            return seen >= expected and not people["relabelling"]

        wait_until(people_ready, "the known pictures")
        # Dropped under their own names (a dotfile renamed in), so results name their source file.
        inbox = os.path.join(root, "inbox")
        files = pictures(photos)
        for name in files:
            shutil.copyfile(os.path.join(photos, name), os.path.join(inbox, "." + name))
            os.rename(os.path.join(inbox, "." + name), os.path.join(inbox, name))
        results = os.path.join(root, "results")
        wait_until(lambda: len([n for n in os.listdir(results) if n.endswith(".json")]) >= len(files), "the results")
        wait_until(people_ready, "the relabel")
        lines = {}
        for name in os.listdir(results):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(results, name)) as f:
                document = json.load(f)
            entries = []
            for face in document["faces"]:
                matches = face.get("matches")
                if matches is None:
                    sys.exit(f"conformance-people: {name} has a face without matches")
                if not matches:
                    entries.append(("unknown_person", None))
                entries += [(m["name"], m["distance"]) for m in matches]
            if not document["faces"]:
                entries.append(("no_persons_found", None))
            lines[document["source"]["name"]] = entries
        return lines
    finally:
        daemon.terminate()
        daemon.wait(timeout=120)


def agree(a, b):
    if len(a) != len(b):
        return False
    for (name_a, distance_a), (name_b, distance_b) in zip(sorted(a, key=key), sorted(b, key=key)):
        if name_a != name_b:
            return False
        if (distance_a is None) != (distance_b is None):
            return False
        if distance_a is not None and abs(distance_a - distance_b) > DISTANCE_TOLERANCE:
            return False
    return True


def key(entry):
    return (entry[0], -1 if entry[1] is None else entry[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("known")
    parser.add_argument("photos")
    parser.add_argument("--facewatch", required=True)
    parser.add_argument("--reference-cli", required=True)
    parser.add_argument("--models")
    parser.add_argument("--work", default=".cache/conformance-people")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)

    start = time.monotonic()
    reference = reference_lines(args.reference_cli, args.known, args.photos)
    print(f"conformance-people: face_recognition on {len(reference)} images in {time.monotonic() - start:.1f} s")
    start = time.monotonic()
    candidate = facewatch_lines(args.facewatch, args.models, args.known, args.photos, args.work)
    print(f"conformance-people: facewatch on {len(candidate)} images in {time.monotonic() - start:.1f} s")

    failures = names_differ = 0
    names = distances = 0
    worst = 0.0
    for image in sorted(set(reference) | set(candidate)):
        ref, got = reference.get(image), candidate.get(image)
        if ref is None or got is None or sorted(n for n, _ in ref) != sorted(n for n, _ in got):
            failures += 1
            names_differ += 1
            print(f"  NAMES DIFFER {image}\n    face_recognition: {ref}\n    facewatch:        {got}")
            continue
        names += len(ref)
        largest = 0.0
        for (_, a), (_, b) in zip(sorted(ref, key=key), sorted(got, key=key)):
            if a is not None:
                distances += 1
                largest = max(largest, abs(a - b))
        if not agree(ref, got):
            failures += 1
            print(f"  DISTANCES DIFFER by up to {largest:.2e} {image}\n    face_recognition: {ref}\n"
                  f"    facewatch:        {got}")
            continue
        worst = max(worst, largest)
    images = len(set(reference) | set(candidate))
    print(f"conformance-people: {images} images; names identical on {images - names_differ} ({names} names); "
          f"names and distances within {DISTANCE_TOLERANCE:g} on {images - failures} (largest difference there "
          f"{worst:.2e}); {failures} images differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
