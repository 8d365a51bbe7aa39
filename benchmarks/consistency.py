"""Measure what ``--consistency N`` (Griffin-Lim projections after phase repair) buys.

For a subset of the validation set (every filter kind, one bandwidth), run the
TD-CNN once per file, then band-mode phase repair with N = 0, 1, 2, 4, 8
projections, and report the mean LSD (ssr_eval), high-band LSD, phase error
(1 - cos) in the generated and the kept band, the 62.5 Hz comb (dB,
``evaluation.comb``) and the extra seconds per file. The comb is also given
for the reference, the TD-CNN output without phase repair (``none``), and the
vocoder's resynthesis of the reference's own mel (issue 12's diagnosis: does
the comb come from the vocoder or from the blend?).

    python benchmarks/consistency.py --valset data/valset --cutoff 3000 --clips 6
    python benchmarks/consistency.py --vocoder-weights runs/voc/export/v.safetensors  # a trained candidate
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench_env import valset_items
from tdpr_cli.config import PhaseMode
from tdpr_cli.dsp.phase import replace_phase
from tdpr_cli.evaluation import metrics as evaluate
from tdpr_cli.evaluation.comb import comb_db
from tdpr_cli.evaluation.table import ModelRunner
from tdpr_cli.restore.load import ModelChoice, load_models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valset", type=Path, default=Path("data/valset"))
    ap.add_argument("--cutoff", type=float, default=3000.0)
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--steps", default="0,1,2,4,8")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--vocoder-weights", type=Path, help="local vocoder safetensors (config beside it), trusted")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    items = valset_items(args.valset, args.clips, args.cutoff)
    loaded = load_models(ModelChoice(offline=True), PhaseMode.BAND)
    tdcnn, voc, info = loaded.tdcnn, loaded.vocoder, dict(loaded.info)
    if args.vocoder_weights is not None:
        from tdpr_cli.models.load import load_model
        from tdpr_cli.weights.resolve import resolve_local

        local = resolve_local(args.vocoder_weights, trust_local=True)
        voc = load_model(local.weights_path, local.config_path, "vocoder")
        info["vocoder"] = f"{local.name}@sha256:{local.sha256}"
    runner = ModelRunner(tdcnn, voc)  # the eval table's TD-CNN (chunked) and vocoder
    steps = [int(s) for s in args.steps.split(",")]
    rows = {n: {"lsd": [], "lsd_high": [], "phase_high": [], "phase_low": [], "comb": [], "seconds": []} for n in steps}
    combs: dict[str, list[float]] = {"reference": [], "none": [], "vocoder(reference mel)": [],
                                     "vocoder(TD-CNN mel)": []}
    for item in items:
        lr, _ = sf.read(args.valset / item["path"], dtype="float32")
        ref, _ = sf.read(args.valset / item["ref"], dtype="float32")
        y_np = runner.tdcnn(lr[None], args.cutoff)
        y, v = torch.from_numpy(y_np), torch.from_numpy(runner.vocode(y_np))
        combs["reference"].append(comb_db(ref))
        combs["none"].append(comb_db(y_np))
        combs["vocoder(reference mel)"].append(comb_db(runner.vocode(ref[None])))
        combs["vocoder(TD-CNN mel)"].append(comb_db(v.numpy()))
        with torch.inference_mode():
            for n in steps:
                t0 = time.perf_counter()
                out = replace_phase(y, v, cutoff_hz=args.cutoff, consistency=n)[0].numpy()
                r = rows[n]
                r["seconds"].append(time.perf_counter() - t0)
                r["lsd"].append(evaluate.lsd(out, ref))
                r["lsd_high"].append(evaluate.lsd_high(out, ref, args.cutoff))
                r["phase_high"].append(evaluate.phase_error(out, ref, (args.cutoff, 8000))["cos"])
                r["phase_low"].append(evaluate.phase_error(out, ref, (50, args.cutoff - 250))["cos"])
                r["comb"].append(comb_db(out))
    summary = {n: {k: float(np.mean(v)) for k, v in r.items()} for n, r in rows.items()}
    print(f"{len(items)} files at {args.cutoff:.0f} Hz, models {info}", file=sys.stderr)
    print("N  lsd    lsd_high  phase_high  phase_low  comb_dB  s/file")
    for n, s in summary.items():
        print(f"{n:<2} {s['lsd']:.4f} {s['lsd_high']:.4f}    {s['phase_high']:.4f}      {s['phase_low']:.4f}"
              f"     {s['comb']:+.2f}    {s['seconds']:.3f}")
    comb_means = {k: float(np.mean(v)) for k, v in combs.items()}
    print("comb dB: " + ", ".join(f"{k} {v:+.2f}" for k, v in comb_means.items()))
    if args.json:
        args.json.write_text(json.dumps({"files": len(items), "cutoff_hz": args.cutoff, "models": info,
                                         "rows": summary, "comb": comb_means}, indent=2))


if __name__ == "__main__":
    main()
