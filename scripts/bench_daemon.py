#!/usr/bin/env python3
"""`make bench`, daemon part: `facewatch serve` measured against the figures of its issue.

    bench_daemon.py --facewatch BINARY DIR [--files 10000] [--min-seconds 30] [--parts a,b,c,d,e,f]

Each part runs a real daemon on a fresh root of its own (under --work, which should be on the
disk the daemon will use: fsync costs are part of what is measured) and stops it with SIGTERM.

(a) latency: an idle daemon with 1 worker; face images from DIR are renamed one at a time into the
    inbox as `<uuid>.<ext>` (the daemon keeps that UUID) and the time until `results/<uuid>.json`
    exists is measured (polled every millisecond). The overhead is that latency minus the image's
    encode time as the daemon itself logged it (`completed ... seconds=`, which is reading, decoding,
    detecting and encoding in the engine); the same minus `facewatch encode --timings` (decode +
    detect + encode) is shown as well. Target: overhead within 50 ms.
(b) ingest: 10,000 tiny distinct PNGs are written to a staging folder on the same file system, then
    renamed into the inbox of a running daemon (default workers) as fast as a loop of os.rename
    goes. Ingest time: from the first rename until the ledger holds 10,000 records (the inbox empty,
    then `facewatch stats` total); drain time: until every record is final. The daemon's resident
    memory is sampled from /proc/PID/status all along. Targets: 1,000 files/s or more, RSS under
    500 MB.
(c) scaling: the images of DIR (copied as often as needed for a run of about --min-seconds with two
    workers) are renamed into a fresh daemon with 1 worker or with 2 workers, dedup off; the time
    until every result document exists gives images/s. Runs alternate (1, 2, 2, 1 by default) and the
    best run of each counts, so a burst of other work on the machine does not decide the ratio.
    Target: 2 workers at 1.9x or more.
(d) start-up: the time from exec to the READY=1 datagram on $NOTIFY_SOCKET (a socket of ours), on a
    root of --startup-records (100,000) final records written by `facewatch-bench-root` (9 in 10
    completed with a face, 1 in 10 failed; their result documents too) and stopped gracefully, and
    on an empty root, --startup-runs starts of each, alternating (after one untimed start of each,
    which writes the identity markers). The debug log gives the part before the model load: from
    `starting` to `loading the models`. Target: under 1 s.
(e) memory: --memory-images (3) 50-megapixel PNGs (8160 x 6120, made here) and 6 small ones into a
    daemon with 2 workers and --memory-budget (1.5 GB); VmHWM minus the RSS at READY is compared
    with the budget, and metrics.prom's memory gauges (reserved, images waiting) are sampled.
(f) the PostgreSQL ledger against LMDB: a throwaway PostgreSQL cluster on this machine
    (scripts/test_postgres.sh with PG_FSYNC=on: a Unix socket, commits flushed to disk as LMDB's
    are, in the --work directory's file system only if /tmp is on it), then for each ledger, in the
    order lmdb, postgres, postgres, lmdb (the best run of each counts): --pg-files tiny PNGs renamed
    into a daemon with its default workers (ingest rate: first rename to the ledger holding them all;
    drain: to all final; `facewatch stats` is asked only once the inbox is empty, and once every
    result document exists, so the bench's polling does not take the cores), and --latency-drops face images dropped one at a time into an idle daemon
    with 1 worker, dedup off (overhead as in (a): drop-to-JSON minus the daemon's logged encode time).
    Shown: both figures per ledger, the CPU time per file of the daemon and of the PostgreSQL server
    during the drain (what the machine's load cannot stretch), and PostgreSQL's extra cost per file.
    Targets (PostgreSQL): drain 600 files/s or more, overhead 8 ms or less.

Not a test: the figures depend on the machine and on what else runs on it (the load average is
printed at the start and at the end). Exit status 0 even when a target is missed; 1 when something
fails or hangs (every wait is bounded).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib

READY_TIMEOUT = 120.0      # model loading included
STOP_TIMEOUT = 90.0        # the daemon's own shutdown timeout is 30 s
# `completed` and its fields in key order (`faces=… id=… name=… seconds=…`), on one line.
COMPLETED = re.compile(r" completed [^\n]*?\bid=([0-9a-f-]{36})\b[^\n]*?\bseconds=([0-9.]+)")


class BenchError(Exception):
    pass


def ignored(name):
    """Names the inbox (and `facewatch encode`) skip: dotfiles and writers' temporary files."""
    return name.startswith(".") or name.endswith((".part", ".tmp", "~"))


def load_text():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "?"
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}; {os.cpu_count()} cores ({usable} usable); {memory} memory"


def filesystem_of(path):
    """The file system type of `path`, from /proc/mounts (longest matching mount point)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 3:
                    point = fields[1].replace("\\040", " ")
                    if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                        best, kind = point, fields[2]
    except OSError:
        pass
    return kind


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu():
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


def process_cpu(pid):
    """CPU seconds (user + system) a process has used so far, from /proc/PID/stat; 0 when gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


class CPUAccount:
    """Cores used over an interval: by one process, by everything else on the machine, and stolen
    by the hypervisor. Another load tells a figure measured on a busy machine from a real one."""

    def __init__(self, pid):
        self.pid = pid
        self.start = time.perf_counter()
        self.own0 = process_cpu(pid)
        self.busy0, self.steal0 = machine_cpu()

    def finish(self):
        wall = time.perf_counter() - self.start
        own = (process_cpu(self.pid) - self.own0) / wall
        busy, steal = machine_cpu()
        self.own = own
        self.others = max(0.0, (busy - self.busy0) / wall - own)
        self.steal = (steal - self.steal0) / wall
        return self

    def text(self, who="daemon"):
        return f"{who} {self.own:.2f} cores, everything else {self.others:.2f}, steal {self.steal:.2f}"


