"""Real-recordings check: restore ../shared/realcheck's 3 kHz inputs and score them against the originals.

    python scripts/realcheck.py [--dir ../shared/realcheck] [--weights W.safetensors ...]
        [--phase band,none] [--json out.json]

Each model (the shipped default when no ``--weights`` is given; ``default``
may also be named among them) restores every ``input3k_N.wav`` with
``tdpr restore --force`` exactly as a user would (a subprocess; ``--force``
because detection calls two of the four wideband), then the output is scored
against ``ref_N.wav``:

- LSD (ssr_eval, ``evaluate.lsd``);
- per 500 Hz band from 3 to 8 kHz, the mean of ssr_eval's per-bin term
  ``log10(S_ref**2 / S_est**2)``: the level bias in the log domain LSD sees
  (+1.0: 10 dB too quiet);
- the RMS of that term over 50 Hz .. 2.5 kHz: whether the model kept the
  band the input still has (compare with the input row);
- the 62.5 Hz comb of the output (``comb.comb_db``, dB).

Never train or tune on these four clips (their README): they are a sanity
check of behaviour on real media. Markdown to stdout, progress to stderr.
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

from tdpr_cli.comb import comb_db
from tdpr_cli.commands.evaluate import load_16k
from tdpr_cli.evaluate import lsd, ssr_log_ratio, ssr_stft_params, stft

SR = 16000
BANDS = [(lo, lo + 500.0) for lo in np.arange(3000.0, 8000.0, 500.0)]
LOW_BAND = (50.0, 2500.0)


def band_terms(est: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Per-band mean of ssr_eval's per-bin term, and its RMS over ``LOW_BAND``."""
    n_fft, hop = ssr_stft_params(SR)
    d = ssr_log_ratio(np.abs(stft(est, n_fft, hop)), np.abs(stft(ref, n_fft, hop))).reshape(-1, n_fft // 2 + 1)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SR)
    out = {f"bias_{lo / 1000:g}k": float(d[:, (freqs >= lo) & (freqs < hi)].mean()) for lo, hi in BANDS}
    low = (freqs >= LOW_BAND[0]) & (freqs < LOW_BAND[1])
    out["low_rms"] = float(np.sqrt(np.mean(d[:, low] ** 2)))
    return out


def restore(inp: Path, out: Path, weights: str, phase: str) -> None:
    cmd = [sys.executable, "-m", "tdpr_cli", "restore", str(inp), str(out), "--force", "--phase", phase,
           "--threads", "1", "--quiet", "--overwrite"]
    if weights != "default":
        digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
        cmd += ["--weights", weights, "--sha256", digest]
    subprocess.run(cmd, check=True)


def score(model: str, phase: str, folder: Path, tmp: Path) -> dict:
    rows = []
    for inp in sorted(folder.glob("input3k_*.wav")):
        ref = folder / inp.name.replace("input3k_", "ref_")
        out = tmp / f"{inp.stem}.wav"
        restore(inp, out, model, phase)
        est, r = load_16k(out), load_16k(ref)
        n = min(est.shape[-1], r.shape[-1])
        rows.append({"file": inp.name, "lsd": lsd(est[..., :n], r[..., :n]), "comb": comb_db(est),
                     **band_terms(est[..., :n], r[..., :n])})
    mean = {k: float(np.mean([row[k] for row in rows])) for k in rows[0] if k != "file"}
    return {"model": model, "phase": phase, "files": rows, "mean": mean}


def input_row(folder: Path) -> dict:
    rows = []
    for inp in sorted(folder.glob("input3k_*.wav")):
        est, r = load_16k(inp), load_16k(folder / inp.name.replace("input3k_", "ref_"))
        rows.append({"file": inp.name, "lsd": lsd(est, r), "comb": comb_db(est), **band_terms(est, r)})
    return {"model": "input", "phase": "-", "files": rows,
            "mean": {k: float(np.mean([row[k] for row in rows])) for k in rows[0] if k != "file"}}


def markdown(results: list[dict]) -> str:
    keys = ["lsd", "low_rms", "comb", *(f"bias_{lo / 1000:g}k" for lo, _ in BANDS)]
    lines = ["| model | phase | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for res in results:
        lines.append(f"| {res['model']} | {res['phase']} | " + " | ".join(f"{res['mean'][k]:.3f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realcheck")
    ap.add_argument("--weights", nargs="*", default=["default"])
    ap.add_argument("--phase", default="band,none")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results = [input_row(args.dir)]
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.weights:
            for phase in args.phase.split(","):
                print(f"realcheck: {model} --phase {phase}", file=sys.stderr)
                results.append(score(model, phase, args.dir, Path(tmp)))
    sys.stdout.write(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
