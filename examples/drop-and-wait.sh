#!/bin/bash
# drop-and-wait.sh: drop one image into facewatch's inbox, wait for its result, print the faces.
#
#   examples/drop-and-wait.sh photo.jpg
#   FACEWATCH_ROOT=./var examples/drop-and-wait.sh photo.jpg      # the `make run` daemon
#
# Prints one line per face, `face N: top=.. right=.. bottom=.. left=..` (pixels of the image as
# displayed, EXIF orientation applied), then the path of the result. Exits 0 when the image was
# encoded (zero faces included), 1 when it failed (the error is printed), 2 on a usage or setup
# problem, 3 when no result came within the timeout.
#
# How it works, as any client should:
#   - The file is copied under a temporary name the daemon ignores (a dotfile ending in .part), then
#     renamed into the inbox in one step: the daemon never sees half a file.
#   - It is named <uuid>.<ext> with a UUID chosen here; the daemon keeps a UUID it is given, so the
#     result will be results/<uuid>.json.
#   - inotifywait (inotify-tools) watches results/ BEFORE the file is dropped, so a quick result is
#     not missed; the result is written to a temporary file and renamed, so a MOVED_TO event for
#     <uuid>.json means the file is complete.
#
# Settings (environment): FACEWATCH_ROOT (default /var/lib/facewatch), FACEWATCH_INBOX (default
# ROOT/inbox), FACEWATCH_RESULTS (default ROOT/results), FACEWATCH_TIMEOUT in seconds (default 300).
# As a service, the caller must be in the `facewatch` group to write the inbox and read results.
# Needs bash, inotifywait and python3 (to read the JSON).
set -euo pipefail

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,8s/^# \{0,1\}//p' "$0" >&2
    exit 2
fi
image=$1
root=${FACEWATCH_ROOT:-/var/lib/facewatch}
inbox=${FACEWATCH_INBOX:-$root/inbox}
results=${FACEWATCH_RESULTS:-$root/results}
timeout=${FACEWATCH_TIMEOUT:-300}

[[ -f $image && -r $image ]] || { echo "drop-and-wait: cannot read $image" >&2; exit 2; }
[[ -d $inbox && -w $inbox ]] || { echo "drop-and-wait: cannot write the inbox $inbox" >&2; exit 2; }
[[ -d $results && -r $results ]] || { echo "drop-and-wait: cannot read $results" >&2; exit 2; }
command -v inotifywait >/dev/null || { echo "drop-and-wait: inotifywait not found (apt install inotify-tools)" >&2; exit 2; }

uuid=$(cat /proc/sys/kernel/random/uuid)
name=${image##*/}
extension=""
[[ $name == *.* ]] && extension=".${name##*.}"
extension=${extension,,}
result="$results/$uuid.json"

# Watch first. inotifywait reports "Watches established." on stderr once the watch exists.
coproc WATCH { exec inotifywait --monitor --event moved_to --event close_write --format '%f' "$results" 2>&1; }
watcher=$WATCH_PID
exec {events}<&"${WATCH[0]}"
trap 'kill "$watcher" 2>/dev/null || true' EXIT
while true; do
    if ! read -r -t 10 line <&"$events"; then
        echo "drop-and-wait: inotifywait did not start watching $results" >&2
        exit 2
    fi
    [[ $line == "Watches established." ]] && break
done

# Drop: copy under a name the daemon ignores, make it readable for the daemon's group, rename.
temporary="$inbox/.$uuid$extension.part"
cp -- "$image" "$temporary"
chmod g+r "$temporary"
mv -- "$temporary" "$inbox/$uuid$extension"

# Wait for results/<uuid>.json with a final status (completed or failed).
finished() { [[ -e $result ]] && ! grep -q '"status" *: *"created"' "$result"; }
deadline=$((SECONDS + timeout))
until finished; do
    left=$((deadline - SECONDS))
    if ((left <= 0)); then
        echo "drop-and-wait: no result for $uuid after ${timeout}s (is facewatch running? journalctl -u facewatch)" >&2
        exit 3
    fi
    # Any event may be ours: the loop condition looks at the file itself.
    read -r -t "$left" line <&"$events" || true
done

python3 - "$result" <<'PYTHON'
import json, sys

with open(sys.argv[1]) as f:
    doc = json.load(f)
if doc["status"] == "failed":
    error = doc.get("error") or {}
    print(f"failed: {error.get('code')}: {error.get('message')}", file=sys.stderr)
    sys.exit(1)
faces = doc.get("faces", [])
image = doc.get("image") or {}
print(f"{doc['id']}: {len(faces)} face(s) in a {image.get('width')}x{image.get('height')} {image.get('format')}")
for number, face in enumerate(faces, 1):
    box = face["location"]
    print(f"face {number}: top={box['top']} right={box['right']} bottom={box['bottom']} left={box['left']}")
PYTHON
echo "$result"
