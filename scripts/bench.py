#!/usr/bin/env python3
"""`make bench`: facewatch against face_recognition on one folder, in the same run.

    bench.py --facewatch BINARY --reference-python PYTHON DIR [--workers 1,2]
             [--detectors hog,dlib-hog,cnn,dlib-cnn] [--out FOLDER] [--recorded-reference MODEL=JSONL]

Runs face_recognition 1.3.0 (scripts/reference_encode.py) in 1 and in N processes, with model="hog"
when a HOG detector is asked for and with model="cnn" when a CNN one is, and
`facewatch encode --detector D --workers N --timings` for each detector D (facewatch's own
scanner `hog`, dlib's scanner `dlib-hog`, facewatch's own CNN `cnn`, dlib's network code `dlib-cnn`)
and each N; each facewatch run is compared with face_recognition's run of the same model. It prints
for each run: images/s (files in
the folder / wall time of the whole command, model loading included), the mean ms per encoded image
spent decoding, detecting and encoding, the peak memory (RSS; for face_recognition in several
processes, the sum of every process's peak), the CPU time (user + system of the command and every
process it waited for) in all and per file, the load average (1 minute) when the run started and
ended, and whether the results are identical to
face_recognition's in one process (scripts/compare_results.py: same faces and boxes, encodings within
1e-5). Then the ratios. Not a test: the figures depend on the machine.

--recorded-reference cnn=FILE.jsonl takes face_recognition's results for that model from an earlier
`reference_encode.py DIR --detector MODEL --processes N --summary FILE-summary.json --out FILE.jsonl`
run instead of running it again (face_recognition's cnn on the golden set takes over half an hour and
12 GB per process): facewatch's runs are compared with it, and its row gives that run's wall time,
process count and peak memory from the summary, marked "recorded" (its load is not known to this run;
with no --timings in it, its stage times are n/a).

facewatch's per-image timings come from `encode --timings`: each line's "timings" object with
"decode", "detect" and "encode" in seconds (or "decode_ms"... in milliseconds).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ("decode", "detect", "encode")


class Run:
    def __init__(self, label, output):
        self.label, self.output = label, output
        self.wall = 0.0
        self.cpu = None  # user + system seconds, or None when not measured
        self.load = None  # (1-minute load average at the start, at the end)
        self.peak_kib = 0
        self.lines = []
        self.identical = "-"
        self.note = ""

    def stage_ms(self):
        """Mean milliseconds per encoded image for each stage, or None when there are no timings."""
        sums, count = dict.fromkeys(STAGES, 0.0), 0
        for line in self.lines:
            timings = line.get("timings")
            if not isinstance(timings, dict):
                continue
            got = {}
            for stage in STAGES:
                if isinstance(timings.get(stage), (int, float)):
                    got[stage] = timings[stage] * 1000.0
                elif isinstance(timings.get(stage + "_ms"), (int, float)):
                    got[stage] = float(timings[stage + "_ms"])
            if len(got) == len(STAGES):
                count += 1
                for stage in STAGES:
                    sums[stage] += got[stage]
        if count == 0:
            return None
        return {stage: sums[stage] / count for stage in STAGES}


def run_command(command, stdout_path, run=None):
    """Runs a command with stdout to a file; returns (exit status, wall seconds, peak RSS KiB). Sets
    run.cpu (user + system seconds of the command and of the processes it waited for, as wait4
    counts them) and run.load (the 1-minute load average before and after) when a run is given."""
    with open(stdout_path, "w") as out, open(stdout_path + ".stderr", "w") as err:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    if run is not None:
        run.cpu = usage.ru_utime + usage.ru_stime
        run.load = (load_before, os.getloadavg()[0])
    return process.returncode, wall, usage.ru_maxrss


def read_lines(path):
    lines = []
    with open(path, errors="replace") as handle:
        for text in handle:
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict):
                lines.append(value)
    return lines


def stderr_tail(path):
    try:
        with open(path + ".stderr", errors="replace") as handle:
            return "".join(handle.readlines()[-10:])
    except OSError:
        return ""


def reference_model(detector):
    """face_recognition's model a facewatch detector computes."""
    return "cnn" if detector in ("cnn", "dlib-cnn") else "hog"


def run_reference(a, model, processes, out_dir):
    run = Run(f"face_recognition {model}, {processes} process{'es' if processes > 1 else ''}",
              os.path.join(out_dir, f"face_recognition-{model}-{processes}.jsonl"))
    summary = run.output + ".summary.json"
    command = [a.reference_python, os.path.join(HERE, "reference_encode.py"), a.dir, "--timings",
               "--detector", model, "--processes", str(processes), "--out", run.output, "--summary", summary]
    status, run.wall, peak = run_command(command, run.output + ".stdout", run)
    if status != 0:
        sys.exit(f"bench: face_recognition failed (exit status {status}):\n{stderr_tail(run.output + '.stdout')}")
    with open(summary) as handle:
        run.peak_kib = json.load(handle)["total_peak_rss_kib"] if processes > 1 else peak
    run.lines = read_lines(run.output)
    return run


