"""Score vocoders on a training run's own validation segments (resynthesis of ground-truth mel).

``tdpr train vocoder`` validates only the model it trains. To read a curve against
fixed baselines (the lock's vocoders, an exported candidate), this script rebuilds
the run's validation segments exactly as the trainer does (frozen ``RUN/manifest.json``,
``valid_count``, ``valid_seconds``, ``valid_cutoff_hz`` and ``seed`` from the
checkpoint's configuration) and runs ``train.validate.validate_vocoder`` on each
model: mel L1, LSD, comb (dB) and the low/high-band phase errors.

    python scripts/vocoder_valid.py --run ~/tdpr-runs/voc-gan --data data \\
        --vocoder vocoder-piano-16k vocoder-piano-16k-gan --local ~/tdpr-runs/cand5380/vocos-d128-gan.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from tdpr_cli.restore.load import load_vocoders
from tdpr_cli.train.dataset import read_clips, validation_set
from tdpr_cli.train.validate import validate_vocoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a vocoder run folder (manifest.json, checkpoint/)")
    ap.add_argument("--data", type=Path, default=Path("data"), help="the corpus the manifest's paths are under")
    ap.add_argument("--vocoder", nargs="*", default=[], help="vocoders of the lock, by name")
    ap.add_argument("--local", type=Path, nargs="*", default=[], help="exported candidates (trusted local files)")
    ap.add_argument("--json", type=Path, help="also write the scores here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = json.loads((args.run / "checkpoint" / "state.json").read_text())["config"]
    items = validation_set(read_clips(args.run / "manifest.json", args.data, "valid"), cfg["valid_count"],
                           cfg["valid_seconds"], cfg["valid_cutoff_hz"], cfg["seed"])
    models = load_vocoders(args.vocoder, args.local)
    scores = {name: validate_vocoder(model, items, torch.device("cpu")) for name, model in models.items()}
    for name, s in scores.items():
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in s.items()), file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps({"run": str(args.run), "segments": len(items), "scores": scores}, indent=1))


if __name__ == "__main__":
    main()
