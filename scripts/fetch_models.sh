#!/usr/bin/env bash
# Puts the four dlib models into models/ from PyPI's face_recognition_models 0.3.0 (a source archive),
# each checked against models/SHA256SUMS. A no-op when models/ already verifies.
#     scripts/fetch_models.sh            models/ verified or fetched
#     scripts/fetch_models.sh --sdist    only make sure the archive is in .cache/downloads (prints its path)
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.3.0
downloads=.cache/downloads
sdist=$downloads/face_recognition_models-$version.tar.gz
names=(dlib_face_recognition_resnet_model_v1.dat shape_predictor_5_face_landmarks.dat
       shape_predictor_68_face_landmarks.dat mmod_human_face_detector.dat)

download() {
    [[ -f "$sdist" ]] && return 0
    scripts/venv.sh .venv-tools scripts/requirements-tools.txt
    echo "models: downloading face_recognition_models==$version from PyPI (about 100 MB)" >&2
    mkdir -p "$downloads"
    .venv-tools/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
        --no-binary :all: --dest "$downloads" "face_recognition_models==$version" >&2
    if [[ ! -f "$sdist" ]]; then
        echo "models: pip did not produce $sdist" >&2
        exit 1
    fi
}

if [[ "${1:-}" == --sdist ]]; then
    download
    echo "$sdist"
    exit 0
fi

if (cd models && sha256sum --quiet --check SHA256SUMS) >/dev/null 2>&1; then
    echo "models: all ${#names[@]} models in models/ match models/SHA256SUMS"
    exit 0
fi

download
work=models/.unpack
rm -rf "$work"
mkdir -p "$work"
members=()
for name in "${names[@]}"; do
    members+=("face_recognition_models-$version/face_recognition_models/models/$name")
done
tar -xzf "$sdist" -C "$work" --no-same-owner --strip-components=3 "${members[@]}"
if ! (cd "$work" && sha256sum --check ../SHA256SUMS); then
    rm -rf "$work" "$sdist"
    echo "models: CHECKSUM MISMATCH: the models in $sdist do not match models/SHA256SUMS;" \
         "removed the download, run make models again (if it persists, the archive on PyPI changed)" >&2
    exit 1
fi
for name in "${names[@]}"; do
    mv -f "$work/$name" "models/$name"
done
rm -rf "$work"
(cd models && sha256sum --quiet --check SHA256SUMS)
echo "models: unpacked and verified ${#names[@]} models into models/"
