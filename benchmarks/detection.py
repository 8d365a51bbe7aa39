"""Bandwidth detection (issue 13) beyond the committed fixtures: held-out synthetic cases and the
real check set, each against a known -3 dB point.

The committed regression fixtures (tests/detection/) are eleven band-limited
cases; a detector can meet +-300 Hz there and still miss elsewhere. This draws
``--cases`` more from the same generator (scripts/detection_fixtures.py: its
piano-like music with other seeds, its hiss), each with a random kind (the
paper's sharp Butterworth, cheby1, ellip; the soft Butterworth and Bessel of
order 2-5), a cutoff drawn from 2.5-4.5 kHz and hiss of none / -60 / -50 /
-40 dB, and reports how far ``dsp.bandwidth.detect`` lands from each filter's own
-3 dB point. For ../shared/realcheck (real recordings, band-limited by an
outside simulation) the true -3 dB point is read off the ratio of each input's
Welch spectrum to its reference's; the same for ``--valset-clips`` clips of the
validation set (real piano renders under every kind and cutoff, each clean and
with -50 dB hiss), where music's own slope is not the fixtures'. Nothing is
tuned here; it only measures.
The table goes to stderr, the JSON to stdout (and ``--json``).

    python benchmarks/detection.py --cases 48 --json results/detection-heldout.json
    python benchmarks/detection.py --valset data/valset --valset-clips 8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from bench_env import emit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))  # the fixtures' own music and hiss generators, not a copy
import detection_fixtures as fixtures  # noqa: E402
from tdpr_cli.dsp import bandwidth  # noqa: E402
from tdpr_cli.simulate.degrade import degrade  # noqa: E402

SR = 16000
KINDS = ("butterworth", "cheby1", "ellip", "soft-butterworth", "soft-bessel", "soft-bessel",
         "soft-butterworth", "soft-bessel")
HISS = (None, -60.0, -50.0, -40.0)
MISS_HZ = 300.0


def detect(x: np.ndarray) -> bandwidth.Bandwidth:
    """Detection of a (T,) 16 kHz signal, as restore runs it."""
    acc = bandwidth.SpectrumAccumulator()
    acc.add(np.atleast_2d(x))
    return bandwidth.detect(acc)


def synthetic_cases(count: int, seed: int) -> list[dict]:
    """``count`` held-out cases: name, true -3 dB point (Hz), detection."""
    rng, out = np.random.default_rng(seed), []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        order = int(rng.integers(2, 6)) if kind.startswith("soft") else int(rng.choice([6, 8, 10]))
        cutoff, hiss_db = float(rng.uniform(2500.0, 4500.0)), HISS[i % len(HISS)]
        y = degrade(fixtures.piano_like(fixtures.SECONDS, seed=1000 + i), SR, cutoff, kind, order).astype(np.float64)
        if hiss_db is not None:
            y = y + fixtures.hiss(len(y), seed=5000 + i) * np.sqrt(np.mean(y**2)) * 10.0 ** (hiss_db / 20)
        y = np.round(y * 32767) / 32767  # as the PCM-16 fixtures are stored
        out.append(_record(f"{kind}{order}-{cutoff:.0f}-hiss{hiss_db}", fixtures.minus3_hz(kind, cutoff, order),
                           detect(y)))
    return out


def committed_cases() -> list[dict]:
    """The committed band-limited fixtures, scored the same way."""
    out = []
    for case in json.loads((ROOT / "tests/detection/fixtures.json").read_text()):
        if "minus3_hz" in case:
            x, _ = sf.read(ROOT / "tests/detection" / case["file"], dtype="float64")
            out.append(_record(case["file"], case["minus3_hz"], detect(x)))
    return out


def real_minus3_hz(x: np.ndarray, ref: np.ndarray) -> float:
    """First frequency above 1 kHz where the input's Welch spectrum falls 3 dB under its reference's
    (relative to their 0.5-1.5 kHz median ratio), Hz."""
    n = min(len(x), len(ref))
    f, px = signal.welch(x[:n], SR, nperseg=1024)
    _, pr = signal.welch(ref[:n], SR, nperseg=1024)
    gain = np.convolve(10 * np.log10(px / pr), np.ones(5) / 5, mode="same")
    gain -= np.median(gain[(f > 500) & (f < 1500)])
    return float(f[np.argmax((gain < -3.0) & (f > 1000))])


def real_cases(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("input3k_*.wav")):
        x, _ = sf.read(path, dtype="float64")
        ref, _ = sf.read(folder / path.name.replace("input3k_", "ref_"), dtype="float64")
        out.append(_record(path.name, real_minus3_hz(x, ref), detect(x)))
    return out


def valset_cases(folder: Path, clips: int) -> list[dict]:
    """The first ``clips`` clips' LR files of a validation set, clean and with -50 dB hiss."""
    items = json.loads((folder / "manifest.json").read_text())["items"]
    chosen = sorted({i["clip"] for i in items})[:clips]
    out, refs = [], {}  # each clip's reference, read once for its 36 LR files
    for k, item in enumerate(i for i in items if i["clip"] in chosen):
        x = sf.read(folder / item["path"], dtype="float64", always_2d=True)[0].mean(axis=1)
        if item["ref"] not in refs:
            refs[item["ref"]] = sf.read(folder / item["ref"], dtype="float64", always_2d=True)[0].mean(axis=1)
        ref = refs[item["ref"]]
        truth, name = real_minus3_hz(x, ref), f"{item['clip']}-{item['kind']}-{item['cutoff_hz']:.0f}"
        out.append(_record(name, truth, detect(x)))
        hissy = x + fixtures.hiss(len(x), seed=9000 + k) * np.sqrt(np.mean(x**2)) * 10.0 ** (-50.0 / 20)
        out.append(_record(name + "-hiss-50", truth, detect(hissy)))
    return out


