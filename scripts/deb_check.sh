#!/usr/bin/env bash
# make deb-check: the packages `make deb` built, installed with apt into a fresh Debian 12 root made by
# debootstrap, then used and removed the way an administrator would:
#   1. debootstrap bookworm (minbase) into ROOT; apt installs facewatch-models and facewatch, pulling
#      dlib, BLAS, libjpeg, libpng, LMDB and systemd from Debian's mirror (no toolchain in there).
#   2. What the maintainer scripts did: the facewatch user (sysusers), /var/lib/facewatch with its
#      modes (tmpfiles), the service enabled (deb-systemd-helper), the conffile registered.
#   3. systemd is not PID 1 in a chroot, so the service's command runs by hand as the facewatch user:
#      `facewatch serve --config /etc/facewatch/facewatch.conf`; `facewatch submit` drops an image
#      with two faces; its results/<uuid>.json must match face_recognition's (the test fixture).
#   4. An edited conffile survives a reinstall (the upgrade path); `apt-get remove` keeps the config
#      and the data; `apt-get purge` deletes the config, keeps the data and the user, and says so.
# Owners are looked up inside the root (its facewatch user's id is not the host's). Run as root. Settings (make passes them): DEB, MODELS_DEB, ROOT (deleted first and afterwards, unless
# KEEP_ROOT=1), IMAGES (the test images), MIRROR, CACHE (debootstrap's downloads, kept for reruns).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
: "${DEB:?}" "${MODELS_DEB:?}" "${ROOT:?}" "${IMAGES:?}"
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=${CACHE:-/var/tmp/facewatch-deb-check-cache}
KEEP_ROOT=${KEEP_ROOT:-0}
version=$(tr -d '[:space:]' < "$repo/VERSION")
image_name=two_faces.png
fixture=$repo/Tests/FaceEncodingTests/Fixtures/conformance.jsonl

started=$(date +%s)
step() { echo "deb-check [$(($(date +%s) - started)) s]: $*"; }
die() { echo "deb-check: FAILED: $*" >&2; exit 1; }
check() {  # check DESCRIPTION COMMAND...: runs the command, fails with the description unless it succeeds
    local description=$1
    shift
    if "$@"; then echo "    ok: $description"; else die "$description"; fi
}