def verdict(ok):
    return "PASS" if ok else "MISS"


def figure(label, value, target, ok):
    print(f"  {label:<44} {value:>14}   target {target:<14} {verdict(ok)}", flush=True)


# ---------------------------------------------------------------------------------------------
# The daemon


class Daemon:
    """One `facewatch serve` on its own root, stderr to a log file; always stopped by `stop()`."""

    def __init__(self, binary, root, log_path, args):
        self.binary, self.root, self.log_path, self.args = binary, root, log_path, args
        self.process = None
        self.exit_status = None

    @property
    def inbox(self):
        return os.path.join(self.root, "inbox")

    @property
    def results(self):
        return os.path.join(self.root, "results")

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        self.log = open(self.log_path, "w")
        command = [self.binary, "serve", "--root", self.root, *self.args]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"facewatch serve exited with status {self.process.returncode} before it was "
                                 f"ready:\n{self.log_tail()}")
            if " ready " in self.read_log():
                return self
            time.sleep(0.02)
        raise BenchError(f"facewatch serve not ready after {READY_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def log_tail(self, lines=15):
        return "".join(self.read_log().splitlines(True)[-lines:])

    def encode_seconds(self):
        """{uuid: seconds} from the daemon's `completed ... seconds=` log lines."""
        return {m.group(1): float(m.group(2)) for m in COMPLETED.finditer(self.read_log())}

    def memory_kib(self):
        """(VmRSS, VmHWM) in KiB, or None once the process is gone."""
        try:
            with open(f"/proc/{self.process.pid}/status") as handle:
                values = {}
                for line in handle:
                    if line.startswith(("VmRSS:", "VmHWM:")):
                        key, value = line.split(":", 1)
                        values[key] = int(value.split()[0])
            return values.get("VmRSS", 0), values.get("VmHWM", 0)
        except (OSError, ValueError):
            return None

    def stop(self):
        """SIGTERM, then a bounded wait (SIGKILL after it). Returns the exit status."""
        if self.process is None or self.exit_status is not None:
            return self.exit_status
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.exit_status = self.process.returncode
                self.log.close()
                raise BenchError(f"facewatch serve did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM "
                                 f"(killed):\n{self.log_tail()}")
        self.exit_status = self.process.returncode
        self.log.close()
        return self.exit_status


class MemorySampler(threading.Thread):
    """Samples a daemon's VmRSS every `interval` seconds until stopped."""

    def __init__(self, daemon, interval=0.02):
        super().__init__(daemon=True)
        self.target, self.interval = daemon, interval
        self.peak_rss = 0
        self.hwm = 0
        self.samples = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)
        self.sample()

    def sample(self):
        values = self.target.memory_kib()
        if values:
            self.peak_rss = max(self.peak_rss, values[0])
            self.hwm = max(self.hwm, values[1])
            self.samples += 1

    def stop(self):
        self.done.set()
        self.join()


def stats(binary, root):
    result = subprocess.run([binary, "stats", "--root", root, "--compact"], capture_output=True, text=True,
                            timeout=30)
    if result.returncode != 0:
        raise BenchError(f"facewatch stats failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def count_results(folder):
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(".json") and not name.startswith("."))
    except FileNotFoundError:
        return 0