def _record(name: str, truth: float, bw: bandwidth.Bandwidth) -> dict:
    err = None if bw.wideband else bw.cutoff_hz - truth
    return {"case": name, "minus3_hz": round(truth, 1), "cutoff_hz": bw.cutoff_hz, "top_hz": bw.top_hz,
            "confidence": bw.confidence, "wideband": bw.wideband, "error_hz": err}


def summary(records: list[dict]) -> dict:
    """Misses (|error| > 300 Hz or called wideband), the largest and the median |error|."""
    errs = np.array([abs(r["error_hz"]) for r in records if r["error_hz"] is not None])
    wide = sum(r["wideband"] for r in records)
    return {"cases": len(records), "called_wideband": wide, "misses": int((errs > MISS_HZ).sum()) + wide,
            "max_abs_hz": float(errs.max()), "median_abs_hz": float(np.median(errs))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=48)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--realcheck", type=Path, default=ROOT.parent / "shared" / "realcheck")
    ap.add_argument("--valset", type=Path, help="a validation set folder (tdpr data valset)")
    ap.add_argument("--valset-clips", type=int, default=8)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sets = {"committed fixtures": committed_cases(), "held-out synthetic": synthetic_cases(args.cases, args.seed)}
    if args.realcheck.is_dir():
        sets["real check"] = real_cases(args.realcheck)
    if args.valset is not None:
        sets["validation renders"] = valset_cases(args.valset, args.valset_clips)
    for name, records in sets.items():
        print(f"\n{name}: " + ", ".join(f"{k} {v:.0f}" for k, v in summary(records).items()), file=sys.stderr)
        for r in records:
            err = "wideband" if r["error_hz"] is None else f"{r['error_hz']:+6.0f} Hz"
            flag = "  MISS" if r["error_hz"] is None or abs(r["error_hz"]) > MISS_HZ else ""
            print(f"  {r['case']:42s} true {r['minus3_hz']:6.0f}  got {r['cutoff_hz']:6.0f}  {err}"
                  f"  top {r['top_hz']:5.0f}  conf {r['confidence']:.2f}{flag}", file=sys.stderr)
    emit({k: {"summary": summary(v), "records": v} for k, v in sets.items()}, args.json)


if __name__ == "__main__":
    main()
