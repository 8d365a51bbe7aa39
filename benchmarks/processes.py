"""Whole-process measurements for speed.py: ``tdpr restore`` wall time and peak RSS, ``tdpr --help``.

Each measurement is a fresh ``tdpr`` child (Python start, imports, model
loading and verification included, as a user meets it). Peak RSS is the
child's own ``ru_maxrss`` from ``os.wait4``, not the benchmark's.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from bench_env import load_avg, make_input, pin_models, run_child, tdpr_args


def log(msg: str) -> None:
    print(f"[speed] {msg}", file=sys.stderr, flush=True)


def restore_process(label: str, env: dict, src: Path, out: Path, duration: float, *extra: str) -> dict:
    """One ``tdpr restore SRC OUT`` child: wall, x real time, peak RSS."""
    run = run_child(tdpr_args("restore", str(src), str(out), "--overwrite", "--quiet", *extra), env)
    if run.returncode != 0:
        raise SystemExit(f"tdpr restore failed ({run.returncode}): {run.stderr}")
    log(f"{label}: {run.wall_s:.1f} s, {duration / run.wall_s:.1f}x, CPU {run.cpu_s:.1f} s, {run.max_rss_mb:.0f} MB (load {run.load:.2f})")
    return {"label": label, "args": list(extra), "wall_s": run.wall_s, "x_rt": duration / run.wall_s, "cpu_s": run.cpu_s,
            "max_rss_mb": run.max_rss_mb, "load": run.load, "input_s": duration}


def whole_processes(env: dict, src: Path, tmp: Path, duration: float, threads: list[int], cuda: bool) -> list[dict]:
    """The default pipeline as a process: torch's default thread count, each ``--threads N``, CUDA.

    Each CPU row runs with the OpenMP wait policy as inherited, and again with
    ``OMP_WAIT_POLICY=PASSIVE``: on a shared CPU, OpenMP threads that spin at
    barriers while their core runs another process stall each other.
    """
    rows, out = [], tmp / "p.wav"
    passive = dict(env, OMP_WAIT_POLICY="PASSIVE")
    policy = env.get("OMP_WAIT_POLICY", "unset")
    import torch

    own = [n for n in threads if n != torch.get_num_threads()]  # torch's default is measured anyway
    for extra in ([], *(["--threads", str(n)] for n in own)):
        what = " ".join(extra) or "torch default threads"
        rows.append(restore_process(f"tdpr restore, CPU, {what}, OMP policy {policy}", env, src, out, duration, *extra))
        rows.append(restore_process(f"tdpr restore, CPU, {what}, OMP policy PASSIVE", passive, src, out, duration, *extra))
    if cuda:
        for prec in ("fp32", "fp16"):
            rows.append(restore_process(f"tdpr restore, CUDA, batch 16, {prec}", env, src, tmp / "p.wav", duration,
                                        "--device", "cuda", "--batch-size", "16", "--precision", prec))
    return rows


def long_rss(models: tuple, tmp: Path, minutes: float, label: str, threads: int) -> dict:
    """Peak RSS of ``tdpr restore`` on a 1-minute and a ``minutes``-long stereo 44.1 kHz file.

    Both runs use the same models (``label`` says which) and thread count, so
    the comparison isolates what grows with the file's length.
    """
    env = pin_models(tmp / f"lock-{label}", {f"bench-{label}-tdcnn": models[0], f"bench-{label}-vocoder": models[1]})
    res = {"models": label, "threads": threads}
    for name, seconds in (("1 min", 60.0), (f"{minutes:g} min", minutes * 60.0)):
        src = tmp / f"long-{seconds:.0f}.wav"
        if not src.exists():
            log(f"writing {seconds / 60:g} min of stereo 44.1 kHz input")
            make_input(src, seconds, seed=1)
        res[name] = restore_process(f"RSS {name}, {label} models", env, src, tmp / "long-out.wav", seconds, "--threads", str(threads))
        (tmp / "long-out.wav").unlink(missing_ok=True)
        if seconds > 60:
            src.unlink()  # 600 MB per hour; do not keep it
    short, long_ = res["1 min"]["max_rss_mb"], res[f"{minutes:g} min"]["max_rss_mb"]
    res["growth"] = long_ / short - 1.0
    return res


def help_time(runs: int = 7) -> dict:
    """Wall time of ``tdpr --help`` through the entry point installed next to this Python.

    Not the first ``tdpr`` on PATH: a pyenv shim there adds a bash start-up
    that a normal install does not have.
    """
    exe = Path(sys.executable).parent / "tdpr"
    args = [str(exe), "--help"] if exe.is_file() else tdpr_args("--help")
    walls = [run_child(args, dict(os.environ)).wall_s for _ in range(runs)]
    return {"command": " ".join(args), "min_s": min(walls), "median_s": statistics.median(walls), "load": load_avg()}
