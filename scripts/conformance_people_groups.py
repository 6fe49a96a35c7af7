#!/usr/bin/env python3
"""make conformance-people-groups: facewatch's grouping of faces into people against scikit-learn's DBSCAN.

    conformance_people_groups.py --tool PeopleGroupingTool --golden DIR [--distance 0.55] [--min-faces 3]
                                 [--generated 10000] [--sweep]

Two sets of faces: the golden set's (DIR/reference.jsonl, face_recognition's encodings of DIR/images;
each face keyed as the daemon keys it, from the photo's SHA-256 and the face's index), and GENERATED
encodings of clustered people (seeded). For each set, facewatch's rebuild and three incremental runs
(shuffled orders with removals and re-additions) must print the same grouping, and it must equal
DBSCAN(eps=distance, min_samples=min_faces, metric="euclidean") exactly on the core faces (the same
core faces, the same partition of them, each person's id the smallest key of its core faces), and
each other face must follow its nearest core face within the distance (ties to the smaller key) or be
alone exactly when DBSCAN calls it noise. --sweep prints pairwise precision and recall against the
true names of the golden set's people for a grid of settings. Exits 0 only when everything matches.
"""
import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors

# The true names of the golden set's single-face photos (face_recognition's examples: knn_examples
# "johnsnow" is Kit Harington). Photos of several people, and the edge-case variants, take part
# unnamed.
NAMES = [
    ("alex", "alex_lacamoire"), ("biden", "biden"), ("johnsnow", "kit_harington"),
    ("kit_harington", "kit_harington"), ("rose_leslie", "rose_leslie"), ("obama", "obama"),
    ("lin-manuel", "lin_manuel_miranda"),
]


def true_name(file, face_count):
    if face_count != 1 or file.startswith("gx_") or "32bit" in file:
        return None
    for fragment, name in NAMES:
        if fragment in file:
            return name
    return None


def golden_faces(directory):
    """The golden set's faces, each once: a photo present twice byte for byte has the same keys, and
    the grouping takes a set of faces (the daemon counts a photo stored twice once)."""
    faces, seen = [], set()
    with open(os.path.join(directory, "reference.jsonl")) as lines:
        for line in lines:
            record = json.loads(line)
            found = record.get("faces") or []
            with open(os.path.join(directory, "images", record["file"]), "rb") as image:
                digest = hashlib.sha256(image.read()).digest()
            for index, face in enumerate(found):
                key = hashlib.sha256(digest + struct.pack("<I", index)).digest()[:16].hex()
                if key in seen:
                    continue
                seen.add(key)
                faces.append({"key": key, "encoding": face["encoding"],
                              "name": true_name(record["file"], len(found))})
    return faces


def generated_faces(count, seed=23):
    """Clustered people (centres sd 0.05, faces sd 0.022 to 0.034 around them, so that faces of one
    person lie 0.35 to 0.55 apart, about the distance: core, border and lone faces; 1 to 30 faces
    each), plus a face halfway between two people for every twentieth person, so that people touch
    and merge."""
    rng = np.random.default_rng(seed)
    faces, centres = [], []
    while len(faces) < count:
        centre = rng.normal(0, 0.05, 128)
        centres.append(centre)
        spread = rng.uniform(0.022, 0.034)
        for _ in range(int(rng.integers(1, 31))):
            faces.append(centre + rng.normal(0, spread, 128))
        if len(centres) % 20 == 0:
            a, b = rng.choice(len(centres), 2, replace=False)
            faces.append((centres[a] + centres[b]) / 2 + rng.normal(0, 0.01, 128))
    encodings = np.asarray(faces[:count], dtype=np.float32)
    keys = [bytes(rng.integers(0, 256, 16, dtype=np.uint8)).hex() for _ in range(count)]
    return [{"key": k, "encoding": [float(x) for x in e], "name": None} for k, e in zip(keys, encodings)]


