"""Folder runs on a small CPU: one process with T threads, or N processes with 1 thread each (issue 14).

Makes ``--files`` band-limited stereo 44.1 kHz files of ``--seconds`` each
(``bench_env.make_input``), then restores the whole folder, side by side in one run:

* ``one process, T threads``: ``tdpr restore IN --out OUT --jobs 1 --threads T``;
* ``N processes x 1 thread``: the folder split into N equal parts, one
  ``tdpr restore PART --out OUT --threads 1`` per part, all started together
  (wall = the last to finish);
* ``--jobs N`` (the built-in process pool), when ``--jobs`` is given, and the
  default (``--jobs auto``: one worker per idle core for 60 s of audio or more);
* ``--ray --ray-workers N --threads 1``, with ``--ray``.

Every run is a fresh ``tdpr`` child, imports and model loading included; the
figure is audio seconds restored per wall second (x real time).

    python benchmarks/folders.py --files 20 --seconds 30 --procs 2 --threads 2 --json results/folders.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_env import emit, load_avg, make_input, tdpr_args


def log(msg: str) -> None:
    print(f"[folders] {msg}", file=sys.stderr, flush=True)


IDLE_WAIT_S = 0.0  # set by --idle-wait


def timed(label: str, commands: list[list[str]], audio_s: float, env: dict[str, str]) -> dict:
    """Start ``commands`` together and wait for all; wall from the first start to the last exit.

    First waits (at most ``IDLE_WAIT_S``) for the 1-minute load average to fall below 0.5, so that
    each run starts on a quiet machine and ``--jobs auto`` sees the cores the previous run left."""
    deadline = time.monotonic() + IDLE_WAIT_S
    while load_avg() >= 0.5 and time.monotonic() < deadline:
        time.sleep(5)
    load = load_avg()
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands]
    errors = [p.communicate()[1].decode(errors="replace") for p in procs]
    wall = time.perf_counter() - t0
    for p, err in zip(procs, errors):
        if p.returncode != 0:
            raise SystemExit(f"{label}: tdpr exited {p.returncode}: {err[-2000:]}")
    log(f"{label}: {wall:.1f} s, {audio_s / wall:.2f}x real time (load {load:.2f})")
    return {"label": label, "wall_s": wall, "x_rt": audio_s / wall, "load": load, "processes": len(commands)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--procs", type=int, default=2, help="N for the split run (1 thread each)")
    ap.add_argument("--threads", type=int, default=2, help="T for the one-process run")
    ap.add_argument("--jobs", type=int, help="also time the built-in pool: tdpr restore --jobs N")
    ap.add_argument("--ray", action="store_true", help="also time --ray --ray-workers N")
    ap.add_argument("--idle-wait", type=float, default=150.0,
                    help="seconds to wait, at most, for the load average to fall below 0.5 before each run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    global IDLE_WAIT_S
    IDLE_WAIT_S = args.idle_wait
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    with tempfile.TemporaryDirectory(prefix="tdpr-folders-") as tmp:
        root = Path(tmp)
        whole = root / "in"
        whole.mkdir()
        parts = [root / f"part{i}" for i in range(args.procs)]
        for p in parts:
            p.mkdir()
        for i in range(args.files):
            f = make_input(whole / f"take{i:03d}.wav", args.seconds, seed=i)
            os.link(f, parts[i % args.procs] / f.name)
        audio_s = args.files * args.seconds
        log(f"{args.files} files x {args.seconds:.0f} s stereo 44.1 kHz in {whole}")
        runs = [timed(f"one process, {args.threads} threads",
                      [tdpr_args("restore", str(whole), "--out", str(root / "out-one"), "--quiet",
                                 "--jobs", "1", "--threads", str(args.threads))], audio_s, env),
                timed(f"{args.procs} processes x 1 thread",
                      [tdpr_args("restore", str(p), "--out", str(root / f"out-{p.name}"), "--quiet", "--threads", "1")
                       for p in parts], audio_s, env)]
        if args.jobs:
            runs.append(timed(f"--jobs {args.jobs}", [tdpr_args("restore", str(whole), "--out", str(root / "out-jobs"),
                                                                "--quiet", "--jobs", str(args.jobs))], audio_s, env))
            runs.append(timed("default (--jobs auto)", [tdpr_args("restore", str(whole), "--out",
                                                                  str(root / "out-auto"), "--quiet")], audio_s, env))
        if args.ray:
            runs.append(timed(f"--ray, {args.procs} workers x 1 thread",
                              [tdpr_args("restore", str(whole), "--out", str(root / "out-ray"), "--quiet", "--ray",
                                         "--ray-workers", str(args.procs), "--threads", "1")], audio_s, env))
    base = runs[0]["wall_s"]
    for r in runs:
        r["speedup_vs_one_process"] = base / r["wall_s"]
    result = {"files": args.files, "seconds": args.seconds, "cpus": os.cpu_count(), "runs": runs}
    emit(result, args.json)


if __name__ == "__main__":
    main()
