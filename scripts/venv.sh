#!/usr/bin/env bash
# Creates (or reuses) a Python virtualenv holding exactly the pinned packages of a requirements file.
#     scripts/venv.sh [--check] DIR REQUIREMENTS [EXTRA_PIP_ARGUMENT...]
# --check: exit 0 when the virtualenv is ready, 1 when it would be (re)built; change nothing.
# Packages are installed with --no-deps: the requirements file lists every package, pinned.
# DIR/.stamp records what was installed; the venv is rebuilt when that changes.
set -euo pipefail

check=false
if [[ "${1:-}" == --check ]]; then
    check=true
    shift
fi
if (($# < 2)); then
    echo "usage: scripts/venv.sh [--check] DIR REQUIREMENTS [EXTRA_PIP_ARGUMENT...]" >&2
    exit 2
fi
dir=$1 requirements=$2
shift 2
python=${PYTHON:-python3}

wanted=$(cat "$requirements"; printf 'extra: %s\n' "$*")
if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$wanted" && -x "$dir/bin/python" ]]; then
    exit 0
fi
if $check; then
    exit 1
fi

echo "venv: creating $dir from $requirements"
rm -rf "$dir"
if ! "$python" -m venv "$dir"; then
    rm -rf "$dir"
    echo "venv: '$python -m venv' failed; on Debian install python3-venv (make deps)" >&2
    exit 1
fi
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$requirements" "$@"
printf '%s' "$wanted" >"$dir/.stamp"
echo "venv: $dir is ready"