def recorded_reference(model, path):
    """An earlier reference_encode.py run: (processes, Run) from PATH and its summary beside it."""
    stem = path[:-len(".jsonl")] if path.endswith(".jsonl") else path
    for summary in (stem + "-summary.json", stem + ".summary.json", path + ".summary.json"):
        if os.path.isfile(summary):
            break
    else:
        sys.exit(f"bench: no summary beside {path} ({stem}-summary.json, reference_encode.py --summary)")
    with open(summary) as handle:
        values = json.load(handle)
    processes = int(values["processes"])
    run = Run(f"face_recognition {model}, {processes} process{'es' if processes > 1 else ''}", path)
    run.wall = float(values["wall_seconds"])
    run.peak_kib = int(values["total_peak_rss_kib"])
    run.lines = read_lines(path)
    run.note = f"recorded: {path}"
    return processes, run


def run_facewatch(a, detector, workers, out_dir):
    run = Run(f"facewatch {detector}, {workers} worker{'s' if workers > 1 else ''}",
              os.path.join(out_dir, f"facewatch-{detector}-{workers}.jsonl"))
    command = [a.facewatch, "encode", "--detector", detector, "--workers", str(workers), "--timings", a.dir]
    status, run.wall, run.peak_kib = run_command(command, run.output, run)
    if status == 2 and "--timings" in command:
        # An engine without per-image timings yet: measure the rest.
        command.remove("--timings")
        status, run.wall, run.peak_kib = run_command(command, run.output, run)
        run.note = "no --timings"
    if status not in (0, 1):  # 1: some files failed, which the folder may well contain
        sys.exit(f"bench: facewatch encode failed (exit status {status}):\n{stderr_tail(run.output)}")
    run.lines = read_lines(run.output)
    return run


def compare(reference, candidate):
    """Runs compare_results.py (its report goes to CANDIDATE.compare); returns a short verdict."""
    result = subprocess.run([sys.executable, os.path.join(HERE, "compare_results.py"),
                             reference.output, candidate.output], capture_output=True, text=True)
    with open(candidate.output + ".compare", "w") as handle:
        handle.write(result.stdout + result.stderr)
    last = result.stdout.strip().splitlines()[-1:] or ["?"]
    # "ok: images=.. faces=.. problems=0 max_abs_delta=1.2e-07 ..." -> "yes (max delta 1.2e-07)"
    words = dict(w.split("=", 1) for w in last[0].split() if "=" in w)
    delta = words.get("max_abs_delta", "?")
    if result.returncode == 0:
        return f"yes (max delta {delta})"
    return f"NO ({words.get('problems', '?')} problems, see {candidate.output}.compare)"


def warm_page_cache(folder):
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                with open(os.path.join(dirpath, name), "rb") as handle:
                    while handle.read(1 << 20):
                        pass
            except OSError:
                pass


def count_files(folder):
    """Files facewatch and the reference encode: dotfiles and writers' temporary files skipped."""
    def ignored(name):
        return name.startswith(".") or name.endswith((".part", ".tmp", "~"))
    count = 0
    for _, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not ignored(d)]
        count += sum(1 for name in filenames if not ignored(name))
    return count


