#!/usr/bin/env bash
# Installs the Debian packages facewatch builds against (and the ones its setup scripts use).
# A no-op when all are installed. As root it runs apt-get; otherwise it prints the command and fails.
# `make fuzz` also needs clang-14 and libclang-rt-14-dev; `make test` does not, so they are not
# installed here (scripts/fuzz.sh prints the apt-get line when they are missing).
set -euo pipefail

packages=(
    libdlib-dev libjpeg-dev libpng-dev liblmdb-dev lmdb-utils   # dlib, image codecs, LMDB
    libwebp-dev libheif-dev libavif-dev                         # WebP, HEIF/HEIC (libde265), AVIF (dav1d)
    libopenblas-dev liblapack-dev                               # named by dlib's pkg-config file
    libssl-dev                                                  # SHA-256 (libcrypto)
    postgresql                                                  # the PostgreSQL ledger's tests (a throwaway cluster)
    pkg-config python3 python3-venv                             # the setup scripts' virtualenvs
    systemd inotify-tools                                       # unit checks (systemd-analyze), examples
    dpkg-dev binutils lintian                                   # make deb (dpkg-deb, dpkg-shlibdeps, strip), its test
    debootstrap                                                 # make deb-check
    chromium                                                    # the report test (headless)
    zsh fish                                                    # the completion tests (bash is there)
)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system (no dpkg-query); install the equivalents of: ${packages[*]}" >&2
    exit 0
fi

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
    echo "deps: all ${#packages[@]} Debian packages are installed"
    exit 0
fi

echo "deps: missing Debian packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "deps: not root, so not installing; run this, then make again:" >&2
    echo "    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "${missing[@]}"
echo "deps: installed ${missing[*]}"
