#!/usr/bin/env python3
"""Find pairs of similar faces across the images facewatch has encoded.

    examples/similar_faces.py [RESULTS_DIR] [--tolerance 0.6]

Loads every results/<uuid>.json (default /var/lib/facewatch/results), takes every face of every
completed image, and prints each pair of faces from two different images whose encodings are within
the tolerance: the euclidean distance between the two 128-number encodings is at most 0.6, the test
face_recognition's compare_faces() applies (`face_distance(...) <= tolerance`). Lower is stricter.

One line per pair, closest first:

    0.3412  6f1c...:1 party/alice.jpg  <->  91ab...:2 office/team.jpg

where `:1` is the face's position in its result (faces are listed as the detector found them).
Standard library only; the comparison is all pairs, fine for thousands of faces, not millions.
"""

import argparse
import json
import math
import os
import sys


def load_faces(results_dir):
    """Yields (image id, face number, source name, encoding) for every face of every completed result."""
    for name in sorted(os.listdir(results_dir)):
        if not name.endswith(".json") or name.startswith("."):
            continue  # the daemon's temporary files
        path = os.path.join(results_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as error:
            print(f"similar_faces: skipping {path}: {error}", file=sys.stderr)
            continue
        if doc.get("status") != "completed":
            continue
        source = (doc.get("source") or {}).get("name", "")
        for number, face in enumerate(doc.get("faces") or [], 1):
            encoding = face.get("encoding") or []
            if len(encoding) == 128:
                yield doc["id"], number, source, encoding


def similar_pairs(faces, tolerance):
    """Every pair of faces from different images at distance <= tolerance, closest first."""
    pairs = []
    for i, (id_a, number_a, source_a, encoding_a) in enumerate(faces):
        for id_b, number_b, source_b, encoding_b in faces[i + 1:]:
            if id_a == id_b:
                continue  # two faces of one image are two people
            distance = math.dist(encoding_a, encoding_b)
            if distance <= tolerance:
                pairs.append((distance, (id_a, number_a, source_a), (id_b, number_b, source_b)))
    pairs.sort(key=lambda pair: (pair[0], pair[1], pair[2]))
    return pairs


def main():
    parser = argparse.ArgumentParser(description="Pairs of similar faces across facewatch results.")
    parser.add_argument("results", nargs="?", default="/var/lib/facewatch/results",
                        help="the results directory (default: %(default)s)")
    parser.add_argument("--tolerance", type=float, default=0.6,
                        help="largest euclidean distance that counts as the same person (default: 0.6)")
    args = parser.parse_args()

    try:
        faces = list(load_faces(args.results))
    except OSError as error:
        sys.exit(f"similar_faces: {error}")
    pairs = similar_pairs(faces, args.tolerance)
    for distance, (id_a, number_a, source_a), (id_b, number_b, source_b) in pairs:
        print(f"{distance:.4f}  {id_a}:{number_a} {source_a}  <->  {id_b}:{number_b} {source_b}")
    images = len({face[0] for face in faces})
    print(f"{len(pairs)} similar pair(s) among {len(faces)} face(s) in {images} image(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