[[ $EUID -eq 0 ]] || die "run as root (debootstrap and chroot need it): sudo make deb-check"
command -v debootstrap >/dev/null || die "debootstrap is missing: make deps (or apt-get install debootstrap)"
[[ -f $DEB && -f $MODELS_DEB ]] || die "no packages: make deb"
[[ -f $IMAGES/$image_name ]] || die "no $IMAGES/$image_name: make test-images"
[[ $ROOT == /*/* && $ROOT != *' '* ]] || die "ROOT must be an absolute path two levels deep or more, not '$ROOT'"

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
daemon_pid=
cleanup() {
    local status=$?
    if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then kill -KILL "$daemon_pid" || true; fi
    if mountpoint -q "$ROOT/proc" 2>/dev/null; then umount "$ROOT/proc" || true; fi
    if [[ $KEEP_ROOT == 1 ]]; then
        echo "deb-check: the root stays in $ROOT (KEEP_ROOT=1)"
    elif [[ -d $ROOT ]] && ! mountpoint -q "$ROOT/proc" 2>/dev/null; then
        rm -rf --one-file-system "$ROOT"
    fi
    return $status
}
trap cleanup EXIT

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: polls the command until it succeeds
    local seconds=$1 description=$2 deadline
    shift 2
    deadline=$(($(date +%s) + seconds))
    until "$@"; do
        (($(date +%s) < deadline)) || die "no $description within $seconds s"
        sleep 0.2
    done
}

# --- 1. A fresh Debian 12, then the packages -------------------------------------------------------

step "debootstrap bookworm (minbase) into $ROOT from $MIRROR"
rm -rf --one-file-system "$ROOT"
mkdir -p "$ROOT" "$CACHE"
debootstrap --variant=minbase --cache-dir="$CACHE" bookworm "$ROOT" "$MIRROR" > "$ROOT.debootstrap.log" 2>&1 ||
    { tail -20 "$ROOT.debootstrap.log" >&2; die "debootstrap failed (log: $ROOT.debootstrap.log)"; }
rm -f "$ROOT.debootstrap.log"
mount -t proc proc "$ROOT/proc"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
check "no Swift toolchain in the new root" test ! -e "$ROOT/opt/swift"

step "apt-get install ./$(basename "$MODELS_DEB") ./$(basename "$DEB")"
cp "$DEB" "$MODELS_DEB" "$ROOT/tmp/"
cp "$IMAGES/$image_name" "$ROOT/tmp/$image_name"
chmod 0644 "$ROOT/tmp/$image_name"
in_root apt-get update -q > "$ROOT/tmp/apt.log" 2>&1 || { cat "$ROOT/tmp/apt.log" >&2; die "apt-get update"; }
if ! in_root DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "/tmp/$(basename "$MODELS_DEB")" "/tmp/$(basename "$DEB")" > "$ROOT/tmp/install.log" 2>&1; then
    tail -30 "$ROOT/tmp/install.log" >&2
    die "apt-get install"
fi
step "apt: $(grep -E 'newly installed' "$ROOT/tmp/install.log")"

# --- 2. What installing did ----------------------------------------------------------------------------

step "the installed system"
check "dpkg: facewatch $version installed" \
    test "$(in_root dpkg-query -W -f='${db:Status-Status} ${Version}' facewatch)" = "installed $version"
check "the binary runs without a toolchain: facewatch --version prints $version" \
    test "$(in_root /usr/bin/facewatch --version)" = "$version"
check "ldd: every library found, none from a Swift toolchain" \
    bash -c "! chroot '$ROOT' ldd /usr/bin/facewatch | grep -E 'not found|swift|libFoundation|libdispatch'"
passwd=$(in_root getent passwd facewatch) || die "no facewatch user"
check "sysusers: the facewatch user ($passwd)" \
    bash -c "[[ '$passwd' == facewatch:x:*:*:*:/var/lib/facewatch:/usr/sbin/nologin ]]"
for entry in "/var/lib/facewatch 755" "/var/lib/facewatch/inbox 3770" "/var/lib/facewatch/store 700" \
             "/var/lib/facewatch/results 750" "/var/lib/facewatch/db 700"; do
    path=${entry% *}
    mode=${entry#* }
    check "tmpfiles: $path $mode facewatch:facewatch" \
        test "$(in_root stat -c '%a %U:%G' "$path" 2>/dev/null)" = "$mode facewatch:facewatch"
done
wants=$ROOT/etc/systemd/system/multi-user.target.wants/facewatch.service
# deb-systemd-helper links to /lib/systemd/system when that path works (the /usr merge makes it one).
check "deb-systemd-helper enabled the service ($(readlink "$wants" 2>/dev/null || echo none))" \
    in_root test "$(readlink "$wants" 2>/dev/null)" -ef /usr/lib/systemd/system/facewatch.service
check "dpkg lists /etc/facewatch/facewatch.conf as a conffile" \
    bash -c "chroot '$ROOT' dpkg-query -W -f='\${Conffiles}' facewatch | grep -q '^ /etc/facewatch/facewatch.conf '"
check "the models package's files verify" \
    in_root sh -c 'cd /usr/share/facewatch/models && sha256sum --quiet --check SHA256SUMS'

# --- 3. The service's command, as the service's user ----------------------------------------------------

step "facewatch serve --config /etc/facewatch/facewatch.conf, as facewatch"
serve_log=$ROOT/tmp/serve.log
# What the unit would set: its user (above), UMask= and Environment=.
unit_umask=$(sed -n 's/^UMask=//p' "$ROOT/usr/lib/systemd/system/facewatch.service")
[[ -n $unit_umask ]] || die "no UMask= in the installed unit"
umask "$unit_umask"
chroot --userspec=facewatch:facewatch "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin OPENBLAS_NUM_THREADS=1 \
    /usr/bin/facewatch serve --config /etc/facewatch/facewatch.conf > "$serve_log" 2>&1 &
daemon_pid=$!
umask 022
serving() { kill -0 "$daemon_pid" 2>/dev/null || { cat "$serve_log" >&2; die "the daemon exited"; }; grep -q ' info ready ' "$serve_log"; }
wait_for 120 "ready line from the daemon" serving
echo "    $(grep -m1 ' info ready ' "$serve_log")"

submitted=$(chroot --userspec=facewatch:facewatch "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin \
    /usr/bin/facewatch submit --config /etc/facewatch/facewatch.conf "/tmp/$image_name") || die "facewatch submit"
uuid=$(echo "$submitted" | grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' | head -1)
[[ -n $uuid ]] || die "facewatch submit printed no UUID: $submitted"
result=$ROOT/var/lib/facewatch/results/$uuid.json
wait_for 120 "results/$uuid.json" test -s "$result"
step "results/$uuid.json written"
python3 - "$result" "$fixture" "$image_name" <<'EOF' || die "the result does not match face_recognition's"
import json, sys
result = json.load(open(sys.argv[1]))
reference = next(json.loads(line) for line in open(sys.argv[2]) if json.loads(line)["file"] == sys.argv[3])
faces, expected = result["faces"], reference["faces"]
assert result["status"] == "completed", result["status"]
assert len(faces) == len(expected), f"{len(faces)} faces, face_recognition finds {len(expected)}"
delta = 0.0
for face, want in zip(faces, expected):
    box = [face["location"][k] for k in ("top", "right", "bottom", "left")]
    assert box == want["box"], f"box {box} != {want['box']}"
    delta = max([delta] + [abs(a - b) for a, b in zip(face["encoding"], want["encoding"])])
assert delta <= 1e-5, f"max abs encoding difference {delta:.2e} > 1e-5"
print(f"    ok: status completed, {len(faces)} faces, boxes equal, max abs encoding difference {delta:.1e} from face_recognition's")
EOF
owner=$(in_root stat -c '%U:%G, mode %a' "/var/lib/facewatch/results/$uuid.json")
check "results/$uuid.json belongs to the service ($owner)" test "${owner%%,*}" = facewatch:facewatch

kill -TERM "$daemon_pid"
stopped() { ! kill -0 "$daemon_pid" 2>/dev/null; }
wait_for 60 "exit after SIGTERM" stopped
wait "$daemon_pid" && status=0 || status=$?
daemon_pid=
check "the daemon stopped on SIGTERM with status 0 (was $status)" test "$status" -eq 0

# --- 4. Reinstall (upgrade path), remove, purge ---------------------------------------------------------

step "an edited config survives apt-get install --reinstall"
echo "# edited by deb-check" >> "$ROOT/etc/facewatch/facewatch.conf"
in_root DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall "/tmp/$(basename "$DEB")" \
    > "$ROOT/tmp/reinstall.log" 2>&1 || { tail -20 "$ROOT/tmp/reinstall.log" >&2; die "apt-get install --reinstall"; }
check "the edit is still there" grep -q '^# edited by deb-check$' "$ROOT/etc/facewatch/facewatch.conf"
check "no .dpkg-dist/.dpkg-new copy next to it" \
    bash -c "! ls '$ROOT'/etc/facewatch/facewatch.conf.dpkg-* 2>/dev/null"

step "apt-get remove facewatch"
in_root DEBIAN_FRONTEND=noninteractive apt-get remove -y facewatch > "$ROOT/tmp/remove.log" 2>&1 ||
    { tail -20 "$ROOT/tmp/remove.log" >&2; die "apt-get remove"; }
check "dpkg: config-files only" test "$(in_root dpkg-query -W -f='${db:Status-Status}' facewatch)" = config-files
check "the binary and the unit are gone" \
    test ! -e "$ROOT/usr/bin/facewatch" -a ! -e "$ROOT/usr/lib/systemd/system/facewatch.service"
check "the config stays" grep -q '^# edited by deb-check$' "$ROOT/etc/facewatch/facewatch.conf"
check "the data stays (results/$uuid.json)" test -s "$result"

step "apt-get purge facewatch"
in_root DEBIAN_FRONTEND=noninteractive apt-get purge -y facewatch > "$ROOT/tmp/purge.log" 2>&1 ||
    { tail -20 "$ROOT/tmp/purge.log" >&2; die "apt-get purge"; }
grep '^facewatch:' "$ROOT/tmp/purge.log" | sed 's/^/    said: /'
check "purge said where the data is" grep -q 'data is kept in /var/lib/facewatch' "$ROOT/tmp/purge.log"
check "dpkg: not installed" \
    test "$(in_root dpkg-query -W -f='${db:Status-Status}' facewatch 2>/dev/null || echo not-installed)" != config-files
check "/etc/facewatch is gone" test ! -e "$ROOT/etc/facewatch"
check "the enable symlink is gone" test ! -e "$wants" -a ! -L "$wants"
check "the data stays: results/$uuid.json, db/, store/" \
    test -s "$result" -a -d "$ROOT/var/lib/facewatch/db" -a -n "$(ls -A "$ROOT/var/lib/facewatch/store")"
check "the facewatch user stays" bash -c "chroot '$ROOT' getent passwd facewatch >/dev/null"
check "facewatch-models stays installed (apt autoremove would remove it)" \
    test "$(in_root dpkg-query -W -f='${db:Status-Status}' facewatch-models)" = installed
step "what stays under /var/lib/facewatch: $(cd "$ROOT/var/lib/facewatch" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort | paste -sd ' ')"

umount "$ROOT/proc"
step "passed: install, run, reinstall, remove, purge in $(($(date +%s) - started)) s"
