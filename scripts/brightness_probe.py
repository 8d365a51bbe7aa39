"""How bright recordings are, how bright a TD-CNN paints them, and what the input can tell.

    python scripts/brightness_probe.py levels [--valset data/valset] [--real ../shared/realcheck]
    python scripts/brightness_probe.py oracle --weights W.safetensors [--clips c00,...] [--cutoff 3000]
    python scripts/brightness_probe.py readable --weights W.safetensors [--data data] [--per-font 70]

- ``levels``: each band's mean per-frame level over the 2-3 kHz band (dB, frames within 40 dB
  of the loudest), per validation clip grouped by soundfont, and for the real check originals.
- ``oracle``: restores the validation LR files of ``--clips`` (Butterworth and Chebyshev II at
  ``--cutoff``) with ``--phase none`` and the band kept, then matches each output's mean
  log power per 250 Hz band above the cutoff to its reference; LSD before and after. What a
  perfect level decision would be worth.
- ``readable``: runs the TD-CNN on random 2 s training segments per soundfont (3 kHz
  Butterworth, order 8), takes its mean level error over 3.5-5.5 kHz (log10, as ssr_eval's
  bias), and reports how much of its variance the soundfont explains and how much a linear fit
  on the level head's features of the input explains (long-term and per-frame; held-out third).

Analysis only (docs/models.md, 2026-12-06 (6)); the real check clips are looked at, never fitted.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import istft, stft

from tdpr_cli.evaluation.metrics import band_bias, lsd
from tdpr_cli.models.level import LevelHead
from tdpr_cli.simulate.degrade import degrade

SR = 16000
BANDS = ((500, 1000), (1000, 2000), (3000, 4000), (4000, 5000), (5000, 6000))


def mono(path: str) -> np.ndarray:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    if sr != SR:
        raise SystemExit(f"{path}: expected {SR} Hz, got {sr}")
    return x.mean(axis=1)


def band_levels(x: np.ndarray) -> list[float]:
    """Mean per-frame dB of each of ``BANDS`` over 2-3 kHz, frames within 40 dB of the loudest."""
    f, _, z = stft(x, SR, nperseg=1024, noverlap=768)
    power = np.abs(z) ** 2
    def db(lo: float, hi: float) -> np.ndarray:
        return 10 * np.log10(power[(f >= lo) & (f < hi)].sum(0) + 1e-12)
    ref = db(2000, 3000)
    active = ref > ref.max() - 40
    return [float(np.mean((db(lo, hi) - ref)[active])) for lo, hi in BANDS]


def cmd_levels(args: argparse.Namespace) -> None:
    clips = json.loads((args.valset / "manifest.json").read_text())["clips"]
    rows = {c["id"]: (c["soundfont"], band_levels(mono(str(args.valset / c["ref"])))) for c in clips}
    print("| source | " + " | ".join(f"{lo / 1000:g}-{hi / 1000:g} kHz" for lo, hi in BANDS) + " |")
    print("|" + "---|" * (len(BANDS) + 1))
    for font in sorted({f for f, _ in rows.values()}):
        mean = np.mean([v for f, v in rows.values() if f == font], axis=0)
        n = sum(f == font for f, _ in rows.values())
        print(f"| {font} ({n} clips) | " + " | ".join(f"{v:+.1f}" for v in mean) + " |")
    for path in sorted(glob.glob(str(args.real / "ref_*.wav"))):
        print(f"| {Path(path).name} | " + " | ".join(f"{v:+.1f}" for v in band_levels(mono(path))) + " |")
    lv = np.array([v for _, v in rows.values()])
    print(f"\nr(1-2 kHz, 4-5 kHz) over {len(lv)} clips: {np.corrcoef(lv[:, 1], lv[:, 3])[0, 1]:+.2f}")


def match_levels(out: np.ndarray, ref: np.ndarray, cutoff: float) -> np.ndarray:
    """``out`` with its mean log power per 250 Hz band above ``cutoff`` set to ``ref``'s."""
    f, _, o = stft(out, SR, nperseg=1024, noverlap=768)
    _, _, r = stft(ref, SR, nperseg=1024, noverlap=768)
    gain = np.ones_like(f)
    for lo in np.arange(cutoff, SR / 2, 250.0):
        m = (f >= lo) & (f < lo + 250)
        diff = np.mean(np.log10(np.abs(r[m]) ** 2 + 1e-10) - np.log10(np.abs(o[m]) ** 2 + 1e-10))
        gain[m] = 10.0 ** (0.5 * diff)
    return istft(o * gain[:, None], SR, nperseg=1024, noverlap=768)[1][: len(ref)]


