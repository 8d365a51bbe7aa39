"""Where does a TD-CNN's LSD come from? Per-band log-spectral error on the validation set.

    python scripts/band_errors.py [--weights W.safetensors] [--valset data/valset]
        [--clips 6] [--cutoff 3000] [--kinds butterworth,ellip]

Runs the TD-CNN (chunked exactly as ``tdpr restore --phase none``) and the
noise-fill baseline on the chosen LR files, and prints, per 1 kHz band, the
mean and the root mean square of ssr_eval's per-bin term
``log10(S_ref**2 / S_est**2)`` (743/160 STFT at 16 kHz): the mean is the
level error in the log domain that LSD sees (positive: too quiet), the RMS
is what the band adds to LSD. A power-averaged level (the trainer's
``level_db_*``) is dominated by loud attacks and can say "too quiet" where
the log-domain level is right. ``--gains`` also scores the TD-CNN output with
its band above the cutoff raised by each gain (1024/256 STFT), and with each
500 Hz band's power matched to the reference's (an oracle gain): if LSD were
limited by level, these would lower it. Markdown to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from tdpr_cli.config import PhaseMode
from tdpr_cli.evaluation.files import load_16k
from tdpr_cli.evaluation.metrics import (
    Spectra,
    istft,
    lsd,
    noise_fill,
    ssr_log_ratio,
    ssr_stft_params,
    stft,
)
from tdpr_cli.evaluation.table import ModelRunner
from tdpr_cli.evaluation.valset_index import cutoff_key, load_index
from tdpr_cli.restore.load import ModelChoice, load_models

SR = 16000
GAINS_DB = (-6.0, 6.0, 10.0, 14.0)


def log_ratio(est: Spectra, ref: Spectra) -> np.ndarray:
    """``evaluate.ssr_log_ratio`` of two signals on ssr_eval's STFT, as (frames, bins)."""
    n_fft, hop = ssr_stft_params(SR)
    d = ssr_log_ratio(np.abs(est.stft(n_fft, hop)), np.abs(ref.stft(n_fft, hop)))
    return d.reshape(-1, d.shape[-1])


def regained(y: np.ndarray, ref: np.ndarray, cutoff_hz: float) -> dict[str, np.ndarray]:
    """``y`` (C, T) with its band above ``cutoff_hz`` scaled: fixed gains and the per-500-Hz oracle."""
    spec, spec_ref = stft(y, 1024, 256), stft(ref, 1024, 256)
    freqs = np.fft.rfftfreq(1024, 1.0 / SR)
    oracle = np.ones_like(freqs)
    for lo in np.arange(cutoff_hz, SR / 2, 500.0):
        band = (freqs >= lo) & (freqs < lo + 500.0)
        power = (np.abs(spec[..., band]) ** 2).mean()
        oracle[band] = np.sqrt((np.abs(spec_ref[..., band]) ** 2).mean() / max(power, 1e-20))
    out = {"oracle 500 Hz band power": istft(spec * oracle, 1024, 256, y.shape[-1])}
    for g in GAINS_DB:
        out[f"{g:+g} dB"] = istft(spec * np.where(freqs > cutoff_hz, 10 ** (g / 20), 1.0), 1024, 256, y.shape[-1])
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, help="a local TD-CNN (config: same stem .json) [the lock's default]")
    p.add_argument("--valset", type=Path, default=Path("data/valset"))
    p.add_argument("--clips", type=int, default=6)
    p.add_argument("--cutoff", type=float, default=3000.0)
    p.add_argument("--kinds", default="butterworth,ellip")
    p.add_argument("--gains", action="store_true", help="also score gain-changed TD-CNN outputs")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    # the lock's verified default, or a local export taken on trust (an analysis, not a restore)
    choice = ModelChoice(weights=args.weights, trust_local=args.weights is not None, offline=True)
    tdcnn = load_models(choice, PhaseMode.NONE).tdcnn
    runner = ModelRunner(tdcnn, None)
    kinds = args.kinds.split(",")
    items = [i for i in load_index(args.valset, args.clips).items
             if i.cutoff == cutoff_key(args.cutoff) and i.kind in kinds]
    if not items:
        raise SystemExit(f"no LR files at {args.cutoff:g} Hz of kinds {kinds}")
    ratios: dict[str, list[np.ndarray]] = {"TD-CNN": [], "noise-fill": []}
    scores: dict[str, list[float]] = {"TD-CNN": [], "noise-fill": []}
    gained: dict[str, list[float]] = {}
    for item in items:
        lr, ref = load_16k(item.path), Spectra(load_16k(item.ref))
        y = runner.tdcnn(lr, item.cutoff_hz)
        for name, est in (("TD-CNN", y), ("noise-fill", noise_fill(lr, SR, item.cutoff_hz))):
            est = Spectra(est)
            ratios[name].append(log_ratio(est, ref))
            scores[name].append(lsd(est, ref))
        for name, est in (regained(y, ref.x, item.cutoff_hz) if args.gains else {}).items():
            gained.setdefault(name, []).append(lsd(est, ref))
        print(f"[band_errors] {item.clip} {item.kind}", file=sys.stderr)
    freqs = np.fft.rfftfreq(ssr_stft_params(SR)[0], 1.0 / SR)
    print(f"{len(items)} LR files at {args.cutoff:g} Hz ({', '.join(kinds)}), first {args.clips} clips of {args.valset}\n")
    print("| band | " + " | ".join(f"{n}: mean / RMS" for n in ratios) + " |")
    print("|---|" + "---|" * len(ratios))
    pooled = [np.concatenate(r) for r in ratios.values()]
    for lo in range(0, SR // 2, 1000):
        band = (freqs >= lo) & (freqs < lo + 1000)
        cells = [f"{d[:, band].mean():+.2f} / {np.sqrt((d[:, band] ** 2).mean()):.2f}" for d in pooled]
        print(f"| {lo / 1000:g}-{lo / 1000 + 1:g} kHz | " + " | ".join(cells) + " |")
    print("| LSD | " + " | ".join(f"{np.mean(s):.3f}" for s in scores.values()) + " |")
    if gained:
        print("\n| TD-CNN, band above the cutoff | LSD |\n|---|---|")
        for name, values in gained.items():
            print(f"| {name} | {np.mean(values):.3f} |")


if __name__ == "__main__":
    main()
