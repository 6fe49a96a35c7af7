#!/usr/bin/env python3
"""Measures `facewatch report` on a root with many results (default 100,000).

Makes COUNT distinct tiny PNGs (random pixels, so no face and no dedup), has `facewatch serve` encode
them all (renamed into the inbox in batches), stops it, then runs `facewatch report` twice: the first
run makes the gallery's thumbnails, the second finds them made (the daemon's case once a minute).
Prints each run's wall time and peak memory, and the size of the pages written.

    python3 scripts/bench_report.py --facewatch .build-release/release/facewatch [--count 100000] [--keep DIR]

Needs the models (make models). Uses only the standard library.
"""
import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib


def tiny_png(width, height, rng):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def stats(facewatch, root):
    out = subprocess.run([facewatch, "stats", "--root", root, "--compact"], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facewatch", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--keep", help="use (and keep) this root instead of a temporary one")
    args = parser.parse_args()
    facewatch = os.path.abspath(args.facewatch)
    base = args.keep or tempfile.mkdtemp(prefix="fw-bench-report-")
    root = os.path.join(base, "root")
    inbox = os.path.join(root, "inbox")
    staging = os.path.join(base, "staging")
    os.makedirs(inbox, exist_ok=True)
    os.makedirs(staging, exist_ok=True)

    done = (stats(facewatch, root) or {}).get("total", 0) if os.path.exists(os.path.join(root, "db")) else 0
    if done < args.count:
        daemon = subprocess.Popen(
            [facewatch, "serve", "--root", root, "--workers", "2", "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            rng = random.Random(20261129)
            start = time.monotonic()
            batch = 2000
            for first in range(done, args.count, batch):
                names = []
                for i in range(first, min(first + batch, args.count)):
                    name = f"img{i:06d}.png"
                    with open(os.path.join(staging, name), "wb") as f:
                        f.write(tiny_png(24, 16, rng))
                    names.append(name)
                for name in names:
                    os.rename(os.path.join(staging, name), os.path.join(inbox, name))
            while True:
                current = stats(facewatch, root) or {}
                if current.get("completed", 0) + current.get("failed", 0) >= args.count:
                    break
                time.sleep(2)
            print(f"encoded {args.count} images in {time.monotonic() - start:.0f} s")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()

    totals = stats(facewatch, root)
    print(f"root {root}: total {totals['total']}, completed {totals['completed']}, failed {totals['failed']}")
    report = os.path.join(base, "report")
    shutil.rmtree(report, ignore_errors=True)
    for label in ("first report (makes the thumbnails)", "second report (thumbnails there)"):
        # /usr/bin/time -f gives the report process's own peak memory.
        command = ["/usr/bin/time", "-f", "%e s %M KiB", facewatch, "report", "--root", root, "-o", report]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        print(f"{label}: {out.stdout.strip()}; {out.stderr.strip().splitlines()[-1]}")
    pages = sorted(n for n in os.listdir(report) if n.endswith(".html"))
    sizes = [os.path.getsize(os.path.join(report, n)) for n in pages]
    thumbs = os.listdir(os.path.join(report, "thumbs"))
    print(f"{len(pages)} pages, {min(sizes)}-{max(sizes)} bytes (index.html {os.path.getsize(os.path.join(report, 'index.html'))}),"
          f" {len(thumbs)} thumbnails")
    if not args.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    sys.exit(main())
