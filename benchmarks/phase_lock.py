"""Is a vocoder's phase locked to the TD-PR frame? The comb of phase-only resynthesis (issue 12).

Band mode puts the vocoder's STFT phase under the TD-CNN's magnitude. A phase
that repeats with the 256-sample frame makes a 62.5 Hz comb that the vocoder's
own magnitude can hide and any other magnitude reveals. Resynthesising 4-8 kHz
from the phase alone (unit magnitude, ``dsp.phase.phase_only``) shows it
whatever the magnitude: the comb (``evaluation.comb``) of that signal for the
reference, the TD-CNN output, and the vocoder's resynthesis of the reference's
and of the TD-CNN output's mel, on validation-set items at ``--cutoff``.

    python benchmarks/phase_lock.py --clips 2 --vocoder vocoder-piano-16k vocoder-piano-16k-gan \\
        --local ~/tdpr-runs/cand/vocos.safetensors --json results/phase-lock.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench_env import emit, valset_items
from tdpr_cli.config import PhaseMode
from tdpr_cli.dsp.phase import phase_only
from tdpr_cli.dsp.spectral import Stft
from tdpr_cli.evaluation.comb import comb_db
from tdpr_cli.evaluation.table import ModelRunner
from tdpr_cli.restore.load import ModelChoice, load_models, load_vocoders


def _lock_db(x: np.ndarray, stft: Stft) -> float:
    with torch.inference_mode():
        return comb_db(phase_only(torch.from_numpy(np.atleast_2d(x)).double(), stft.double()).numpy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valset", type=Path, default=Path("data/valset"))
    ap.add_argument("--cutoff", type=float, default=3000.0)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--vocoder", nargs="*", default=["vocoder-piano-16k-gan"], help="lock vocoder names")
    ap.add_argument("--local", nargs="*", type=Path, default=[], help="local vocoder safetensors, config beside")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    items = valset_items(args.valset, args.clips, args.cutoff)
    tdcnn = load_models(ModelChoice(offline=True), PhaseMode.NONE).tdcnn
    stft = Stft()
    inputs = []
    for item in items:
        lr, _ = sf.read(args.valset / item["path"], dtype="float32")
        ref, _ = sf.read(args.valset / item["ref"], dtype="float32")
        inputs.append((lr[None], ref[None]))
    rows: dict[str, dict[str, float]] = {}
    for name, voc in load_vocoders(args.vocoder, args.local).items():
        runner = ModelRunner(tdcnn, voc)
        scores: dict[str, list[float]] = {"reference": [], "tdcnn": [], "vocoder(reference mel)": [],
                                          "vocoder(TD-CNN mel)": []}
        for lr, ref in inputs:
            y = runner.tdcnn(lr, args.cutoff)
            for key, sig in (("reference", ref), ("tdcnn", y), ("vocoder(reference mel)", runner.vocode(ref)),
                             ("vocoder(TD-CNN mel)", runner.vocode(y))):
                scores[key].append(_lock_db(sig, stft))
        rows[name] = {k: float(np.mean(v)) for k, v in scores.items()}
        print(f"{name}: " + ", ".join(f"{k} {v:+.2f}" for k, v in rows[name].items()), file=sys.stderr)
    emit({"files": len(items), "cutoff_hz": args.cutoff, "phase_only_comb_db": rows}, args.json)


if __name__ == "__main__":
    main()
