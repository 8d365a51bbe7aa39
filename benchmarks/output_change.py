"""What issue 14's speed work does to restored audio: the resampler, and the zeros at the file ends.

Two changes move output samples. (1) The resampler: scipy polyphase -> soxr.
The validation set and the real-recordings set are 16 kHz files, which restore
never resamples, so this script asks what a 44.1 kHz input would get: each
16 kHz validation input is taken to 44.1 kHz (scipy's default polyphase filter,
a neutral third filter) and brought back to 16 kHz by the old resampler
(``resample_poly``, Kaiser beta 8.6, as shipped until 2026-12-02) and by the
new one (``audio.resample``, soxr VHQ). (2) The chunk context: 0.512 s of
audio (zeros past the file ends) on each side instead of 1.024 s. Each
variant is restored by the shipped models (band mode, the default) and scored
against the 16 kHz reference; the largest sample difference from the old
output is given relative to the old output's peak. It also times both
resamplers on 60 s of 44.1 kHz stereo, side by side.

    python benchmarks/output_change.py --valset data/valset --cutoff 3000 --clips 4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

from bench_env import emit, valset_items
from tdpr_cli.audio.resample import resample
from tdpr_cli.config import ChunkConfig, PhaseMode, RestoreConfig
from tdpr_cli.evaluation import metrics as evaluate
from tdpr_cli.restore.load import ModelChoice, load_models
from tdpr_cli.restore.pipeline import Restorer


def old_resample(x: np.ndarray) -> np.ndarray:
    """The pre-2026-12-02 filter: 44.1 -> 16 kHz polyphase, Kaiser beta 8.6."""
    return resample_poly(x, 160, 441, axis=-1, window=("kaiser", 8.6)).astype(np.float32)


def timing(repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` seconds to take 60 s of 44.1 kHz stereo to 16 kHz, each resampler."""
    x = np.random.default_rng(0).standard_normal((2, 44100 * 60)).astype(np.float32) * 0.1
    out = {}
    for name, fn in (("scipy resample_poly (old)", old_resample), ("soxr VHQ (new)", lambda a: resample(a, 44100))):
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            fn(x)
            best = min(best, time.perf_counter() - t)
        out[name] = best
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valset", type=Path, default=Path("data/valset"))
    ap.add_argument("--cutoff", type=float, default=3000.0)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    items = valset_items(args.valset, args.clips, args.cutoff)
    loaded = load_models(ModelChoice(offline=True), PhaseMode.BAND)
    wide, short = ChunkConfig(context=16_384), ChunkConfig()
    variants = {  # name: (resampler, chunk plan)
        "old (scipy, 1.024 s context)": (old_resample, wide),
        "soxr, 1.024 s context": (lambda a: resample(a, 44100), wide),
        "soxr, 0.512 s context (new)": (lambda a: resample(a, 44100), short),
    }
    lsd: dict[str, list[float]] = {k: [] for k in variants}
    peak_diff: dict[str, float] = {k: 0.0 for k in variants}
    for item in items:
        lr, _ = sf.read(args.valset / item["path"], dtype="float32")
        ref, _ = sf.read(args.valset / item["ref"], dtype="float32")
        x44 = resample_poly(lr, 441, 160).astype(np.float32)[None]
        first = None
        for name, (down, chunk) in variants.items():
            restorer = Restorer(loaded.tdcnn, loaded.vocoder, RestoreConfig(chunk=chunk))
            out = restorer.restore(down(x44)[:, : lr.shape[0]], args.cutoff)[0]
            lsd[name].append(evaluate.lsd(out, ref))
            first = out if first is None else first
            peak_diff[name] = max(peak_diff[name], float(np.max(np.abs(out - first)) / np.max(np.abs(first))))
    means = {k: float(np.mean(v)) for k, v in lsd.items()}
    old = next(iter(means.values()))
    result = {"files": len(items), "cutoff_hz": args.cutoff, "lsd": means,
              "lsd_minus_old": {k: v - old for k, v in means.items()},
              "max_sample_difference_re_peak": peak_diff, "seconds_60s_stereo": timing(), "models": loaded.info}
    emit(result, args.json)


if __name__ == "__main__":
    main()
