"""What the CPU runtime (ONNX Runtime + numpy, issue 14) does to restored audio, against torch.

Each validation item (``--clips`` clips, every filter kind, at each of ``--cutoffs``) is
restored by the shipped models in band mode on both runtimes, built as ``tdpr restore`` builds
them (``restore.load.build_restorer``, one thread, the CLI's chunking), and scored against its
reference: mean LSD per runtime and their difference, and the largest sample difference
relative to the torch output's peak.

    python benchmarks/runtime_change.py --valset data/valset --clips 4 --json results/runtime-change.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from bench_env import emit, valset_items
from tdpr_cli.config import PhaseMode, RestoreConfig, Runtime
from tdpr_cli.device import Precision
from tdpr_cli.evaluation import metrics as evaluate
from tdpr_cli.restore.load import ModelChoice, build_restorer, resolve_models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valset", type=Path, default=Path("data/valset"))
    ap.add_argument("--cutoffs", default="2500,3000,3500,4000")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    found = resolve_models(ModelChoice(offline=True), PhaseMode.BAND)
    runtimes = {r.value: build_restorer(found, RestoreConfig(runtime=r), "cpu", Precision.FP32, 1)
                for r in (Runtime.TORCH, Runtime.ONNX)}
    lsd: dict[str, list[float]] = {k: [] for k in runtimes}
    peak_diff, items = 0.0, 0
    for cutoff in (float(c) for c in args.cutoffs.split(",")):
        for item in valset_items(args.valset, args.clips, cutoff):
            lr, _ = sf.read(args.valset / item["path"], dtype="float32")
            ref, _ = sf.read(args.valset / item["ref"], dtype="float32")
            outs = {k: r.restore(lr[None], cutoff)[0] for k, r in runtimes.items()}
            for k, out in outs.items():
                lsd[k].append(evaluate.lsd(out, ref))
            base = outs["torch"]
            peak_diff = max(peak_diff, float(np.max(np.abs(outs["onnxruntime"] - base)) / np.max(np.abs(base))))
            items += 1
    means = {k: float(np.mean(v)) for k, v in lsd.items()}
    per_item = np.array(lsd["onnxruntime"]) - np.array(lsd["torch"])
    emit({"items": items, "cutoffs_hz": args.cutoffs, "lsd": means, "lsd_onnx_minus_torch": means["onnxruntime"] - means["torch"],
          "largest_item_lsd_change": float(np.abs(per_item).max()),
          "max_sample_difference_re_peak": peak_diff, "models": found.info}, args.json)


if __name__ == "__main__":
    main()
