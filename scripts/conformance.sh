#!/usr/bin/env bash
# Runs face_recognition (scripts/reference_encode.py) and `facewatch encode` on the same folder and
# compares their results (scripts/compare_results.py): same faces, identical boxes, encodings within
# 1e-5, the right error codes.
#     scripts/conformance.sh DIR FACEWATCH_BINARY [REFERENCE_JSONL] [DETECTOR]
# With REFERENCE_JSONL (may be empty), that file is the reference instead of a live face_recognition
# run. DETECTOR is facewatch's --detector (hog, dlib-hog, cnn, dlib-cnn; default hog); face_recognition
# runs with model="cnn" for the CNN ones, "hog" for the others. Results go to
# .cache/conformance/<folder name>/ (<folder name>-<detector> for a detector other than hog). Exit
# status 0 only when everything matches.
set -euo pipefail
cd "$(dirname "$0")/.."

if (($# < 2)) || [[ -z "$1" ]]; then
    echo "usage: make conformance DIR=folder [REFERENCE=reference.jsonl] [DETECTOR=hog|dlib-hog|cnn|dlib-cnn]" >&2
    exit 2
fi
dir=$1 binary=$2 reference=${3:-} detector=${4:-hog}
case "$detector" in
    hog | dlib-hog) model=hog ;;
    cnn | dlib-cnn) model=cnn ;;
    *)
        echo "conformance: unknown detector $detector (hog, dlib-hog, cnn or dlib-cnn)" >&2
        exit 2
        ;;
esac
if [[ ! -d "$dir" ]]; then
    echo "conformance: $dir is not a folder" >&2
    exit 2
fi
if [[ ! -x "$binary" ]]; then
    echo "conformance: $binary is missing; run make build" >&2
    exit 2
fi
out=.cache/conformance/$(basename "$(cd "$dir" && pwd)")
if [[ "$detector" != hog ]]; then out=$out-$detector; fi
mkdir -p "$out"

if [[ -n "$reference" ]]; then
    [[ -f "$reference" ]] || { echo "conformance: no such reference file: $reference" >&2; exit 2; }
    echo "conformance: reference from $reference (not recomputed)"
    if [[ ! "$reference" -ef "$out/reference.jsonl" ]]; then
        cp "$reference" "$out/reference.jsonl"
    fi
else
    echo "conformance: face_recognition 1.3.0 (model=\"$model\") on $dir ..."
    start=$SECONDS
    "${REFERENCE_PYTHON:-.venv-reference-formats/bin/python}" scripts/reference_encode.py "$dir" --detector "$model" --out "$out/reference.jsonl"
    echo "conformance: face_recognition done in $((SECONDS - start)) s"
fi

echo "conformance: facewatch encode --detector $detector on $dir ..."
start=$SECONDS
status=0
"$binary" encode --detector "$detector" "$dir" >"$out/facewatch.jsonl" 2>"$out/facewatch.stderr" || status=$?
echo "conformance: facewatch done in $((SECONDS - start)) s (exit status $status)"
if ((status > 1)); then
    echo "conformance: facewatch encode failed with status $status:" >&2
    tail -n 20 "$out/facewatch.stderr" >&2
    exit 1
fi

echo "conformance: comparing $out/reference.jsonl with $out/facewatch.jsonl"
python3 scripts/compare_results.py "$out/reference.jsonl" "$out/facewatch.jsonl"
