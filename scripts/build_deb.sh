#!/usr/bin/env bash
# Builds the two Debian packages from the tree that `make install PREFIX=/usr DESTDIR=WORK/debian/facewatch`
# staged (`make deb` stages it, then runs this):
#     scripts/build_deb.sh WORK OUTDIR
#   OUTDIR/facewatch_<VERSION>_amd64.deb          the binary, unit, sysusers/tmpfiles files, config
#                                                 (a conffile), docs, man page, bash/zsh/fish
#                                                 completions, maintainer scripts
#   OUTDIR/facewatch-models_<0.3.0>_all.deb       the four dlib models and SHA256SUMS, in
#                                                 /usr/share/facewatch/models; versioned by
#                                                 face_recognition_models (scripts/fetch_models.sh)
# The version is the VERSION file's; the binary must print it for `--version`. Depends: comes from
# dpkg-shlibdeps on the binary, plus the models package and systemd's sysusers. The models package is
# rebuilt only when its content changes: compressing 130 MB of models takes a minute.
set -euo pipefail
umask 022

repo=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "deb: $*"; }
die() { echo "deb: $*" >&2; exit 1; }

(($# == 2)) || die "usage: scripts/build_deb.sh WORK OUTDIR"
work=$(realpath -- "$1")
out=$(realpath -m -- "$2")
main=$work/debian/facewatch
models=$work/debian/facewatch-models
binary=$main/usr/bin/facewatch

version=$(tr -d '[:space:]' < "$repo/VERSION")
[[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "VERSION holds '$version', not a Debian upstream version"
models_version=$(sed -n 's/^version=//p' "$repo/scripts/fetch_models.sh")
[[ -n $models_version ]] || die "no version= line in scripts/fetch_models.sh"
maintainer=$(< "$repo/packaging/maintainer")
[[ -x $binary ]] || die "nothing staged: no $binary"

# --- The binary: the version, no toolchain, stripped with its build ID ------------------------------

printed=$(env -i "$binary" --version) || die "$binary --version failed"
if [[ $printed != "$version" ]]; then
    die "the binary prints version '$printed' but VERSION says '$version':" \
        "set FacewatchVersion.current in Sources/FaceCore/FacewatchVersion.swift to \"$version\""
fi
if toolchain=$(ldd "$binary" | grep -E '/opt/swift|libswift|libFoundation|libdispatch|libBlocksRuntime|_FoundationICU'); then
    die "the binary loads Swift libraries (build it with --static-swift-stdlib): $toolchain"
fi
readelf -n "$binary" | grep -q 'Build ID:' || die "the binary has no build ID (link with --build-id)"
if readelf -S "$binary" | grep -q '\.symtab'; then
    die "the binary is not stripped"
fi

# --- Splitting the staged tree ----------------------------------------------------------------------

rm -rf "$models" "$main/DEBIAN" "$models/DEBIAN"
mkdir -p "$models/usr/share/facewatch"
mv "$main/usr/share/facewatch/models" "$models/usr/share/facewatch/models"
rm -f "$main/usr/share/facewatch/installed-files"  # make uninstall's list: dpkg keeps its own
rmdir "$main/usr/share/facewatch"

# --- Documentation: copyright, changelog, man page ---------------------------------------------------

# Dates from the last commit that changed what a package holds, so the same tree gives the same
# package (and the models package stays the same across facewatch commits).
last_change() {  # last_change PATH...: the commit time, else VERSION's modification time
    local time
    time=$(git -C "$repo" log -1 --format=%ct -- "$@" 2>/dev/null || true)
    echo "${time:-$(stat -c %Y "$repo/VERSION")}"
}
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
    SOURCE_DATE_EPOCH=$(last_change .)
fi
export SOURCE_DATE_EPOCH
models_epoch=$(last_change models/SHA256SUMS scripts/fetch_models.sh packaging/facewatch-models.control.in \
                           packaging/facewatch-models.copyright)

write_changelog() {  # write_changelog PACKAGE VERSION EPOCH TEXT ROOT
    local doc=$5/usr/share/doc/$1
    mkdir -p "$doc"
    printf '%s (%s) unstable; urgency=medium\n\n  * %s\n\n -- %s  %s\n' \
        "$1" "$2" "$4" "$maintainer" "$(LC_ALL=C date -u -R -d "@$3")" | gzip -9n > "$doc/changelog.gz"
}
write_changelog facewatch "$version" "$SOURCE_DATE_EPOCH" \
    "Release $version; the changes are in the project's git history." "$main"
write_changelog facewatch-models "$models_version" "$models_epoch" \
    "The four dlib models of face_recognition_models $models_version." "$models"
install -m 0644 "$repo/packaging/facewatch.copyright" "$main/usr/share/doc/facewatch/copyright"
install -m 0644 "$repo/packaging/facewatch-models.copyright" "$models/usr/share/doc/facewatch-models/copyright"

# The man page (usr/share/man/man1/facewatch.1.gz) and the shell completions were staged by
# `make install`: generate-manual on the binary's own help, so they cannot drift from it.
[[ -f $main/usr/share/man/man1/facewatch.1.gz ]] || die "make install staged no man page"

# --- Control files ------------------------------------------------------------------------------------

# dpkg-shlibdeps needs a debian/control naming the package; WORK/debian/facewatch is its tree.
install -m 0644 "$repo/packaging/shlibdeps.control" "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O debian/facewatch/usr/bin/facewatch 2>"$work/shlibdeps.log") || {
    cat "$work/shlibdeps.log" >&2
    die "dpkg-shlibdeps failed"
}
shlibs=${shlibs#shlibs:Depends=}
[[ $shlibs == *libdlib* ]] || die "dpkg-shlibdeps found no dlib in: $shlibs"
for library in libwebp7 libwebpdemux2 libheif1 libavif15; do  # the image decoders (docs/formats.md)
    [[ $shlibs == *"$library "* || $shlibs == *"$library," ]] || die "dpkg-shlibdeps found no $library in: $shlibs"
done
depends="$shlibs, facewatch-models (>= $models_version), systemd | systemd-standalone-sysusers | systemd-sysusers"

write_control() {  # write_control ROOT TEMPLATE VERSION DEPENDS
    local root=$1 size control
    mkdir -p "$root/DEBIAN"
    find "$root" -type d -exec chmod 0755 {} +
    size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
    control=$(< "$repo/packaging/$2")
    control=${control//@VERSION@/$3}
    control=${control//@MAINTAINER@/$maintainer}
    control=${control//@INSTALLED_SIZE@/$size}
    control=${control//@DEPENDS@/$4}
    printf '%s\n' "$control" > "$root/DEBIAN/control"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 md5sum) > "$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
}

write_control "$main" facewatch.control.in "$version" "$depends"
echo /etc/facewatch/facewatch.conf > "$main/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$repo/packaging/facewatch.$script" "$main/DEBIAN/$script"
done
write_control "$models" facewatch-models.control.in "$models_version" ""

# --- Building ---------------------------------------------------------------------------------------

mkdir -p "$out"
deb=$out/facewatch_${version}_amd64.deb
models_deb=$out/facewatch-models_${models_version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$main" "$deb.tmp" >/dev/null
mv -f "$deb.tmp" "$deb"
say "built $deb ($(du -h "$deb" | cut -f1)); Depends: $depends"

stamp=$out/.facewatch-models.content
(cd "$models" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum) > "$work/models.content"
if [[ -f $models_deb && -f $stamp ]] && cmp -s "$work/models.content" "$stamp"; then
    say "kept $models_deb: its content is unchanged"
else
    dpkg-deb --root-owner-group -Zgzip --build "$models" "$models_deb.tmp" >/dev/null
    mv -f "$models_deb.tmp" "$models_deb"
    cp "$work/models.content" "$stamp"
    say "built $models_deb ($(du -h "$models_deb" | cut -f1))"
fi