def run_tool(tool, path, distance, min_faces, seed=None):
    command = [tool, "group", path, "--distance", str(distance), "--min-faces", str(min_faces)]
    if seed is not None:
        command += ["--incremental", str(seed)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return {line["key"]: line for line in map(json.loads, output.splitlines())}


def expected_grouping(faces, distance, min_faces):
    """DBSCAN's core faces and clusters, with the border rule applied to the rest."""
    x = np.asarray([f["encoding"] for f in faces], dtype=np.float32).astype(np.float64)
    keys = [f["key"] for f in faces]
    model = DBSCAN(eps=distance, min_samples=min_faces, metric="euclidean", algorithm="ball_tree").fit(x)
    core = np.zeros(len(faces), dtype=bool)
    core[model.core_sample_indices_] = True
    cluster_id = {}
    for i in np.flatnonzero(core):
        label = model.labels_[i]
        cluster_id[label] = min(cluster_id.get(label, keys[i]), keys[i])
    distances, neighbours = NearestNeighbors(radius=distance, algorithm="ball_tree").fit(x).radius_neighbors(x)
    expected = {}
    for i, key in enumerate(keys):
        if core[i]:
            expected[key] = (cluster_id[model.labels_[i]][:16], True)
            continue
        candidates = [(d, keys[j], j) for d, j in zip(distances[i], neighbours[i]) if core[j] and j != i]
        if candidates:
            _, _, j = min(candidates)
            expected[key] = (cluster_id[model.labels_[j]][:16], False)
        else:
            expected[key] = (None, False)
        if (model.labels_[i] == -1) != (not candidates):
            raise SystemExit(f"DBSCAN and the border rule disagree on whether {key} is noise")
    return expected


def pairwise_quality(faces, grouping):
    named = [f for f in faces if f["name"]]
    together = same = both = 0
    for i in range(len(named)):
        for j in range(i + 1, len(named)):
            a, b = grouping[named[i]["key"]]["person"], grouping[named[j]["key"]]["person"]
            grouped = a is not None and a == b
            truly = named[i]["name"] == named[j]["name"]
            together += grouped
            same += truly
            both += grouped and truly
    precision = both / together if together else 1.0
    return precision, both / same if same else 1.0, len(named)


def check(name, faces, tool, directory, distance, min_faces):
    path = os.path.join(directory, f"{name}.jsonl")
    with open(path, "w") as out:
        for face in faces:
            out.write(json.dumps({"key": face["key"], "encoding": face["encoding"]}) + "\n")
    rebuilt = run_tool(tool, path, distance, min_faces)
    problems = []
    for seed in (1, 2, 3):
        if run_tool(tool, path, distance, min_faces, seed) != rebuilt:
            problems.append(f"incremental order {seed} differs from the rebuild")
    expected = expected_grouping(faces, distance, min_faces)
    for key, (person, core) in expected.items():
        got = rebuilt[key]
        if got["core"] != core or got["person"] != person:
            problems.append(f"face {key}: facewatch {got['person']} core={got['core']}, expected {person} core={core}")
    people = {p for p, _ in expected.values() if p}
    cores = sum(c for _, c in expected.values())
    border = sum(1 for p, c in expected.values() if p and not c)
    alone = sum(1 for p, _ in expected.values() if p is None)
    verdict = "OK" if not problems else f"{len(problems)} MISMATCHES"
    print(f"{name}: {len(faces)} faces, {len(people)} people, {cores} core, {border} border, {alone} alone: "
          f"rebuild == DBSCAN (core faces, partition, ids) and border rule, 3 incremental orders == rebuild: {verdict}")
    for problem in problems[:10]:
        print("  " + problem)
    return not problems, rebuilt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--golden", required=True, help="folder with reference.jsonl and images/")
    parser.add_argument("--distance", type=float, default=0.55)
    parser.add_argument("--min-faces", type=int, default=3)
    parser.add_argument("--generated", type=int, default=10000)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    print(f"reference: scikit-learn {sklearn.__version__} DBSCAN(eps={args.distance}, "
          f"min_samples={args.min_faces}, metric='euclidean')")
    golden = golden_faces(args.golden)
    ok = True
    with tempfile.TemporaryDirectory() as directory:
        for distance, min_faces in [(args.distance, args.min_faces), (0.6, 2), (0.4, 4)]:
            good, grouping = check("golden", golden, args.tool, directory, distance, min_faces)
            ok &= good
            precision, recall, named = pairwise_quality(golden, grouping)
            print(f"  distance {distance}, min faces {min_faces}: pairwise precision {precision:.3f}, "
                  f"recall {recall:.3f} over {named} named faces")
        good, _ = check("generated", generated_faces(args.generated), args.tool, directory,
                        args.distance, args.min_faces)
        ok &= good
        if args.sweep:
            path = os.path.join(directory, "golden.jsonl")
            print("distance  min_faces  precision  recall  people")
            for min_faces in (2, 3, 4):
                for distance in (0.35, 0.40, 0.45, 0.50, 0.55, 0.60):
                    grouping = run_tool(args.tool, path, distance, min_faces)
                    precision, recall, _ = pairwise_quality(golden, grouping)
                    people = len({g["person"] for g in grouping.values() if g["person"]})
                    print(f"{distance:8.2f}  {min_faces:9d}  {precision:9.3f}  {recall:6.3f}  {people:6d}")
    print("conformance-people-groups: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
