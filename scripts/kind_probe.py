"""The TD-CNN row of ``tdpr eval table`` for one cutoff of the validation set, per filter kind, fast.

    python scripts/kind_probe.py --cutoff 3000 [--kinds cheby2,bessel] [--weights W.safetensors]
        [--limit 4] [--told nominal,minus3,detect]

Each LR file is restored exactly as the table's ``tdcnn`` row does (``ModelRunner.tdcnn`` then
``keep`` with the input's band kept) and scored with ssr_eval LSD against its reference. With
``--told`` the cutoff the restorer is given (and the kept band follows) can also be the filter's
own -3 dB point (``minus3``: one pass for the soft kinds, two for the zero-phase paper kinds) or
what ``tdpr restore`` would detect (``detect``). Only 3 kHz (or one other cutoff) and only the
kinds asked for, so a model is probed in minutes; the table stays the reference. Per-file lines
and per-kind means go to stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from tdpr_cli.config import SAMPLE_RATE, PhaseMode
from tdpr_cli.dsp.bandwidth import SpectrumAccumulator, detect
from tdpr_cli.evaluation.files import load_16k
from tdpr_cli.evaluation.metrics import lsd
from tdpr_cli.evaluation.table import ModelRunner
from tdpr_cli.evaluation.valset_index import cutoff_key, load_index
from tdpr_cli.restore.load import ModelChoice, load_models
from tdpr_cli.simulate.degrade import SOFT_KINDS
from tdpr_cli.simulate.response import minus3_hz


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valset", type=Path, default=Path("data/valset"))
    ap.add_argument("--cutoff", type=float, default=3000.0)
    ap.add_argument("--kinds", help="comma-separated kinds [all]")
    ap.add_argument("--weights", type=Path, help="a local TD-CNN export (trusted) [the lock's default]")
    ap.add_argument("--limit", type=int, default=4, help="first N clips of the set")
    ap.add_argument("--told", default="nominal", help="nominal,minus3,detect: the cutoffs to give")
    args = ap.parse_args()
    torch.set_num_threads(1)
    choice = ModelChoice(weights=args.weights, trust_local=True) if args.weights else ModelChoice()
    runner = ModelRunner(load_models(choice, PhaseMode.NONE).tdcnn, None)
    kinds, told = (args.kinds.split(",") if args.kinds else None), args.told.split(",")
    scores: dict[str, dict[str, list[float]]] = {}
    for item in load_index(args.valset, args.limit).items:
        if item.cutoff != cutoff_key(args.cutoff) or (kinds and item.kind not in kinds):
            continue
        lr, ref = load_16k(item.path), load_16k(item.ref)
        acc = SpectrumAccumulator()
        acc.add(lr)
        bw = detect(acc)
        given = {"nominal": item.cutoff_hz, "minus3": minus3_hz(item.kind, SAMPLE_RATE, item.cutoff_hz, item.order),
                 "detect": item.cutoff_hz if bw.wideband else bw.cutoff_hz}
        row = {}
        for name in told:
            c = float(min(max(given[name], 1000.0), 7000.0))
            row[name] = lsd(runner.keep(lr, runner.tdcnn(lr, c), PhaseMode.NONE, c), ref)
            scores.setdefault(item.kind, {}).setdefault(name, []).append(row[name])
        print(item.clip, item.kind, item.order, {k: round(v, 3) for k, v in row.items()}, flush=True)
    for kind, by in scores.items():
        print(f"{kind:18s}", {name: round(float(np.mean(v)), 3) for name, v in by.items()})
    paper = [v for kind, by in scores.items() if kind not in SOFT_KINDS for v in by[told[0]]]
    if paper:
        print(f"paper kinds ({len(paper)} files): {told[0]} {np.mean(paper):.4f}")


if __name__ == "__main__":
    main()