def wait_until(condition, timeout, what, interval, daemon):
    """Polls `condition()` until true; BenchError after `timeout` seconds or if the daemon died."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return time.perf_counter()
        if daemon.process.poll() is not None:
            raise BenchError(f"facewatch serve exited (status {daemon.process.returncode}) while waiting for "
                             f"{what}:\n{daemon.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}:\n{daemon.log_tail()}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Inputs


def tiny_png(index, size=16):
    """A valid 16x16 RGB PNG whose pixels depend on `index`: every index gives distinct content."""
    seed = struct.pack(">Q", index)
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter: none
        for x in range(size):
            for channel in range(3):
                row.append((seed[(x + y + channel) % 8] ^ (x * 7 + y * 13 + channel * 29)) & 0xFF)
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + \
        chunk(b"IEND", b"")


def image_files(folder):
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not ignored(d))
        files.extend(os.path.join(dirpath, name) for name in sorted(filenames) if not ignored(name))
    return files


def encode_timings(binary, folder, out_path):
    """`facewatch encode --workers 1 --timings` on the folder: {path: line}, wall seconds."""
    start = time.perf_counter()
    with open(out_path, "w") as out, open(out_path + ".stderr", "w") as err:
        status = subprocess.run([binary, "encode", "--workers", "1", "--timings", folder], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, timeout=3600).returncode
    wall = time.perf_counter() - start
    if status not in (0, 1):
        with open(out_path + ".stderr", errors="replace") as handle:
            raise BenchError(f"facewatch encode failed (exit status {status}): {handle.read()[-2000:]}")
    lines = {}
    with open(out_path) as handle:
        for text in handle:
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict) and "file" in line:
                lines[line["file"]] = line
    return lines, wall


def engine_ms(line):
    """decode + detect + encode of an `encode --timings` line, in ms (None without timings)."""
    timings = line.get("timings") if line else None
    if not isinstance(timings, dict):
        return None
    total = 0.0
    for stage in ("decode", "detect", "encode"):
        if isinstance(timings.get(stage), (int, float)):
            total += timings[stage] * 1000.0
        elif isinstance(timings.get(stage + "_ms"), (int, float)):
            total += float(timings[stage + "_ms"])
        else:
            return None
    return total


def extension(path):
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    return ext or "bin"


# ---------------------------------------------------------------------------------------------
# (a) latency


def dropper(a, daemon, staging):
    """A function that drops one copy of a file into the running daemon's inbox (staged and fsynced
    first, renamed in when the daemon is idle) and returns its name and drop-to-JSON milliseconds."""
    def drop(path):
        name = str(uuid.uuid4())
        staged = os.path.join(staging, f"{name}.{extension(path)}")
        shutil.copyfile(path, staged)
        with open(staged, "rb") as handle:  # in the page cache, and on disk like a finished upload
            os.fsync(handle.fileno())
        result = os.path.join(daemon.results, name + ".json")
        time.sleep(0.3)  # idle: the previous file's stats and logs are done
        start = time.perf_counter()
        os.rename(staged, os.path.join(daemon.inbox, os.path.basename(staged)))
        end = wait_until(lambda: os.path.exists(result), a.timeout, f"results/{name}.json", 0.001, daemon)
        return name, (end - start) * 1000.0
    return drop


def logged_encode_seconds(daemon, last):
    """The daemon's logged encode seconds by name, once the line of `last` is there: the daemon logs
    `completed` right after writing the document (at most 10 s more)."""
    deadline = time.monotonic() + 10
    while last not in daemon.encode_seconds() and time.monotonic() < deadline:
        time.sleep(0.01)
    return daemon.encode_seconds()


def bench_latency(a, work, out_dir, encoded, summary):
    print(f"\n(a) drop-to-JSON latency: idle daemon, 1 worker, dedup off, {a.latency_drops} drops", flush=True)
    faces = [(path, line) for path, line in encoded.items()
             if line.get("status") == "completed" and line.get("faces") and engine_ms(line) is not None]
    if not faces:
        raise BenchError("no image with a face in the folder: nothing to measure latency with")
    faces.sort(key=lambda item: engine_ms(item[1]))
    # Up to five images spread over the range of encode times.
    picks = [faces[round(i * (len(faces) - 1) / 4)] for i in range(5)] if len(faces) >= 5 else faces
    picks = list(dict.fromkeys(path for path, _ in picks))
    root = os.path.join(work, "latency")
    staging = os.path.join(work, "latency-staging")
    os.makedirs(staging)
    daemon = Daemon(a.facewatch, root, os.path.join(out_dir, "daemon-latency.log"),
                    ["--workers", "1", "--no-dedup"])
    rows = []
    try:
        daemon.start()

        drop = dropper(a, daemon, staging)
        drop(picks[-1])  # warm-up, not counted: first use of the engine and the ledger
        account = CPUAccount(daemon.process.pid)
        for index in range(a.latency_drops):
            path = picks[index % len(picks)]
            name, latency = drop(path)
            rows.append((path, name, latency))
        account.finish()
        seconds = logged_encode_seconds(daemon, rows[-1][1])
    finally:
        daemon.stop()

    overheads, versus_encode = [], []
    print(f"  {'image':<44} {'latency ms':>10} {'daemon encode ms':>17} {'overhead ms':>12} "
          f"{'encode --timings ms':>20} {'overhead ms':>12}")
    for path, name, latency in rows:
        own = seconds.get(name)
        own_ms = own * 1000.0 if own is not None else None
        other = engine_ms(encoded.get(path))
        overhead = latency - own_ms if own_ms is not None else None
        overhead2 = latency - other if other is not None else None
        if overhead is not None:
            overheads.append(overhead)
        if overhead2 is not None:
            versus_encode.append(overhead2)

        def show(value, width):
            return f"{value:>{width}.1f}" if value is not None else f"{'n/a':>{width}}"

        print(f"  {os.path.basename(path)[:44]:<44} {latency:>10.1f} {show(own_ms, 17)} {show(overhead, 12)} "
              f"{show(other, 20)} {show(overhead2, 12)}")
    if not overheads:
        raise BenchError("the daemon logged no `completed ... seconds=` line for the drops (log level?)")
    median, worst = statistics.median(overheads), max(overheads)
    print(f"  overhead = drop-to-JSON latency - the daemon's logged encode time of the same file "
          f"(read+decode+detect+encode); CPU during the drops: {account.text()}")
    figure("(a) latency overhead, median", f"{median:.1f} ms", "<= 50 ms", median <= 50)
    figure("(a) latency overhead, max", f"{worst:.1f} ms", "<= 50 ms", worst <= 50)
    if versus_encode:
        print(f"  vs `facewatch encode --timings` (decode+detect+encode, another process): median "
              f"{statistics.median(versus_encode):.1f} ms, max {max(versus_encode):.1f} ms")
    summary.append(("(a) latency overhead median / max", f"{median:.1f} / {worst:.1f} ms", "<= 50 ms",
                    median <= 50 and worst <= 50))


# ---------------------------------------------------------------------------------------------
# (b) ingest


def bench_ingest(a, work, out_dir, summary):
    count = a.files
    print(f"\n(b) ingest: {count:,} tiny distinct PNGs renamed into a running daemon (workers: default, "
          f"one per core)", flush=True)
    root = os.path.join(work, "ingest")
    staging = os.path.join(work, "ingest-staging")
    os.makedirs(staging)
    names = []
    for index in range(count):
        name = f"small-{index:05d}.png"
        with open(os.path.join(staging, name), "wb") as handle:
            handle.write(tiny_png(index))
        names.append(name)
    os.sync()  # the staged files are on disk before the clock starts
    daemon = Daemon(a.facewatch, root, os.path.join(out_dir, "daemon-ingest.log"), [])
    sampler = None
    try:
        daemon.start()
        sampler = MemorySampler(daemon)
        sampler.start()
        account = CPUAccount(daemon.process.pid)
        inbox = daemon.inbox
        start = time.perf_counter()
        for name in names:
            os.rename(os.path.join(staging, name), os.path.join(inbox, name))
        renamed = time.perf_counter()

        def inbox_empty():
            with os.scandir(inbox) as entries:
                return next(entries, None) is None

        def recorded():
            return stats(a.facewatch, root)["total"] >= count

        wait_until(inbox_empty, a.timeout, "the inbox to empty", 0.005, daemon)
        ingested = wait_until(recorded, a.timeout, f"{count} records", 0.01, daemon)
        account.finish()
        ingest_stats = stats(a.facewatch, root)

        def drained():
            document = stats(a.facewatch, root)
            return document["completed"] + document["failed"] >= count

        finished = wait_until(drained, a.timeout * 4, "the backlog to drain", 0.25, daemon)
        final = stats(a.facewatch, root)
        sampler.stop()
        documents = count_results(daemon.results)
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        daemon.stop()

    ingest_s, drain_s = ingested - start, finished - start
    rate = count / ingest_s
    peak_mb = sampler.peak_rss / 1024
    print(f"  rename loop: {renamed - start:.2f} s; records at ingest end: total {ingest_stats['total']}, "
          f"already final {ingest_stats['completed'] + ingest_stats['failed']}; CPU while ingesting: "
          f"{account.text()}")
    print(f"  drained: completed {final['completed']}, failed {final['failed']}, result documents {documents}; "
          f"RSS sampled {sampler.samples} times, VmHWM {sampler.hwm / 1024:.0f} MB")
    if final["total"] != count or documents != count:
        raise BenchError(f"expected {count} records and documents, got {final['total']} records and "
                         f"{documents} documents")
    figure(f"(b) ingest of {count:,} files", f"{rate:,.0f} files/s", ">= 1,000/s", rate >= 1000)
    print(f"  {'    time, first rename to last record':<44} {ingest_s:>12.2f} s")
    figure("(b) peak RSS during the backlog", f"{peak_mb:.0f} MB", "< 500 MB", peak_mb < 500)
    print(f"  {'(b) time to drain the backlog':<44} {drain_s:>12.2f} s   ({count / drain_s:,.0f} files/s "
          f"encoded, first rename to last final record)")
    summary.append((f"(b) ingest of {count:,} files", f"{rate:,.0f} files/s", ">= 1,000/s", rate >= 1000))
    summary.append(("(b) peak RSS during the backlog", f"{peak_mb:.0f} MB", "< 500 MB", peak_mb < 500))


# ---------------------------------------------------------------------------------------------
# (c) scaling


def bench_scaling(a, work, out_dir, files, one_pass_seconds, summary):
    # Enough copies that the 2-worker run, too, lasts about --min-seconds (one pass with 1 worker
    # took `one_pass_seconds`): the tail, when one worker has nothing left, weighs little then.
    copies = max(1, -(-int(a.min_seconds * 20) // max(1, int(one_pass_seconds * 10))))
    total = copies * len(files)
    # A B B A ...: slow drifts in what else runs on the machine hit both; the best run of each counts.
    order = [(1, 2), (2, 1)] * ((a.scaling_rounds + 1) // 2)
    order = [workers for pair in order[:a.scaling_rounds] for workers in pair]
    print(f"\n(c) scaling: {len(files)} files of the folder x {copies} copies = {total} files, dedup off, "
          f"into a fresh daemon with 1 or 2 workers; runs in the order {', '.join(map(str, order))} "
          f"(workers), the best of each counts", flush=True)
    best, rates = {}, {}
    for run, workers in enumerate(order):
        root = os.path.join(work, f"scaling-{run}-{workers}")
        staging = os.path.join(work, f"scaling-{run}-{workers}-staging")
        os.makedirs(staging)
        staged = []
        for copy in range(copies):
            for index, path in enumerate(files):
                name = f"c{copy:02d}-{index:04d}-{os.path.basename(path)}"
                shutil.copyfile(path, os.path.join(staging, name))
                staged.append(name)
        os.sync()
        daemon = Daemon(a.facewatch, root, os.path.join(out_dir, f"daemon-scaling-{run}-{workers}.log"),
                        ["--workers", str(workers), "--no-dedup"])
        try:
            daemon.start()
            account = CPUAccount(daemon.process.pid)
            start = time.perf_counter()
            for name in staged:
                os.rename(os.path.join(staging, name), os.path.join(daemon.inbox, name))
            end = wait_until(lambda: count_results(daemon.results) >= total, a.timeout * 4,
                             f"{total} result documents", 0.05, daemon)
            account.finish()
            time.sleep(0.2)  # the last `completed` lines
            encodes = list(daemon.encode_seconds().values())
        finally:
            daemon.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
        wall = end - start
        rate = total / wall
        busy = sum(encodes) / (wall * workers)
        mean_ms = 1000 * sum(encodes) / max(1, len(encodes))
        print(f"  {workers} worker{'s' if workers > 1 else ' '}: {wall:7.2f} s, {rate:6.2f} images/s; "
              f"mean encode {mean_ms:.0f} ms per image, workers busy encoding {100 * busy:.0f}% of the time; "
              f"CPU: {account.text()}", flush=True)
        if workers not in best or rate > best[workers][0]:
            best[workers] = (rate, account.others)
        rates.setdefault(workers, []).append(rate)
    ratio = best[2][0] / best[1][0]
    print(f"  best: 1 worker {best[1][0]:.2f} images/s, 2 workers {best[2][0]:.2f} images/s "
          f"(ratio of the means of all runs: {statistics.mean(rates[2]) / statistics.mean(rates[1]):.2f}x)")
    busiest = max(best[1][1], best[2][1])
    if busiest > 0.15:
        print(f"  NOTE: other processes used up to {busiest:.2f} of the {os.cpu_count()} cores during these runs; "
              f"2 workers need 2 free cores, so this ratio is not the daemon's own: run again on an idle machine")
    figure("(c) 2 workers / 1 worker", f"{ratio:.2f}x", ">= 1.9x", ratio >= 1.9)
    summary.append(("(c) 2 workers / 1 worker", f"{ratio:.2f}x", ">= 1.9x", ratio >= 1.9))


# ---------------------------------------------------------------------------------------------
# (d) start-up


def time_to_ready(binary, root, args, log_path, timeout):
    """Starts `facewatch serve` with $NOTIFY_SOCKET on a socket of ours; returns (the process, its
    log file, seconds from exec to the READY=1 datagram)."""
    sock_path = os.path.join(os.path.dirname(log_path), f"notify-{os.getpid()}-{time.monotonic_ns()}.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(sock_path)
    listener.settimeout(0.5)
    log = open(log_path, "w")
    environment = dict(os.environ, NOTIFY_SOCKET=sock_path)
    start = time.perf_counter()
    process = subprocess.Popen([binary, "serve", "--root", root, *args], stdin=subprocess.DEVNULL, stdout=log,
                               stderr=log, env=environment)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                message = listener.recv(4096).decode(errors="replace")
            except socket.timeout:
                if process.poll() is not None:
                    raise BenchError(f"facewatch serve exited with status {process.returncode} before READY=1")
                continue
            if "READY=1" in message.split("\n"):
                return process, log, time.perf_counter() - start
        raise BenchError(f"no READY=1 within {timeout:.0f} s")
    finally:
        listener.close()
        os.unlink(sock_path)


def stop_process(process, log):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BenchError("facewatch serve did not stop after SIGTERM (killed)")
    finally:
        log.close()


def bench_startup(a, work, out_dir, summary):
    count = a.startup_records
    print(f"\n(d) start-up: time from exec to READY=1 ($NOTIFY_SOCKET) on a root with {count:,} records (made by "
          f"facewatch-bench-root, stopped gracefully) and on an empty root, {a.startup_runs} starts of each, "
          f"alternating", flush=True)
    if not os.access(a.bench_root, os.X_OK):
        raise BenchError(f"{a.bench_root} is missing: swift build -c release --product facewatch-bench-root")
    root = os.path.join(work, "startup")
    empty_root = os.path.join(work, "startup-empty")
    made = time.perf_counter()
    result = subprocess.run([a.bench_root, root, str(count)], capture_output=True, text=True, timeout=a.timeout * 4)
    if result.returncode != 0:
        raise BenchError(f"facewatch-bench-root failed: {result.stderr.strip()}")
    print(f"  {result.stdout.strip()} ({time.perf_counter() - made:.1f} s)")
    # The first start of each root writes the identity markers (the generated root was made before
    # them): not timed.
    for name, path in (("big", root), ("empty", empty_root)):
        process, log, _ = time_to_ready(a.facewatch, path, [], os.path.join(out_dir, f"daemon-startup-{name}-0.log"),
                                        a.timeout)
        stop_process(process, log)
    times = {"big": [], "empty": []}
    ledger_part = []
    for run in range(1, a.startup_runs + 1):
        for name, path in (("big", root), ("empty", empty_root)):
            log_path = os.path.join(out_dir, f"daemon-startup-{name}-{run}.log")
            process, log, seconds = time_to_ready(a.facewatch, path, ["--log-level", "debug"], log_path, a.timeout)
            stop_process(process, log)
            times[name].append(seconds)
            if name == "big":
                ledger_part.append(ledger_seconds(log_path))
    big, empty = statistics.median(times["big"]), statistics.median(times["empty"])
    print(f"  {count:,} records: {', '.join(f'{s:.3f}' for s in times['big'])} s (median {big:.3f} s)")
    print(f"  empty root:     {', '.join(f'{s:.3f}' for s in times['empty'])} s (median {empty:.3f} s); "
          f"most of a start is loading the models")
    known = [s for s in ledger_part if s is not None]
    if known:
        print(f"  from the daemon's `starting` line to `loading the models` (lock, directories, markers, ledger, "
              f"run, tallies): median {1000 * statistics.median(known):.0f} ms")
    label = f"(d) start to READY, {count:,}-record root"
    figure(label, f"{big:.3f} s", "< 1 s", big < 1.0)
    summary.append((label, f"{big:.3f} s", "< 1 s", big < 1.0))
    print(f"  {'(d) the same, empty root':<44} {empty:>12.3f} s")


def log_time(line):
    """Seconds since the epoch of a log line's ISO timestamp (`2026-11-29T08:44:32.217Z ...`)."""
    stamp = line.split(" ", 1)[0].rstrip("Z")
    return time.mktime(time.strptime(stamp.split(".")[0], "%Y-%m-%dT%H:%M:%S")) + float("0." + stamp.split(".")[1])


