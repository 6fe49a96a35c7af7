#!/usr/bin/env bash
# Makes the conformance test images in .cache/test-images (see scripts/make_test_images.py):
# the scikit-image wheel from PyPI for astronaut/camera/chelsea, variants made with a pinned Pillow.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.26.0
downloads=.cache/downloads
out=.cache/test-images

scripts/venv.sh .venv-tools scripts/requirements-tools.txt
wheel=$(ls "$downloads"/scikit_image-"$version"-*.whl 2>/dev/null | head -n 1 || true)
if [[ -z "$wheel" ]]; then
    echo "test-images: downloading the scikit-image $version wheel from PyPI (about 14 MB)"
    mkdir -p "$downloads"
    .venv-tools/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary :all: --dest "$downloads" "scikit-image==$version"
    wheel=$(ls "$downloads"/scikit_image-"$version"-*.whl 2>/dev/null | head -n 1 || true)
    if [[ -z "$wheel" ]]; then
        echo "test-images: pip did not produce a scikit-image $version wheel in $downloads" >&2
        exit 1
    fi
fi
.venv-tools/bin/python scripts/make_test_images.py --wheel "$wheel" --out "$out"
