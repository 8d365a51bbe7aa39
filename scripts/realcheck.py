"""Real-recordings check: restore ../shared/realcheck's 3 kHz inputs and score them against the originals.

    python scripts/realcheck.py [--dir ../shared/realcheck] [--weights W.safetensors ...]
        [--vocoder NAME ...] [--phase band,none] [--cutoff 3000|auto] [--keep both|on|off] [--json out.json]

Each model (the shipped default when no ``--weights`` is given; ``default``
may also be named among them) restores every ``input3k_N.wav`` with
``tdpr restore --cutoff 3000`` exactly as a user would (a subprocess; the
nominal cutoff of the set, because detection calls two of the four wideband,
and ``--force`` now asks for a cutoff there), with and without
``--keep-input-band``, then the output is scored against ``ref_N.wav``:

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
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tdpr_cli.digest import sha256_file
from tdpr_cli.evaluation.comb import comb_db
from tdpr_cli.evaluation.files import load_16k
from tdpr_cli.evaluation.metrics import band_bias, band_log_rms, lsd

SR = 16000
BIAS_FROM_HZ = 3000.0  # level bias per 500 Hz band from here to 8 kHz
LOW_BAND = (50.0, 2500.0)


def restore(inp: Path, out: Path, weights: str, phase: str, cutoff: str, keep: bool, vocoder: str = "default") -> None:
    cmd = [sys.executable, "-m", "tdpr_cli", "restore", str(inp), str(out), "--cutoff", cutoff, "--phase", phase,
           "--threads", "1", "--quiet", "--overwrite", "--keep-input-band" if keep else "--no-keep-input-band"]
    if weights != "default":
        cmd += ["--weights", weights, "--sha256", sha256_file(Path(weights))]
    if vocoder != "default":
        cmd += ["--vocoder", vocoder]
    subprocess.run(cmd, check=True)


def file_row(name: str, est: np.ndarray, ref: np.ndarray) -> dict:
    """LSD, comb, per-band level bias and low-band RMS of one estimate against its reference."""
    n = min(est.shape[-1], ref.shape[-1])
    est, ref_n = est[..., :n], ref[..., :n]
    return {"file": name, "lsd": lsd(est, ref_n), "comb": comb_db(est),
            **band_bias(est, ref_n, BIAS_FROM_HZ, SR), "low_rms": band_log_rms(est, ref_n, LOW_BAND, SR)}


def score(model: str, phase: str, folder: Path, tmp: Path | None, cutoff: str = "", keep: bool = True,
          vocoder: str = "default") -> dict:
    """Every pair of ``folder`` scored; ``model`` "input" scores the 3 kHz inputs themselves."""
    rows = []
    for inp in sorted(folder.glob("input3k_*.wav")):
        ref = load_16k(folder / inp.name.replace("input3k_", "ref_"))
        if model == "input":
            est = load_16k(inp)
        else:
            out = tmp / f"{inp.stem}.wav"
            restore(inp, out, model, phase, cutoff, keep, vocoder)
            est = load_16k(out)
        rows.append(file_row(inp.name, est, ref))
    mean = {k: float(np.mean([row[k] for row in rows])) for k in rows[0] if k != "file"}
    return {"model": model, "vocoder": "-" if model == "input" else vocoder, "phase": phase, "keep": keep, "files": rows, "mean": mean}


def markdown(results: list[dict]) -> str:
    keys = ["lsd", "low_rms", "comb", *(k for k in results[0]["mean"] if k.startswith("bias_"))]
    lines = ["| model | vocoder | phase | kept band | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 4)]
    for res in results:
        kept = "-" if res["model"] == "input" else ("yes" if res["keep"] else "no")
        cells = " | ".join(f"{res['mean'][k]:.3f}" for k in keys)
        lines.append(f"| {res['model']} | {res.get('vocoder', '-')} | {res['phase']} | {kept} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realcheck")
    ap.add_argument("--weights", nargs="*", default=["default"])
    ap.add_argument("--phase", default="band,none")
    ap.add_argument("--cutoff", default="3000", help="tdpr restore --cutoff (auto: detect; wideband files pass through)")
    ap.add_argument("--keep", choices=("both", "on", "off"), default="both", help="--keep-input-band on, off or both")
    ap.add_argument("--vocoder", nargs="*", default=["default"], help="vocoder lock names (tdpr restore --vocoder)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    results = [score("input", "-", args.dir, None)]
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.weights:
            for phase in args.phase.split(","):
                for vocoder in args.vocoder if phase != "none" else ["default"]:
                    for keep in {"both": (True, False), "on": (True,), "off": (False,)}[args.keep]:
                        print(f"realcheck: {model} --vocoder {vocoder} --phase {phase} keep={keep}", file=sys.stderr)
                        results.append(score(model, phase, args.dir, Path(tmp), args.cutoff, keep, vocoder))
    sys.stdout.write(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