def ledger_seconds(log_path):
    """From `starting` to `loading the models` in a daemon's debug log (everything a start does before
    the model load: lock, directories, markers, ledger, run, tallies, store), or None."""
    start = done = None
    try:
        with open(log_path, errors="replace") as handle:
            for line in handle:
                if start is None and " info starting " in line:
                    start = log_time(line)
                elif done is None and "debug loading the models" in line:
                    done = log_time(line)
    except (OSError, ValueError, IndexError):
        return None
    return done - start if start is not None and done is not None else None


# ---------------------------------------------------------------------------------------------
# (e) peak memory under the budget


def gradient_png(path, width, height, seed):
    """A width x height RGB PNG of shifting gradients (no faces), distinct for each seed; written
    row by row through zlib, so a 50-megapixel image costs no more memory here than one row."""
    base = bytes((x * 7 + seed * 31) & 0xFF for x in range(3 * width + 256))
    compressor = zlib.compressobj(1)
    chunks = []
    for y in range(height):
        offset = (y + seed) % 256
        chunks.append(compressor.compress(b"\x00" + base[offset:offset + 3 * width]))
    chunks.append(compressor.flush())

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        handle.write(chunk(b"IDAT", b"".join(chunks)))
        handle.write(chunk(b"IEND", b""))


