#!/usr/bin/env bash
# Installs facewatch as a service. `make install` runs it; its settings come from the environment:
#     BIN=.build-release/release/facewatch PREFIX=/usr/local SYSCONFDIR=/etc DESTDIR= scripts/install.sh
#
# What goes where (each path under $DESTDIR when it is set, for staging a package):
#   PREFIX/bin/facewatch                      the binary (BIN), 0755
#   UNITDIR/facewatch.service                 systemd/facewatch.service with the binary, docs and config
#                                             paths rewritten to PREFIX and SYSCONFDIR
#   SYSUSERSDIR/facewatch.conf                systemd/facewatch.sysusers: the facewatch user and group
#   TMPFILESDIR/facewatch.conf                systemd/facewatch.tmpfiles: /var/lib/facewatch and below
#   PREFIX/share/facewatch/models/            the four dlib models and SHA256SUMS, 0644
#   PREFIX/share/doc/facewatch/               README.md, docs/ (the pages it links to) and examples/
#   PREFIX/share/man/man1/facewatch.1.gz      the man page, made from the binary's own help by
#                                             swift-argument-parser's generate-manual (GENERATE_MANUAL)
#   bash, zsh and fish completions            from `facewatch --generate-completion-script SHELL`:
#                                             PREFIX/share/bash-completion/completions/facewatch,
#                                             PREFIX/share/fish/vendor_completions.d/facewatch.fish,
#                                             and _facewatch in /usr/share/zsh/vendor-completions
#                                             (PREFIX=/usr, Debian's place) else PREFIX/share/zsh/site-functions
#   SYSCONFDIR/facewatch/facewatch.conf       examples/facewatch.conf, commented defaults; NEVER
#                                             overwritten: when it exists and differs, the shipped one
#                                             goes next to it as facewatch.conf.new
#   PREFIX/share/facewatch/installed-files    the manifest: every file and directory added, which
#                                             scripts/uninstall.sh removes (the config only if unedited)
#
# systemd reads units, sysusers.d and tmpfiles.d from /etc, /usr/local/lib and /usr/lib, so with
# PREFIX=/usr or /usr/local the three files go to PREFIX/lib/{systemd/system,sysusers.d,tmpfiles.d},
# where packages and `make install` belong. Under any other PREFIX (/opt/facewatch) systemd would not
# find them, so they go to the administrator's directories /etc/{systemd/system,sysusers.d,tmpfiles.d}.
# UNITDIR, SYSUSERSDIR and TMPFILESDIR override the choice.
#
# Installing into the running system (no DESTDIR, as root, systemd running) also runs
# systemd-sysusers, systemd-tmpfiles --create and systemctl daemon-reload, then says how to start the
# service. Otherwise it prints the commands to run. A file whose installed copy is already identical
# is left alone, so a second run changes nothing.
set -euo pipefail
umask 022

repo=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

# --- Settings ---------------------------------------------------------------------------------------