def cmd_oracle(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("butterworth", "cheby2"):
            before, after = [], []
            for clip in args.clips.split(","):
                src = args.valset / "lr" / str(args.cutoff) / kind / f"{clip}.flac"
                out = Path(tmp) / f"{kind}-{clip}.wav"
                subprocess.run(["tdpr", "restore", str(src), str(out), "--phase", "none", "--cutoff", str(args.cutoff),
                                "--keep-input-band", "--threads", "1", "--progress", "none", "--weights",
                                str(args.weights), "--trust-local"], check=True, capture_output=True)
                ref = mono(str(args.valset / "ref" / f"{clip}.flac"))
                y = mono(str(out))[: len(ref)]
                before.append(lsd(y, ref))
                after.append(lsd(match_levels(y, ref, args.cutoff), ref))
            print(f"{kind} {args.cutoff} Hz, {len(before)} clips: LSD {np.mean(before):.3f} -> "
                  f"{np.mean(after):.3f} with each band's level matched")


def cmd_readable(args: argparse.Namespace) -> None:
    from tdpr_cli.models.load import load_model

    torch.set_num_threads(1)
    model = load_model(args.weights, args.weights.with_suffix(".json"), "tdcnn")
    head, rng = LevelHead(), np.random.default_rng(args.seed)
    fonts, errors, feats = [], [], []
    for font in ("fluidr3", "musescore", "timgm6mb"):
        files = sorted(glob.glob(str(args.data / "train" / f"*__{font}__*.flac")))
        for path in rng.permutation(files)[: args.per_font]:
            x = mono(str(path))
            start = int(rng.integers(0, max(1, len(x) - 3 * SR)))
            seg = x[start : start + 2 * SR]
            if len(seg) < 2 * SR or np.sqrt(np.mean(seg**2)) < 3e-3:
                continue
            seg = seg / np.abs(seg).max() * 0.3
            lr = torch.from_numpy(degrade(seg, SR, 3000.0, "butterworth", 8).astype(np.float32))[None, None]
            with torch.no_grad():
                y = model(lr)[0, 0].numpy()
                per_frame = head.features(lr)[0, :7].mean(-1).numpy()  # the head's windowed features, averaged
                power = head._spec(lr[:, 0]).abs().square().mean(-1)
                long_term = torch.log10(power @ head.bands.T + 1e-20) - torch.log10(power @ head.ref.T + 1e-20)
            b = band_bias(y, seg, 3000.0)
            fonts.append(font)
            errors.append(np.mean([b[k] for k in ("bias_3.5k", "bias_4k", "bias_4.5k", "bias_5k")]))
            feats.append(np.r_[long_term[0, :6].numpy(), per_frame])
    f, e, x = np.array(fonts), np.array(errors), np.array(feats)
    keep = np.abs(e) < 3  # targets silent above the cutoff read -8 whatever the model does
    f, e, x = f[keep], e[keep], x[keep]
    order = np.random.default_rng(0).permutation(len(e))
    train, test = order[: 2 * len(e) // 3], order[2 * len(e) // 3 :]
    for font in sorted(set(f)):
        print(f"{font}: {np.sum(f == font)} segments, level error {e[f == font].mean():+.2f} (sd {e[f == font].std():.2f})")
    def r2(pred: np.ndarray) -> float:
        return float(1 - np.mean((e[test] - pred) ** 2) / np.var(e[test]))
    by_font = np.array([e[train][f[train] == g].mean() for g in f[test]])
    print(f"explained on the held-out third: soundfont {r2(by_font):.2f}")
    for name, cols in (("long-term < 2.5 kHz", slice(0, 6)), ("per-frame < 2.5 kHz", slice(6, 12)),
                       ("per-frame < 3 kHz", slice(6, 13))):
        a = np.c_[x[:, cols], np.ones(len(e))]
        coef = np.linalg.lstsq(a[train], e[train], rcond=None)[0]
        print(f"explained on the held-out third: linear on {name} features {r2(a[test] @ coef):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lv = sub.add_parser("levels")
    lv.add_argument("--valset", type=Path, default=Path("data/valset"))
    lv.add_argument("--real", type=Path, default=Path("../shared/realcheck"))
    oc = sub.add_parser("oracle")
    oc.add_argument("--weights", type=Path, required=True)
    oc.add_argument("--valset", type=Path, default=Path("data/valset"))
    oc.add_argument("--clips", default="c00,c01,c02,c03,c04,c05")
    oc.add_argument("--cutoff", type=int, default=3000)
    rd = sub.add_parser("readable")
    rd.add_argument("--weights", type=Path, required=True)
    rd.add_argument("--data", type=Path, default=Path("data"))
    rd.add_argument("--per-font", type=int, default=70)
    rd.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    {"levels": cmd_levels, "oracle": cmd_oracle, "readable": cmd_readable}[args.cmd](args)


if __name__ == "__main__":
    main()