def metric(path, name):
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def bench_memory(a, work, out_dir, summary):
    big, (width, height) = a.memory_images, (8160, 6120)
    budget = a.memory_budget
    print(f"\n(e) memory: {big} images of {width} x {height} ({width * height / 1e6:.0f} megapixels) and 6 small "
          f"ones into a daemon with 2 workers and --memory-budget {budget:,}; VmHWM against the budget", flush=True)
    root = os.path.join(work, "memory")
    staging = os.path.join(work, "memory-staging")
    os.makedirs(staging)
    names = []
    made = time.perf_counter()
    for index in range(big):
        name = f"big-{index}.png"
        gradient_png(os.path.join(staging, name), width, height, index)
        names.append(name)
    for index in range(6):
        name = f"small-{index}.png"
        with open(os.path.join(staging, name), "wb") as handle:
            handle.write(tiny_png(900_000 + index, size=64))
        names.append(name)
    print(f"  images made in {time.perf_counter() - made:.1f} s", flush=True)
    os.sync()
    daemon = Daemon(a.facewatch, root, os.path.join(out_dir, "daemon-memory.log"),
                    ["--workers", "2", "--memory-budget", str(budget), "--no-dedup"])
    sampler = None
    metrics = os.path.join(root, "metrics.prom")
    reserved_peak = waiting_peak = 0.0
    try:
        daemon.start()
        base_kib = daemon.memory_kib()[0]
        sampler = MemorySampler(daemon)
        sampler.start()
        start = time.perf_counter()
        for name in names[:2] + names[big:big + 3] + names[2:big] + names[big + 3:]:
            os.rename(os.path.join(staging, name), os.path.join(daemon.inbox, name))
        deadline = time.monotonic() + a.timeout * 4
        while count_results(daemon.results) < len(names):
            if time.monotonic() > deadline or daemon.process.poll() is not None:
                raise BenchError(f"not every image finished:\n{daemon.log_tail()}")
            reserved_peak = max(reserved_peak, metric(metrics, "facewatch_memory_reserved_bytes") or 0)
            waiting_peak = max(waiting_peak, metric(metrics, "facewatch_images_waiting_for_memory") or 0)
            time.sleep(0.1)
        wall = time.perf_counter() - start
        sampler.stop()
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        daemon.stop()
    hwm = sampler.hwm * 1024
    base = base_kib * 1024
    over_base = hwm - base
    print(f"  {len(names)} images in {wall:.1f} s; RSS when ready {base / 1e6:.0f} MB, VmHWM {hwm / 1e6:.0f} MB "
          f"(base + {over_base / 1e6:.0f} MB); metrics.prom showed up to {reserved_peak / 1e6:.0f} MB reserved and "
          f"{waiting_peak:.0f} images waiting for the budget")
    label = "(e) VmHWM minus RSS at READY, vs the budget"
    value = f"{over_base / 1e6:.0f} MB"
    target = f"<= {budget / 1e6:.0f} MB"
    figure(label, value, target, over_base <= budget)
    summary.append((label, value, target, over_base <= budget))


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# (f) the PostgreSQL ledger against LMDB


