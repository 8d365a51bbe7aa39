"""Does bf16 autocast on the CPU cost quality? TD-CNN fp32 vs bf16 on validation clips.

    python benchmarks/precision.py --weights W.safetensors [--config C.json] \
        --valset data/valset [--cutoff 3000] [--filter butterworth] [--clips 4]

bf16 keeps 8 bits of mantissa, about 48 dB below each value; a TD-CNN adds
its generated band 20-40 dB under the kept band, so the rounding noise of
the features may land close to what it generates. This script runs a trained
TD-CNN on the band-limited validation clips (``lr/CUTOFF/FILTER/cNN.flac``
against ``ref/cNN.flac``, 16 kHz mono) in fp32 and under bf16 autocast, and
prints LSD and LSD above the cutoff of both against the reference, the bf16
error relative to the fp32 output above the cutoff (dB), and the time of each.
Only the TD-CNN: phase repair runs in fp32 in both cases.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def load(weights: Path, config: Path | None) -> torch.nn.Module:
    from safetensors.torch import load_file

    from tdpr_cli.models.load import load_model
    from tdpr_cli.models.seanet import Seanet, SeanetConfig

    if config is not None:
        return load_model(weights, config, "tdcnn")
    model = Seanet(SeanetConfig())  # a training checkpoint without its JSON: default architecture
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()})
    return model.eval()


def run(model, x: np.ndarray, dtype) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        y = model(torch.from_numpy(x)[None, None]).float()[0, 0].numpy()
    return y, time.perf_counter() - t0


def high_error_db(y: np.ndarray, ref: np.ndarray, cutoff: float) -> float:
    keep = np.fft.rfftfreq(len(ref), 1 / 16000) > cutoff
    d, r = np.fft.rfft(y - ref)[keep], np.fft.rfft(ref)[keep]
    return float(10 * np.log10(np.sum(np.abs(d) ** 2) / np.sum(np.abs(r) ** 2)))


def main(argv: list[str] | None = None) -> None:
    from tdpr_cli.evaluation.metrics import lsd, lsd_high

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--config", type=Path)
    ap.add_argument("--valset", type=Path, required=True)
    ap.add_argument("--cutoff", type=int, default=3000)
    ap.add_argument("--filter", default="butterworth")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load(args.weights, args.config)
    rows = []
    print(f"{'clip':<6}{'LSD fp32':>10}{'LSD bf16':>10}{'hi fp32':>9}{'hi bf16':>9}"
          f"{'bf16 err dB':>12}{'t fp32':>8}{'t bf16':>8}{'load':>6}")
    for lr in sorted((args.valset / "lr" / str(args.cutoff) / args.filter).glob("c*.flac"))[: args.clips]:
        x = sf.read(lr, dtype="float32")[0]
        ref = sf.read(args.valset / "ref" / lr.name, dtype="float32")[0]
        run(model, x[:16000], None)  # warm-up
        (y32, t32), (y16, t16) = run(model, x, None), run(model, x, torch.bfloat16)
        row = [lsd(y32, ref), lsd(y16, ref), lsd_high(y32, ref, args.cutoff), lsd_high(y16, ref, args.cutoff),
               high_error_db(y16, y32, args.cutoff), t32, t16]
        rows.append(row)
        print(f"{lr.stem:<6}" + "".join(f"{v:>10.3f}" for v in row[:2]) + "".join(f"{v:>9.3f}" for v in row[2:4])
              + f"{row[4]:>12.1f}{row[5]:>8.2f}{row[6]:>8.2f}{os.getloadavg()[0]:>6.2f}", flush=True)
    mean = np.mean(rows, axis=0)
    print(f"{'mean':<6}" + "".join(f"{v:>10.3f}" for v in mean[:2]) + "".join(f"{v:>9.3f}" for v in mean[2:4])
          + f"{mean[4]:>12.1f}{mean[5]:>8.2f}{mean[6]:>8.2f}")


if __name__ == "__main__":
    main()
