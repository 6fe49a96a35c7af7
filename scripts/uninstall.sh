#!/usr/bin/env bash
# Removes what scripts/install.sh added, as listed in its manifest PREFIX/share/facewatch/installed-files.
# `make uninstall` runs it; settings from the environment, as for install:
#     PREFIX=/usr/local DESTDIR= scripts/uninstall.sh
#
# Removes the binary, the unit, the sysusers.d and tmpfiles.d files, the models, the docs, a
# facewatch.conf.new, the manifest, and the directories install created once they are empty. The
# config file goes only when it is byte for byte what install wrote; an edited one stays. The data
# (/var/lib/facewatch: inbox, store, results, the ledger) and the facewatch user and group stay:
# they are the administrator's to delete. On the running system (no DESTDIR, as root, systemd
# running) the service is first stopped and disabled, and systemd reloaded afterwards.
set -euo pipefail

say() { echo "uninstall: $*"; }
die() { echo "uninstall: $*" >&2; exit 1; }

strip_slash() { local path=$1; while [[ $path == */ && $path != / ]]; do path=${path%/}; done; echo "$path"; }
PREFIX=$(strip_slash "${PREFIX:-/usr/local}")
DESTDIR=${DESTDIR:-}
[[ $PREFIX == /* ]] || die "PREFIX must be an absolute path, not '$PREFIX'"
if [[ -n $DESTDIR ]]; then
    DESTDIR=$(realpath -m -- "$DESTDIR")
    [[ $DESTDIR != / ]] || DESTDIR=
fi
manifest=$PREFIX/share/facewatch/installed-files
data=/var/lib/facewatch

if [[ ! -f $DESTDIR$manifest ]]; then
    say "nothing to remove: no $DESTDIR$manifest (facewatch is not installed with PREFIX=$PREFIX)"
    exit 0
fi
directory=$(dirname "$DESTDIR$manifest")
if [[ ! -w $directory ]]; then
    die "cannot write to $directory: run as root (sudo make uninstall)"
fi

files=() dirs=() configs=()
while IFS= read -r line; do
    case $line in
        "file "*) files+=("${line#file }") ;;
        "dir "*) dirs+=("${line#dir }") ;;
        "config "*) configs+=("${line#config }") ;;  # SHA256 PATH
        "#"* | "") ;;
        *) die "$DESTDIR$manifest: unexpected line: $line" ;;
    esac
done < "$DESTDIR$manifest"

live=false
if [[ -z $DESTDIR && $EUID -eq 0 && -d /run/systemd/system ]]; then
    live=true
    if systemctl is-enabled --quiet facewatch.service 2>/dev/null || systemctl is-active --quiet facewatch.service; then
        say "systemctl disable --now facewatch"
        systemctl disable --now facewatch.service
    fi
fi

removed=0
for path in "${files[@]}"; do
    if [[ -e $DESTDIR$path || -L $DESTDIR$path ]]; then
        rm -f -- "$DESTDIR$path"
        removed=$((removed + 1))
    fi
done
for item in "${configs[@]}"; do
    sum=${item%% *} path=${item#* }
    [[ -f $DESTDIR$path ]] || continue
    if [[ $(sha256sum < "$DESTDIR$path" | cut -d' ' -f1) == "$sum" ]]; then
        rm -f -- "$DESTDIR$path"
        removed=$((removed + 1))
    else
        say "kept $DESTDIR$path: it was edited after install (delete it yourself if it is no longer wanted)"
    fi
done
rm -f -- "$DESTDIR$manifest"
say "removed $removed files and the manifest"

# Deepest directories first; only the empty ones go.
while IFS= read -r path; do
    [[ -n $path && -d $DESTDIR$path ]] || continue
    # Shared directories (/usr/lib/sysusers.d) are left quietly when other files are in them.
    if ! rmdir -- "$DESTDIR$path" 2>/dev/null && [[ $path == *facewatch* ]]; then
        say "kept $DESTDIR$path: not empty"
    fi
done < <(for path in "${dirs[@]}"; do
             slashes=${path//[^\/]/}
             echo "${#slashes} $path"
         done | sort -rn -k1,1 | cut -d' ' -f2-)

if $live; then
    say "systemctl daemon-reload"
    systemctl daemon-reload
fi
if [[ -d $DESTDIR$data ]]; then
    say "left the data in $DESTDIR$data alone (inbox, store, results, ledger); to delete it: rm -rf $DESTDIR$data"
else
    say "no data directory $DESTDIR$data to keep"
fi
if [[ -z $DESTDIR ]] && getent passwd facewatch >/dev/null 2>&1; then
    say "left the facewatch user and group; to delete them: userdel facewatch (then groupdel facewatch, if the group is left)"
fi
