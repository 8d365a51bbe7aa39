"""Byte-identity check of `tdpr restore` outputs against stored sha256 values.

Refactors must not change what tdpr writes. This script builds a fixed set of
inputs (mono and stereo, 44.1 kHz and 16 kHz, 3 s of band-limited tones and
noise from fixed seeds), restores them with the shipped models in each phase
mode (band, paper, none), and compares the sha256 of every output file with
tests/golden/restore-sha256.json.

    python scripts/golden_outputs.py            # check, exit 1 on any change
    python scripts/golden_outputs.py --update   # store the current hashes

The hashes hold for one machine and torch build: float kernels differ between
CPUs, so run the check before and after a change on the same machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

STORE = Path(__file__).resolve().parent.parent / "tests" / "golden" / "restore-sha256.json"
MODES = ("band", "paper", "none")
INPUTS = {  # name: (sample rate in Hz, channels)
    "mono-44k.wav": (44100, 1),
    "stereo-44k.wav": (44100, 2),
    "mono-16k.wav": (16000, 1),
    "stereo-16k.wav": (16000, 2),
}


def make_input(sr: int, channels: int, seed: int) -> np.ndarray:
    """3 s of decaying partials plus noise, low-passed at 3 kHz; (samples, channels) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(3 * sr) / sr
    out = np.zeros((t.size, channels))
    for ch in range(channels):
        for k, f0 in enumerate((196.0, 261.6, 329.6)):
            for h in range(1, 30):
                phase = rng.uniform(0, 2 * np.pi)
                env = np.exp(-t * (1.0 + 0.3 * h)) * (0.2 / h)
                out[:, ch] += env * np.sin(2 * np.pi * f0 * h * t + phase) * (1 + 0.1 * k)
        out[:, ch] += 0.003 * rng.standard_normal(t.size)
    sos = signal.butter(8, 3000, fs=sr, output="sos")
    return (0.5 * signal.sosfiltfilt(sos, out, axis=0) / np.abs(out).max()).astype(np.float32)


def restore_all(work: Path) -> dict[str, str]:
    """Restore every input in each mode; return {mode/name: sha256 of the output file}."""
    src = work / "in"
    src.mkdir()
    for seed, (name, (sr, ch)) in enumerate(INPUTS.items()):
        sf.write(src / name, make_input(sr, ch, seed), sr, subtype="PCM_16")
    hashes = {}
    for mode in MODES:
        dst = work / mode
        cmd = [sys.executable, "-m", "tdpr_cli", "restore", str(src), "--out", str(dst),
               "--phase", mode, "--device", "cpu", "--threads", "1", "--offline", "--quiet"]
        subprocess.run(cmd, check=True)
        for name in INPUTS:
            hashes[f"{mode}/{name}"] = hashlib.sha256((dst / name).read_bytes()).hexdigest()
    return hashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="store the current hashes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hashes = restore_all(Path(tmp))
    if args.update:
        STORE.parent.mkdir(parents=True, exist_ok=True)
        STORE.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"stored {len(hashes)} hashes in {STORE}", file=sys.stderr)
        return 0
    stored = json.loads(STORE.read_text())
    changed = sorted(k for k in stored.keys() | hashes.keys() if stored.get(k) != hashes.get(k))
    for key in changed:
        print(f"changed: {key}", file=sys.stderr)
    print(f"{len(hashes) - len(changed)}/{len(hashes)} outputs byte-identical", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
