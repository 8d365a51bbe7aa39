"""Probe (issue 12): does the comb come from the TD-PR blend, and would a smoothed-gain blend avoid it?

For validation inputs at one cutoff, the shipped TD-CNN's output ``y`` and a
vocoder's resynthesis ``v`` of its mel are combined above the cutoff in two ways:

* ``blend`` (what ``--phase band`` does): |STFT(y)| with the phase of STFT(v);
* ``gain-smooth``: STFT(v) times the ratio of |STFT(y)| to |STFT(v)|, each smoothed
  in the log domain over +-2 frames and +-4 bins, i.e. the vocoder's own fine
  structure under the TD-CNN's envelope. This is not the paper's TD-PR (the
  magnitude is no longer the TD-CNN's), so it is a probe, not an option;
* ``vocoder``: the vocoder's output itself (above the cutoff; its own comb);
* ``vocoder-smoothed``: the vocoder's own STFT with its magnitude smoothed in the
  log domain over +-2 frames and +-4 bins, its phase kept. If this alone makes a
  comb, the vocoder's phase carries frame-locked structure that its exact
  magnitude cancels, and any other magnitude (the TD-CNN's) reveals it;
* ``fallback-E``: |STFT(y)| with the phase of STFT(v) + E * STFT(y): the vocoder's
  phase wherever its own level is more than E times the TD-CNN's, the TD-CNN's own
  phase where the vocoder is (nearly) silent and its phase means nothing. Tests the
  idea that the comb comes from bins that the vocoder leaves near-silent, whose
  phase repeats from frame to frame.

Below the cutoff both keep STFT(y) (250 Hz raised-cosine crossfade). Prints the
mean LSD and comb (dB) per vocoder and variant, beside ``none`` (the TD-CNN output).

    python benchmarks/blend_probe.py --clips 2 --vocoder-weights ~/tdpr-runs/voc-m15/export/vocos-d128-gan.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from bench_env import emit, valset_items
from tdpr_cli.config import PhaseMode, StftConfig
from tdpr_cli.dsp.phase import band_mask, replace_phase
from tdpr_cli.dsp.spectral import Stft
from tdpr_cli.evaluation import metrics as evaluate
from tdpr_cli.evaluation.comb import comb_db
from tdpr_cli.evaluation.table import ModelRunner
from tdpr_cli.models.load import load_model
from tdpr_cli.restore.load import ModelChoice, load_models
from tdpr_cli.weights.resolve import resolve_local


def smooth_log(mag: torch.Tensor, frames: int = 2, bins: int = 4) -> torch.Tensor:
    """(B, F, N) magnitude -> the same, averaged in log over +-bins x +-frames."""
    log = torch.log(mag + 1e-7)[:, None]
    kernel = torch.ones(1, 1, 2 * bins + 1, 2 * frames + 1) / ((2 * bins + 1) * (2 * frames + 1))
    return torch.exp(F.conv2d(F.pad(log, (frames, frames, bins, bins), mode="replicate"), kernel)[:, 0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valset", type=Path, default=Path("data/valset"))
    ap.add_argument("--cutoff", type=float, default=3000.0)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--vocoder-weights", type=Path, help="a local candidate vocoder (trusted), beside the shipped one")
    ap.add_argument("--fallback", type=float, nargs="*", default=[0.1, 0.3, 1.0],
                    help="E of the fallback-E variants (vocoder phase + E x TD-CNN)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_models(ModelChoice(offline=True), PhaseMode.BAND)
    vocoders = {loaded.info["vocoder"]: loaded.vocoder}
    if args.vocoder_weights is not None:
        local = resolve_local(args.vocoder_weights, trust_local=True)
        vocoders[f"{local.name}@sha256:{local.sha256}"] = load_model(local.weights_path, local.config_path, "vocoder")
    cfg = StftConfig()
    stft = Stft(cfg)
    mask = band_mask(cfg, args.cutoff, 250.0)[:, None]
    items = valset_items(args.valset, args.clips, args.cutoff)
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name, vocoder in vocoders.items():
        runner = ModelRunner(loaded.tdcnn, vocoder)
        variants = ["none", "vocoder", "vocoder-smoothed", "blend", "gain-smooth",
                    *(f"fallback-{e:g}" for e in args.fallback)]
        scores: dict[str, dict[str, list[float]]] = {v: {"lsd": [], "comb": []} for v in variants}
        for item in items:
            lr, _ = sf.read(args.valset / item["path"], dtype="float32")
            ref, _ = sf.read(args.valset / item["ref"], dtype="float32")
            y = runner.tdcnn(lr[None], args.cutoff)
            yt, vt = torch.from_numpy(y), torch.from_numpy(runner.vocode(y))
            with torch.inference_mode():
                spec_y, spec_v = stft(yt), stft(vt)
                gain = smooth_log(spec_y.abs()) / smooth_log(spec_v.abs())
                outs = {"none": yt, "blend": replace_phase(yt, vt, cfg, cutoff_hz=args.cutoff),
                        "gain-smooth": stft.inverse((1 - mask) * spec_y + mask * spec_v * gain, y.shape[-1])}
                above = mask * spec_v
                outs["vocoder"] = stft.inverse((1 - mask) * spec_y + above, y.shape[-1])
                smoothed = smooth_log(spec_v.abs()) * spec_v / spec_v.abs().clamp(min=1e-12)
                outs["vocoder-smoothed"] = stft.inverse((1 - mask) * spec_y + mask * smoothed, y.shape[-1])
                for e in args.fallback:
                    outs[f"fallback-{e:g}"] = replace_phase(yt, vt + e * yt, cfg, cutoff_hz=args.cutoff)
            for variant, out in outs.items():
                scores[variant]["lsd"].append(evaluate.lsd(out[0].numpy(), ref))
                scores[variant]["comb"].append(comb_db(out[0].numpy()))
        result[name] = {v: {k: float(np.mean(x)) for k, x in s.items()} for v, s in scores.items()}
    emit({"files": len(items), "cutoff_hz": args.cutoff, "results": result}, args.json)


if __name__ == "__main__":
    main()