def ledger_stats(binary, config):
    result = subprocess.run([binary, "stats", "--config", config, "--compact"], capture_output=True, text=True,
                            timeout=30)
    if result.returncode != 0:
        raise BenchError(f"facewatch stats failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def postgres_database(cluster, name):
    """A new database in the bench's cluster; its ledger URL."""
    socket_dir = os.path.join(cluster, "socket")
    subprocess.run(["psql", "-h", socket_dir, "-U", "postgres", "-d", "postgres", "-qAt", "-v", "ON_ERROR_STOP=1",
                    "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True, timeout=60)
    return f"postgres://postgres@/{name}?host={socket_dir}"


def ledger_root(work, label, ledger):
    """A root and its config file naming `ledger` (lmdb or a URL)."""
    root = os.path.join(work, label)
    os.makedirs(root)
    config = os.path.join(work, label + ".conf")
    with open(config, "w") as handle:
        handle.write(f"root = {root}\nledger = {ledger}\n")
    return root, config


def process_ticks(pid):
    """User plus system CPU ticks of a process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def cluster_ticks(cluster):
    """CPU ticks of a PostgreSQL cluster's server processes (the postmaster and its children)."""
    if not cluster:
        return 0
    try:
        with open(os.path.join(cluster, "data", "postmaster.pid")) as handle:
            master = int(handle.readline())
    except (OSError, ValueError):
        return 0
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if int(entry) == master or parent == master:
            total += process_ticks(entry)
    return total


def visible_names(directory, suffix=""):
    """How many names in `directory` end with `suffix`, hidden ones (a writer's temporary files) aside."""
    try:
        return sum(1 for name in os.listdir(directory) if not name.startswith(".") and name.endswith(suffix))
    except FileNotFoundError:
        return 0


def cluster_psql(cluster, sql, database="postgres"):
    """One statement on the bench's cluster; its output."""
    result = subprocess.run(["psql", "-h", os.path.join(cluster, "socket"), "-U", "postgres", "-d", database, "-qAt",
                             "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, text=True,
                            timeout=60)
    return result.stdout.strip()


def count_statements(cluster):
    """Loads pg_stat_statements into the bench's cluster (a restart); False when it cannot."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_postgres.sh")
    try:
        cluster_psql(cluster, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        subprocess.run([script, "halt", cluster], check=True, capture_output=True, timeout=120)
        subprocess.run([script, "resume", cluster], check=True, capture_output=True, timeout=120,
                       env={**os.environ, "PG_FSYNC": "on"})
        cluster_psql(cluster, "CREATE EXTENSION pg_stat_statements")
        return True
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return False


def statements_run(cluster, database):
    """Statements the server ran in `database` since the last reset (pg_stat_statements)."""
    return int(cluster_psql(cluster, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                                     f"WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{database}')"))


def ledger_ingest(a, work, out_dir, label, ledger, count, cluster=None, database=None):
    root, config = ledger_root(work, label, ledger)
    staging = os.path.join(work, label + "-staging")
    os.makedirs(staging)
    names = []
    for index in range(count):
        name = f"small-{index:05d}.png"
        with open(os.path.join(staging, name), "wb") as handle:
            handle.write(tiny_png(500_000 + index))
        names.append(name)
    os.sync()
    daemon = Daemon(a.facewatch, root, os.path.join(out_dir, f"daemon-{label}.log"), ["--config", config])
    try:
        daemon.start()
        ticks = process_ticks(daemon.process.pid), cluster_ticks(cluster)
        if database:
            cluster_psql(cluster, "SELECT pg_stat_statements_reset()")
        start = time.perf_counter()
        for name in names:
            os.rename(os.path.join(staging, name), os.path.join(daemon.inbox, name))
        # The bench's polling must not take the cores the daemon works on: a `facewatch stats` is a
        # process start (tens of ms of CPU), so the ledger is asked only once the inbox is empty
        # (ingest) and once every result document exists (drain); directory listings until then.
        ingested = wait_until(lambda: visible_names(daemon.inbox) == 0
                              and ledger_stats(a.facewatch, config)["total"] >= count, a.timeout,
                              f"{count} records", 0.01, daemon)

        def drained():
            if visible_names(daemon.results, ".json") < count:
                return False
            document = ledger_stats(a.facewatch, config)
            return document["completed"] + document["failed"] >= count

        finished = wait_until(drained, a.timeout * 4, "the backlog to drain", 0.1, daemon)
        hertz = os.sysconf("SC_CLK_TCK")
        cpu = ((process_ticks(daemon.process.pid) - ticks[0]) / hertz * 1000.0 / count,
               (cluster_ticks(cluster) - ticks[1]) / hertz * 1000.0 / count)
        statements = statements_run(cluster, database) / count if database else None
    finally:
        daemon.stop()
    return count / (ingested - start), count / (finished - start), cpu, statements


def ledger_latency(a, work, out_dir, label, ledger, picks):
    root, config = ledger_root(work, label, ledger)
    staging = os.path.join(work, label + "-staging")
    os.makedirs(staging)
    daemon = Daemon(a.facewatch, root, os.path.join(out_dir, f"daemon-{label}.log"),
                    ["--config", config, "--workers", "1", "--no-dedup"])
    rows = []
    try:
        daemon.start()

        drop = dropper(a, daemon, staging)
        drop(picks[0])  # warm-up
        for index in range(a.latency_drops):
            rows.append(drop(picks[index % len(picks)]))
        seconds = logged_encode_seconds(daemon, rows[-1][0])
    finally:
        daemon.stop()
    overheads = [latency - seconds[name] * 1000.0 for name, latency in rows if name in seconds]
    if not overheads:
        raise BenchError(f"{label}: no `completed ... seconds=` line for the drops")
    return statistics.median(overheads), statistics.median(latency for _, latency in rows)


def bench_postgres(a, work, out_dir, encoded, summary):
    print(f"\n(f) the PostgreSQL ledger against LMDB: ingest of {a.pg_files:,} tiny PNGs (default workers), "
          f"{a.latency_drops} drops of a face image into an idle daemon (1 worker, dedup off)", flush=True)
    faces = sorted((engine_ms(line), path) for path, line in encoded.items()
                   if line.get("status") == "completed" and line.get("faces") and engine_ms(line) is not None)
    if not faces:
        raise BenchError("no image with a face in the folder: nothing to measure latency with")
    picks = [faces[len(faces) // 2][1]]  # the median face image, every drop the same
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_postgres.sh")
    started = subprocess.run([script, "start"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PG_FSYNC": "on"})
    if started.returncode != 0:
        raise BenchError(f"cannot start a PostgreSQL cluster: {started.stderr.strip()}")
    cluster = started.stdout.strip()
    counting = count_statements(cluster)
    if not counting:
        print("  (pg_stat_statements cannot be loaded: no statement counts)", flush=True)
    ingest, latency, drains, cpus = {}, {}, {}, []
    try:
        for round_index, backend in enumerate(["lmdb", "postgres", "postgres", "lmdb"]):
            label = f"ledger-{backend}-{round_index}"
            database = f"bench_{round_index}_i" if backend != "lmdb" else None
            ledger = "lmdb" if backend == "lmdb" else postgres_database(cluster, database)
            rate, drain, cpu, statements = ledger_ingest(a, work, out_dir, label + "-ingest", ledger, a.pg_files,
                                                         cluster, database if counting else None)
            ledger = "lmdb" if backend == "lmdb" else postgres_database(cluster, f"bench_{round_index}_l")
            overhead, median = ledger_latency(a, work, out_dir, label + "-latency", ledger, picks)
            print(f"  {backend:<9} run {round_index + 1}: ingest {rate:,.0f} files/s, drain {drain:,.0f} files/s "
                  f"(per file: CPU in the daemon {cpu[0]:.2f} ms, in PostgreSQL {cpu[1]:.2f} ms, together "
                  f"{cpu[0] + cpu[1]:.2f} ms"
                  + (f"; {statements:.2f} statements" if statements is not None else "") + "); "
                  f"drop-to-JSON median {median:.1f} ms, overhead median {overhead:.1f} ms; {load_text()}", flush=True)
            ingest[backend] = max(ingest.get(backend, 0.0), rate)
            drains[backend] = max(drains.get(backend, 0.0), drain)
            latency[backend] = min(latency.get(backend, float("inf")), overhead)
            if backend == "postgres":
                cpus.append(cpu[0] + cpu[1])
    finally:
        subprocess.run([script, "stop", cluster], capture_output=True, timeout=120)
    extra_ms = 1000.0 / ingest["postgres"] - 1000.0 / ingest["lmdb"]
    print(f"  best of each: ingest lmdb {ingest['lmdb']:,.0f} files/s, postgres {ingest['postgres']:,.0f} files/s "
          f"({extra_ms:+.2f} ms per file); latency overhead lmdb {latency['lmdb']:.1f} ms, postgres "
          f"{latency['postgres']:.1f} ms ({latency['postgres'] - latency['lmdb']:+.1f} ms)")
    print(f"  best drain: lmdb {drains['lmdb']:,.0f} files/s, postgres {drains['postgres']:,.0f} files/s "
          f"(target for postgres: 600 files/s or more)")
    summary.append(("(f) ingest lmdb / postgres", f"{ingest['lmdb']:,.0f} / {ingest['postgres']:,.0f}/s", "none",
                    True))
    summary.append(("(f) drain lmdb / postgres", f"{drains['lmdb']:,.0f} / {drains['postgres']:,.0f}/s",
                    ">= 600/s (postgres)", drains["postgres"] >= 600))
    summary.append(("(f) CPU per tiny file, postgres (both)", f"{min(cpus):.2f} to {max(cpus):.2f} ms",
                    "<= 3.3 ms", max(cpus) <= 3.3))
    summary.append(("(f) latency overhead lmdb / postgres", f"{latency['lmdb']:.1f} / {latency['postgres']:.1f} ms",
                    "<= 8 ms (postgres)", latency["postgres"] <= 8.0))


def main():
    ap = argparse.ArgumentParser(description="facewatch serve: latency, ingest, memory and scaling.")
    ap.add_argument("dir", help="folder of images (faces) for the latency and scaling parts")
    ap.add_argument("--facewatch", required=True, help="the facewatch binary (release build)")
    ap.add_argument("--files", type=int, default=10_000, help="small files for the ingest part (10000)")
    ap.add_argument("--min-seconds", type=float, default=30.0,
                    help="the scaling run with 2 workers lasts about this long (copies of the folder)")
    ap.add_argument("--latency-drops", type=int, default=15, help="measured drops in the latency part")
    ap.add_argument("--scaling-rounds", type=int, default=2,
                    help="scaling runs of each worker count, alternating (2: 1, 2, 2, 1)")
    ap.add_argument("--parts", default="a,b,c,d,e,f", help="which parts to run (a,b,c,d,e,f)")
    ap.add_argument("--pg-files", type=int, default=3_000, help="tiny files per ingest run of part f (3000)")
    ap.add_argument("--bench-root", help="the facewatch-bench-root binary (default: next to --facewatch)")
    ap.add_argument("--startup-records", type=int, default=100_000, help="records of the start-up root (100000)")
    ap.add_argument("--startup-runs", type=int, default=5, help="timed starts of each root (5)")
    ap.add_argument("--memory-images", type=int, default=3, help="50-megapixel images of the memory part (3)")
    ap.add_argument("--memory-budget", type=int, default=1_500_000_000,
                    help="--memory-budget of the memory part, bytes (1500000000)")
    ap.add_argument("--timeout", type=float, default=300.0, help="longest wait for one step, seconds")
    ap.add_argument("--work", default=".cache/bench/daemon-roots",
                    help="where daemon roots are made (removed afterwards); on the disk being measured")
    ap.add_argument("--out", default=".cache/bench", help="folder for logs")
    ap.add_argument("--keep", action="store_true", help="keep the daemon roots")
    a = ap.parse_args()
    parts = {p.strip() for p in a.parts.split(",") if p.strip()}
    a.facewatch = os.path.abspath(a.facewatch)
    a.bench_root = os.path.abspath(a.bench_root or os.path.join(os.path.dirname(a.facewatch), "facewatch-bench-root"))
    if not os.path.isdir(a.dir):
        sys.exit(f"bench-daemon: {a.dir} is not a folder")
    if not os.access(a.facewatch, os.X_OK):
        sys.exit(f"bench-daemon: {a.facewatch} is missing; run make build")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.abspath(os.path.join(a.out, f"daemon-{stamp}"))
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(a.work, exist_ok=True)
    work = os.path.abspath(os.path.join(a.work, f"{stamp}-{os.getpid()}"))
    os.makedirs(work)

    print(f"\nbench-daemon: facewatch serve on {machine()}")
    print(f"bench-daemon: roots in {work} ({filesystem_of(work)}), logs in {out_dir}")
    print(f"bench-daemon: at start, {load_text()}", flush=True)
    summary = []
    started = time.perf_counter()
    try:
        files = image_files(a.dir)
        encoded, one_pass = {}, 0.0
        if parts & {"a", "c", "f"}:
            encoded, one_pass = encode_timings(a.facewatch, a.dir, os.path.join(out_dir, "encode-1.jsonl"))
            print(f"bench-daemon: `facewatch encode --workers 1 --timings` on {len(files)} files of {a.dir}: "
                  f"{one_pass:.1f} s", flush=True)
        if "a" in parts:
            bench_latency(a, work, out_dir, encoded, summary)
        if "b" in parts:
            bench_ingest(a, work, out_dir, summary)
        if "c" in parts:
            bench_scaling(a, work, out_dir, files, one_pass, summary)
        if "d" in parts:
            bench_startup(a, work, out_dir, summary)
        if "e" in parts:
            bench_memory(a, work, out_dir, summary)
        if "f" in parts:
            bench_postgres(a, work, out_dir, encoded, summary)
    except BenchError as error:
        print(f"bench-daemon: error: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("bench-daemon: interrupted", file=sys.stderr)
        return 130
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nbench-daemon summary ({time.perf_counter() - started:.0f} s; at end, {load_text()}):")
    for label, value, target, ok in summary:
        print(f"  {label:<44} {value:>14}   target {target:<14} {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