strip_slash() { local path=$1; while [[ $path == */ && $path != / ]]; do path=${path%/}; done; echo "$path"; }
PREFIX=$(strip_slash "${PREFIX:-/usr/local}")
SYSCONFDIR=$(strip_slash "${SYSCONFDIR:-/etc}")
DESTDIR=${DESTDIR:-}
BIN=${BIN:-$repo/.build-release/release/facewatch}
GENERATE_MANUAL=${GENERATE_MANUAL:-$repo/.build/debug/generate-manual}
for name in PREFIX SYSCONFDIR; do
    [[ ${!name} == /* ]] || die "$name must be an absolute path, not '${!name}'"
    [[ ${!name} != *$'\n'* ]] || die "$name must not contain a newline"
done
if [[ -n $DESTDIR ]]; then
    DESTDIR=$(realpath -m -- "$DESTDIR")
    [[ $DESTDIR != / ]] || DESTDIR=
fi
case $PREFIX in
    /usr | /usr/local) systemd_base=$PREFIX/lib ;;
    *) systemd_base=/etc ;;
esac
UNITDIR=$(strip_slash "${UNITDIR:-$systemd_base/systemd/system}")
SYSUSERSDIR=$(strip_slash "${SYSUSERSDIR:-$systemd_base/sysusers.d}")
TMPFILESDIR=$(strip_slash "${TMPFILESDIR:-$systemd_base/tmpfiles.d}")

binary=$PREFIX/bin/facewatch
unit=$UNITDIR/facewatch.service
sysusers=$SYSUSERSDIR/facewatch.conf
tmpfiles=$TMPFILESDIR/facewatch.conf
share=$PREFIX/share/facewatch
models=$share/models
docs=$PREFIX/share/doc/facewatch
config=$SYSCONFDIR/facewatch/facewatch.conf
manifest=$share/installed-files
manual=$PREFIX/share/man/man1/facewatch.1.gz
bash_completion=$PREFIX/share/bash-completion/completions/facewatch
fish_completion=$PREFIX/share/fish/vendor_completions.d/facewatch.fish
if [[ $PREFIX == /usr ]]; then
    zsh_completion=/usr/share/zsh/vendor-completions/_facewatch
else
    zsh_completion=$PREFIX/share/zsh/site-functions/_facewatch
fi
model_files=(dlib_face_recognition_resnet_model_v1.dat shape_predictor_5_face_landmarks.dat
             shape_predictor_68_face_landmarks.dat mmod_human_face_detector.dat)

# --- Checks before touching anything ------------------------------------------------------------------

[[ -f $BIN && -x $BIN ]] || die "no facewatch binary at $BIN: run make build (or give BIN=path)"
[[ -f $GENERATE_MANUAL && -x $GENERATE_MANUAL ]] ||
    die "no generate-manual at $GENERATE_MANUAL: make install builds it (swift build --product generate-manual)"
for name in "${model_files[@]}"; do
    [[ -f $repo/models/$name ]] || die "models/$name is missing: run make models"
done
for source in systemd/facewatch.service systemd/facewatch.sysusers systemd/facewatch.tmpfiles \
              examples/facewatch.conf README.md models/SHA256SUMS; do
    [[ -f $repo/$source ]] || die "$source is missing from $repo"
done

# The nearest existing directory of each destination must be writable.
for target in "$binary" "$unit" "$sysusers" "$tmpfiles" "$models/x" "$docs/x" "$config" "$manual" \
              "$bash_completion" "$fish_completion" "$zsh_completion"; do
    directory=$(dirname "$DESTDIR$target")
    while [[ ! -e $directory ]]; do directory=$(dirname "$directory"); done
    if [[ ! -w $directory ]]; then
        die "cannot write to $directory: run as root (sudo make install), or stage into DESTDIR=dir"
    fi
done

# --- The manifest -------------------------------------------------------------------------------------
# One line per thing added, paths as on the target system (without DESTDIR):
#   dir PATH            a directory install created (removed by uninstall when empty)
#   file PATH           a file install wrote
#   config SHA256 PATH  the config file, with the checksum of the content install wrote
# A new install keeps the entries of the previous one: what it added is still there.

declare -A entry=()
order=()
record() {  # record KIND PATH
    [[ -v entry[$2] ]] || order+=("$2")
    entry[$2]=$1
}
if [[ -f $DESTDIR$manifest ]]; then
    while IFS= read -r line; do
        case $line in
            "dir "* | "file "*) record "${line%% *}" "${line#* }" ;;
            "config "*) rest=${line#config }; record "config ${rest%% *}" "${rest#* }" ;;
        esac
    done < "$DESTDIR$manifest"
fi

write_manifest() {
    [[ -d $DESTDIR$share ]] || return 0
    {
        echo "# facewatch: what \`make install\` added (paths without DESTDIR); \`make uninstall\` reads this."
        for path in "${order[@]}"; do echo "${entry[$path]} $path"; done
    } > "$DESTDIR$manifest.tmp" && mv -f "$DESTDIR$manifest.tmp" "$DESTDIR$manifest"
}

scratch=$(mktemp -d)
finish() {
    local status=$?
    rm -rf "$scratch"
    # Even after a failure, the manifest lists what was added so far, so uninstall can remove it.
    write_manifest || echo "install: could not write $DESTDIR$manifest" >&2
    return $status
}
trap finish EXIT

# --- Installing -------------------------------------------------------------------------------------

ensure_dir() {  # ensure_dir PATH: creates PATH and its missing parents (0755), recording each
    local path=$1
    [[ -d $DESTDIR$path ]] && return 0
    if [[ $path == / ]]; then
        mkdir -p "$DESTDIR"  # the staging directory itself: not facewatch's to remove
        return 0
    fi
    ensure_dir "$(dirname "$path")"
    mkdir -m 0755 "$DESTDIR$path"
    record dir "$path"
}

changed=()
put() {  # put SOURCE PATH MODE: installs a file unless an identical copy is there
    local source=$1 path=$2 mode=$3
    ensure_dir "$(dirname "$path")"
    if [[ -f $DESTDIR$path ]] && cmp -s "$source" "$DESTDIR$path"; then
        chmod "$mode" "$DESTDIR$path"
    else
        # install(1) unlinks the old file first: a running daemon keeps its binary.
        install -m "$mode" "$source" "$DESTDIR$path"
        changed+=("$path")
    fi
    record file "$path"
}

# sed replacement text: \, | and & are special.
escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
p=$(escape "$PREFIX")
c=$(escape "$SYSCONFDIR")

say "installing into ${DESTDIR:-/} with PREFIX=$PREFIX SYSCONFDIR=$SYSCONFDIR"
ensure_dir "$share"  # first: the manifest lives there, and records even a failed install

put "$BIN" "$binary" 0755

# The unit as shipped names /usr/local/bin/facewatch and /etc/facewatch/facewatch.conf.
sed -e "s|/usr/local/bin/facewatch|$p/bin/facewatch|g" \
    -e "s|/usr/local/share/doc/facewatch|$p/share/doc/facewatch|g" \
    -e "s|/etc/facewatch/|$c/facewatch/|g" \
    "$repo/systemd/facewatch.service" > "$scratch/facewatch.service"
exec_start=$(grep '^ExecStart=' "$scratch/facewatch.service" || true)
if [[ $exec_start != "ExecStart=$binary "*"--config $config"* ]]; then
    die "systemd/facewatch.service: ExecStart= does not name $binary and $config after rewriting: '$exec_start'"
fi
put "$scratch/facewatch.service" "$unit" 0644
put "$repo/systemd/facewatch.sysusers" "$sysusers" 0644
put "$repo/systemd/facewatch.tmpfiles" "$tmpfiles" 0644

for name in "${model_files[@]}" SHA256SUMS; do
    put "$repo/models/$name" "$models/$name" 0644
done
if ! (cd "$DESTDIR$models" && sha256sum --quiet --check SHA256SUMS); then
    die "the models installed in $DESTDIR$models do not match SHA256SUMS: run make models, then install again"
fi

put "$repo/README.md" "$docs/README.md" 0644
# The pages the README links to (docs/…), so its links work in the installed copy too.
for source in "$repo"/docs/*; do
    name=$(basename "$source")
    [[ -f $source && $name != *~ && $name != .* ]] || continue
    put "$source" "$docs/docs/$name" 0644
done
for source in "$repo"/examples/*; do
    name=$(basename "$source")
    [[ -f $source && $name != *~ && $name != .* ]] || continue
    if [[ -x $source ]]; then mode=0755; else mode=0644; fi
    put "$source" "$docs/examples/$name" "$mode"
done

# The man page: the binary's own help (every command, option and discussion) through
# swift-argument-parser's generate-manual, dated by the last commit so that the same tree gives the
# same page. generate-manual keeps a blank line of a discussion as an empty input line, which mdoc
# warns about: each becomes a paragraph break (.Pp).
manual_date=$(git -C "$repo" log -1 --format=%cs 2>/dev/null || true)
mkdir "$scratch/manual"
"$GENERATE_MANUAL" "$BIN" --date "${manual_date:-$(date -u +%F)}" --output-directory "$scratch/manual" >/dev/null ||
    die "generate-manual failed on $BIN"
sed -e 's/^$/.Pp/' "$scratch/manual/facewatch.1" | gzip -9n > "$scratch/facewatch.1.gz"
put "$scratch/facewatch.1.gz" "$manual" 0644

# Shell completions, from the binary itself.
# A completion is sourced, not run: the bash script's #!/bin/bash line goes (lintian warns about it).
for shell in bash zsh fish; do
    env -i "$BIN" --generate-completion-script "$shell" > "$scratch/completion.$shell.raw" ||
        die "$BIN --generate-completion-script $shell failed"
    sed -e '1{/^#!/d}' "$scratch/completion.$shell.raw" > "$scratch/completion.$shell"
done
put "$scratch/completion.bash" "$bash_completion" 0644
put "$scratch/completion.zsh" "$zsh_completion" 0644
put "$scratch/completion.fish" "$fish_completion" 0644

# The config: commented defaults, with the models line naming this PREFIX. Never overwritten.
sed -e "s|/etc/facewatch/|$c/facewatch/|g" \
    -e "s|^#models = /usr/local/share/facewatch/models\$|#models = $p/share/facewatch/models|" \
    "$repo/examples/facewatch.conf" > "$scratch/facewatch.conf"
shipped_sum=$(sha256sum < "$scratch/facewatch.conf" | cut -d' ' -f1)
ensure_dir "$(dirname "$config")"
if [[ ! -e $DESTDIR$config ]]; then
    install -m 0644 "$scratch/facewatch.conf" "$DESTDIR$config"
    record "config $shipped_sum" "$config"
    changed+=("$config")
    say "wrote $DESTDIR$config (every setting commented out, with its default)"
elif cmp -s "$scratch/facewatch.conf" "$DESTDIR$config"; then
    say "kept $DESTDIR$config: the same as the shipped one"
else
    put "$scratch/facewatch.conf" "$config.new" 0644
    say "kept your $DESTDIR$config; the shipped defaults are in $DESTDIR$config.new" \
        "(compare: diff -u $DESTDIR$config $DESTDIR$config.new)"
fi

if ((${#changed[@]} == 0)); then
    say "everything was already installed and identical"
else
    say "files installed or updated: ${#changed[@]}; every installed path is listed in $DESTDIR$manifest"
fi

# The release binary may use the Swift runtime of the toolchain that built it.
runtime=$(ldd "$BIN" 2>/dev/null | awk '$1 == "libswiftCore.so" { print $3 }')
case $runtime in
    "" | /usr/lib/* | /lib/*) ;;
    /home/* | /root/* | /run/user/*)
        say "WARNING: facewatch loads the Swift runtime from $(dirname "$runtime"), which the service" \
            "cannot read (ProtectHome=yes): use a toolchain installed outside /home and /root, then install again" ;;
    *) say "note: facewatch loads the Swift runtime from $(dirname "$runtime"): keep that toolchain installed" ;;
esac

# --- Activating -------------------------------------------------------------------------------------

if [[ -z $DESTDIR && $EUID -eq 0 && -d /run/systemd/system ]]; then
    say "systemd-sysusers $sysusers"
    systemd-sysusers "$sysusers"
    say "systemd-tmpfiles --create $tmpfiles"
    systemd-tmpfiles --create "$tmpfiles"
    say "systemctl daemon-reload"
    systemctl daemon-reload
    if systemctl is-active --quiet facewatch.service; then
        if ((${#changed[@]} > 0)); then
            say "facewatch is running the old version: systemctl restart facewatch"
        fi
    else
        say "next: systemctl enable --now facewatch"
    fi
else
    if [[ -n $DESTDIR ]]; then
        say "staged in $DESTDIR; on the target system, as root, run:"
    else
        say "to finish (as root, on a system running systemd), run:"
    fi
    echo "    systemd-sysusers $sysusers"
    echo "    systemd-tmpfiles --create $tmpfiles"
    echo "    systemctl daemon-reload"
    echo "    systemctl enable --now facewatch"
fi
