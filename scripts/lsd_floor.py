"""How low can LSD go without the reference's fine structure? An envelope oracle on the valset.

    python scripts/lsd_floor.py [--valset data/valset] [--clips 8] [--seed 0]

For each reference clip and cutoff, the "estimate" keeps the reference's STFT
below the cutoff (the ssr_eval STFT: 743/160 at 16 kHz) and, above it, draws
magnitudes whose power is the reference's own power smoothed over F bins x N
frames, times unit-mean exponential noise: a generator that knows the true
spectral envelope at that resolution but not the fine structure (partials,
noise grain). LSD is computed on those magnitudes directly, with ssr_eval's
formula. This is not a bound on every model: a model that places a piano's
partials exactly does better. It shows what the LSD figures of the issue-4
bars ask for. Prints a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.ndimage import uniform_filter

from tdpr_cli.evaluation.metrics import lsd_of_magnitudes, ssr_stft_params, stft
from tdpr_cli.evaluation.valset_index import load_index

SR = 16000
RESOLUTIONS = ((7, 3), (15, 5), (31, 9))  # (bins, frames): 150 Hz x 30 ms ... 670 Hz x 90 ms


def oracle_lsd(ref_mag: np.ndarray, cutoff_hz: float, bins: int, frames: int, rng: np.random.Generator) -> float:
    """ssr_eval LSD of the envelope oracle against ``ref_mag`` (C, N, F) at ``cutoff_hz``."""
    n_fft, _ = ssr_stft_params(SR)
    high = np.fft.rfftfreq(n_fft, 1.0 / SR) > cutoff_hz
    env = uniform_filter(ref_mag**2, size=(1, frames, bins), mode="nearest")[..., high]
    est = ref_mag.copy()
    est[..., high] = np.sqrt(env * rng.exponential(size=env.shape))
    return lsd_of_magnitudes(est, ref_mag)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--valset", type=Path, default=Path("data/valset"))
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    index = load_index(args.valset, limit=args.clips)
    rng = np.random.default_rng(args.seed)
    n_fft, hop = ssr_stft_params(SR)
    cutoffs = [float(c) for c in index.cutoffs]
    table: dict[tuple[int, int], list[list[float]]] = {r: [[] for _ in cutoffs] for r in RESOLUTIONS}
    refs = sorted({item.ref for item in index.items})
    for ref in refs:
        mag = np.abs(stft(np.atleast_2d(sf.read(str(ref), dtype="float64")[0].T), n_fft, hop))
        for res in RESOLUTIONS:
            for k, cutoff in enumerate(cutoffs):
                table[res][k].append(oracle_lsd(mag, cutoff, *res, rng))
        print(f"[lsd_floor] {ref.name}", file=sys.stderr)
    print(f"Envelope oracle, {len(refs)} reference clips of {args.valset} (lower is better)\n")
    print("| envelope resolution | " + " | ".join(f"{c / 1000:g} kHz" for c in cutoffs) + " | AVG |")
    print("|---" * (len(cutoffs) + 2) + "|")
    for (bins, frames), cols in table.items():
        means = [float(np.mean(c)) for c in cols]
        label = f"{bins} bins x {frames} frames ({bins * SR / n_fft:.0f} Hz x {frames * hop / SR * 1000:.0f} ms)"
        print(f"| {label} | " + " | ".join(f"{m:.3f}" for m in means) + f" | {np.mean(means):.3f} |")


if __name__ == "__main__":
    main()