def main():
    ap = argparse.ArgumentParser(description="facewatch against face_recognition on one folder.")
    ap.add_argument("dir", help="folder of images")
    ap.add_argument("--facewatch", required=True, help="the facewatch binary (release build)")
    ap.add_argument("--reference-python", required=True, help="python of the reference virtualenv")
    ap.add_argument("--workers", default="1,2", help="worker / process counts, comma-separated")
    ap.add_argument("--detectors", default="hog,dlib-hog,cnn,dlib-cnn",
                    help="facewatch detectors to run, comma-separated (hog, cnn: ours; dlib-hog, dlib-cnn: dlib's)")
    ap.add_argument("--out", default=".cache/bench", help="folder for every run's output")
    ap.add_argument("--recorded-reference", action="append", default=[], metavar="MODEL=JSONL",
                    help="face_recognition's results for MODEL (hog or cnn) from an earlier reference_encode.py "
                         "run with --summary, instead of running it")
    a = ap.parse_args()
    counts = [int(n) for n in a.workers.split(",") if n.strip()]
    detectors = [d.strip() for d in a.detectors.split(",") if d.strip()]
    if not os.path.isdir(a.dir):
        sys.exit(f"bench: {a.dir} is not a folder")
    if not os.access(a.facewatch, os.X_OK):
        sys.exit(f"bench: {a.facewatch} is missing; run make build")
    out_dir = os.path.join(a.out, time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=True)
    files = count_files(a.dir)
    warm_page_cache(a.dir)
    print(f"bench: {files} files in {a.dir}; {os.cpu_count()} cores; outputs in {out_dir}", flush=True)

    models = sorted({reference_model(d) for d in detectors}, key=lambda m: m != "hog")
    reference_runs, facewatch_runs, baselines = {}, {}, {}
    recorded = dict(item.split("=", 1) for item in a.recorded_reference)
    for model, path in recorded.items():
        if model not in models:
            sys.exit(f"bench: --recorded-reference {model}: no detector asked for computes face_recognition's {model}")
        processes, run = recorded_reference(model, path)
        reference_runs[model, processes] = baselines[model] = run
    for model in models:
        if model in recorded:
            continue
        for n in counts:
            print(f"bench: face_recognition {model}, {n} process(es) ...", flush=True)
            reference_runs[model, n] = run_reference(a, model, n, out_dir)
    for detector in detectors:
        for n in counts:
            print(f"bench: facewatch {detector}, {n} worker(s) ...", flush=True)
            facewatch_runs[detector, n] = run_facewatch(a, detector, n, out_dir)

    for model in models:
        baselines.setdefault(model, reference_runs.get((model, counts[0])))
    for baseline in baselines.values():
        baseline.identical = "(reference)"
    for (model, n), run in reference_runs.items():
        if run is not baselines[model]:
            run.identical = compare(baselines[model], run)
    for (detector, _), run in facewatch_runs.items():
        run.identical = compare(baselines[reference_model(detector)], run)

    print()
    for model, baseline in baselines.items():
        encoded = sum(1 for line in baseline.lines if "faces" in line and "expect_error" not in line)
        faces = sum(len(line.get("faces") or []) for line in baseline.lines if "expect_error" not in line)
        print(f"{files} files; face_recognition {model}: {encoded} images with {faces} faces, "
              f"{files - encoded} expected to fail")
    print("images/s = files / wall time including model loading; ms = mean per encoded image")
    print("CPU s = user + system of the command and its processes; CPU/file = CPU s / files; "
          "load = 1-minute load average at the start and at the end")
    header = f"{'run':<34} {'wall s':>7} {'images/s':>9} {'CPU s':>8} {'CPU/file':>8} {'load':>9} " \
             f"{'decode ms':>10} {'detect ms':>10} {'encode ms':>10} {'peak MiB':>9}  identical"
    print(header)
    print("-" * len(header))
    for run in list(reference_runs.values()) + list(facewatch_runs.values()):
        ms = run.stage_ms()
        stages = " ".join(f"{ms[s]:>10.1f}" for s in STAGES) if ms else " ".join(f"{'n/a':>10}" for _ in STAGES)
        rate = files / run.wall if run.wall > 0 else 0.0
        note = f"  [{run.note}]" if run.note else ""
        cpu = f"{run.cpu:>8.1f} {run.cpu / files:>8.2f}" if run.cpu is not None else f"{'n/a':>8} {'n/a':>8}"
        load = f"{run.load[0]:>4.1f}-{run.load[1]:<4.1f}" if run.load else f"{'n/a':>9}"
        print(f"{run.label:<34} {run.wall:>7.2f} {rate:>9.2f} {cpu} {load:>9} {stages} "
              f"{run.peak_kib / 1024:>9.0f}  {run.identical}{note}")
    print()
    for detector in detectors:
        for n in counts:
            model = reference_model(detector)
            if (model, n) not in reference_runs:
                continue
            fw, fr = facewatch_runs[detector, n], reference_runs[model, n]
            cpu = f", {fr.cpu / fw.cpu:.2f}x less CPU" if fr.cpu and fw.cpu else ""
            print(f"ratio facewatch {detector} {n} worker(s) / face_recognition {model} {n} process(es): "
                  f"{fr.wall / fw.wall:.2f}x images/s{cpu}, {fw.peak_kib / max(fr.peak_kib, 1):.2f}x memory")
        if len(counts) > 1 and (reference_model(detector), counts[0]) in reference_runs:
            fw, fr = facewatch_runs[detector, counts[-1]], reference_runs[reference_model(detector), counts[0]]
            print(f"ratio facewatch {detector} {counts[-1]} workers / face_recognition {reference_model(detector)} "
                  f"1 process: "
                  f"{fr.wall / fw.wall:.2f}x images/s")
    if len(detectors) > 1:
        for n in counts:
            ms = {d: facewatch_runs[d, n].stage_ms() for d in detectors}
            if all(ms.values()):
                figures = ", ".join(f"{d} {ms[d]['detect']:.1f}" for d in detectors)
                print(f"detect ms per image, {n} worker(s): {figures}")
        for ours, dlibs in (("hog", "dlib-hog"), ("cnn", "dlib-cnn")):
            for n in counts:
                if (ours, n) in facewatch_runs and (dlibs, n) in facewatch_runs:
                    a_ms, b_ms = facewatch_runs[ours, n].stage_ms(), facewatch_runs[dlibs, n].stage_ms()
                    if a_ms and b_ms and a_ms["detect"] > 0:
                        print(f"detect speed-up {ours} over {dlibs}, {n} worker(s): "
                              f"{b_ms['detect'] / a_ms['detect']:.2f}x")
    if any(run.note for run in facewatch_runs.values()):
        print("note: this facewatch has no `encode --timings`; its stage times are n/a")


if __name__ == "__main__":
    main()
