"""Probe (issue 13): should band mode's phase crossfade span the detected slope region?

Band mode takes the vocoder's phase above the cutoff with a 250 Hz raised-cosine
crossfade centred on it. On a soft roll-off the input still carries attenuated,
real content between the -3 dB point and the point where it sinks into the
floor (the detector's ``top_hz``). This probe restores validation inputs with
the *detected* cutoff (as ``tdpr restore`` does) and compares:

* ``fixed``: the 250 Hz crossfade at the cutoff (today);
* ``slope``: a raised cosine from (cutoff - 125 Hz) up to ``max(cutoff + 125, top_hz)``
  (``band_mask`` with ``top_hz``, what band mode now does).

Same TD-CNN output, same vocoder output, same kept input band; only the phase
mask differs. Prints mean LSD, high-band LSD and comb per filter kind.

    python benchmarks/slope_crossfade.py --clips 2 --cutoff 3000 --json results/slope-crossfade.json
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench_env import emit, valset_items
from tdpr_cli.config import PhaseMode, RestoreConfig
from tdpr_cli.dsp.bandwidth import SpectrumAccumulator, detect
from tdpr_cli.dsp.phase import keep_input_band, replace_phase
from tdpr_cli.dsp.spectral import Stft
from tdpr_cli.evaluation import metrics as evaluate
from tdpr_cli.evaluation.comb import comb_db
from tdpr_cli.evaluation.table import ModelRunner
from tdpr_cli.restore.load import ModelChoice, load_models


def restore_variants(runner: ModelRunner, lr: np.ndarray, cfg: RestoreConfig, stft: Stft) -> dict[str, np.ndarray]:
    """(T,) 16 kHz input -> the two variants' outputs, at the detected cutoff; empty when passed through."""
    acc = SpectrumAccumulator()
    acc.add(lr[None])
    bw = detect(acc)
    if bw.wideband or bw.silent:
        return {}
    y = runner.tdcnn(lr[None], bw.cutoff_hz)
    yt, vt, xt = torch.from_numpy(y), torch.from_numpy(runner.vocode(y)), torch.from_numpy(lr[None].astype(np.float32))
    outs = {}
    with torch.inference_mode():
        for name, top in (("fixed", None), ("slope", bw.top_hz)):  # band_mask's two shapes
            rep = replace_phase(yt, vt, cfg.stft, cutoff_hz=bw.cutoff_hz, crossfade_hz=cfg.crossfade_hz, stft=stft,
                                top_hz=top)
            outs[name] = keep_input_band(xt, rep, bw.cutoff_hz, cfg, stft)[0].numpy()
    return outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valset", type=Path, default=Path("data/valset"))
    ap.add_argument("--cutoff", type=float, default=3000.0, help="the validation set's nominal cutoff to use")
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_models(ModelChoice(offline=True), PhaseMode.BAND)
    runner = ModelRunner(loaded.tdcnn, loaded.vocoder)
    cfg = RestoreConfig()
    stft = Stft(cfg.stft)
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for item in valset_items(args.valset, args.clips, args.cutoff):
        lr, _ = sf.read(args.valset / item["path"], dtype="float32")
        ref, _ = sf.read(args.valset / item["ref"], dtype="float32")
        for variant, out in restore_variants(runner, lr, dataclasses.replace(cfg), stft).items():
            for key in (variant, f"{variant}/{item['kind']}"):
                scores[key]["lsd"].append(evaluate.lsd(out, ref))
                scores[key]["lsd_high"].append(evaluate.lsd_high(out, ref, args.cutoff))
                scores[key]["comb"].append(comb_db(out))
    result = {k: {m: float(np.mean(v)) for m, v in s.items()} | {"files": len(s["lsd"])} for k, s in sorted(scores.items())}
    emit({"cutoff_hz": args.cutoff, "clips": args.clips, "results": result}, args.json)


if __name__ == "__main__":
    main()
