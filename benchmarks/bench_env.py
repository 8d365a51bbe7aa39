"""Helpers shared by the benchmarks: inputs, pinned random models, child processes, load.

Nothing here is timed itself. Inputs are written block by block so an hour of
stereo audio never sits in memory; models get random weights (speed does not
depend on the values) and are pinned as the defaults of a throw-away user
lock, exactly as tests/conftest.py does, so ``tdpr restore`` loads them
through its normal, verified path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def load_avg() -> float:
    """One-minute load average (runnable processes; the machine has ``os.cpu_count()`` cores)."""
    return os.getloadavg()[0]


def make_input(path: Path, seconds: float, sr: int = 44100, channels: int = 2,
               cutoff_hz: float = 3000.0, seed: int = 0, block_s: float = 10.0) -> Path:
    """Write a band-limited, music-like PCM-16 WAV of ``seconds``, block by block.

    Decaying harmonic notes (a new one every 0.5 s per channel) plus a little
    noise, low-passed at ``cutoff_hz`` by a 10th-order Butterworth whose state
    carries across blocks, so the file is one continuous signal.
    """
    import soundfile as sf
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    sos = butter(10, cutoff_hz, fs=sr, output="sos")
    zi = np.zeros((sos.shape[0], channels, 2))  # filter state (sections, C, 2): silence before the file
    block, done, note = int(block_s * sr), 0, int(0.5 * sr)
    total = int(seconds * sr)
    with sf.SoundFile(str(path), "w", sr, channels, "PCM_16") as f:
        while done < total:
            n = min(block, total - done)
            t = (done + np.arange(n)) / sr
            x = 0.003 * rng.standard_normal((channels, n))
            for c in range(channels):
                f0 = 110.0 * 2 ** (rng.integers(0, 36, size=1)[0] / 12)
                env = np.exp(-((done + np.arange(n)) % note) / (0.3 * sr))
                for k in range(1, 16):
                    x[c] += env * np.sin(2 * np.pi * f0 * k * t + c) / k
            x, zi = sosfilt(sos, x, axis=-1, zi=zi)
            f.write((0.2 * x).T.astype(np.float32))
            done += n
    return path


def pin_models(folder: Path, models: dict[str, object]) -> dict[str, str]:
    """Export ``{name: model}`` into ``folder``, pin each as its kind's default; env for tdpr."""
    from tdpr_cli.models.load import export
    from tdpr_cli.weights.pin import write_pin

    weights = folder / "models"
    weights.mkdir(parents=True, exist_ok=True)
    lock = folder / "weights.lock"
    lock.write_text("version = 1\n")
    for name, model in models.items():
        export(model, weights, name)
        write_pin(name, model.kind, weights, lock=lock, default=True)
    return dict(os.environ, TDPR_CONFIG_DIR=str(folder), TDPR_CACHE_DIR=str(folder / "cache"), HF_HUB_OFFLINE="1")


@dataclass(frozen=True)
class ChildRun:
    """Wall time, CPU time (user + system, all threads) and peak resident memory of one child."""

    wall_s: float
    cpu_s: float
    max_rss_mb: float
    returncode: int
    stderr: str
    load: float  # one-minute load average when it ended


#: Run argv[2:] and write its wall time and own peak RSS (KiB) to argv[1]. A small,
#: stdlib-only launcher, because a child's ru_maxrss starts from the RSS of the
#: process that forked it (the benchmark holds torch and several models).
LAUNCHER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_kib": usage.ru_maxrss,
               "rc": os.waitstatus_to_exitcode(status)}, f)
"""


def run_child(args: list[str], env: dict[str, str]) -> ChildRun:
    """Run ``args`` through ``LAUNCHER``: wall time and that process's own peak RSS."""
    import json
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, out.name, *args], env=env,
                              stderr=subprocess.PIPE, check=False)
        res = json.loads(Path(out.name).read_text() or "{}")
    if not res:
        raise RuntimeError(f"launcher failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    err = proc.stderr.decode(errors="replace")[-2000:]
    return ChildRun(res["wall_s"], res["cpu_s"], res["max_rss_kib"] / 1024.0, res["rc"], err, load_avg())


def tdpr_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "tdpr_cli", *args]


def params_m(model) -> float:
    """Parameters in millions."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def valset_items(valset: Path, clips: int, cutoff_hz: float) -> list[dict]:
    """The validation set's LR items of its first ``clips`` clips at ``cutoff_hz`` (every filter kind)."""
    import json

    man = json.loads((valset / "manifest.json").read_text())
    ids = {c["id"] for c in man["clips"][:clips]}
    return [i for i in man["items"] if i["clip"] in ids and float(i["cutoff_hz"]) == cutoff_hz]


def emit(result: dict, path: Path | None) -> None:
    """Print ``result`` as JSON on stdout and, with ``path``, also write it there."""
    import json

    text = json.dumps(result, indent=1)
    print(text)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
