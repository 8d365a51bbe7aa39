"""Quality against speed for every TD-CNN size trained (issue 7's trade-off plot).

    python benchmarks/tradeoff.py RUN [RUN ...] [--step 1750] [--seconds 30] [--threads 1]
        [--json docs/benchmarks/tradeoff.json] [--plot docs/tradeoff.png]

Each RUN is a ``tdpr train tdcnn`` run folder (log.jsonl and export/*.json),
or an exported model's JSON (speed only, e.g. the shipped default).
Quality is the run's own validation LSD (the trainer's fixed valid-split
segments at a 3 kHz cutoff, all seven filter kinds) at ``--step``, so every
model is compared after the same number of steps of the same recipe, plus the
last validation of longer runs. Speed is the in-process pipeline of
``speed.py`` (read + resample twice, analyse, TD-CNN, the shipped vocoder,
band phase repair, overlap-add, write) on ``--seconds`` of stereo 44.1 kHz,
all models timed in this one run, one after the other, with the same thread
count. The paper-size SEANet (~11M parameters, random weights, never trained
here) is timed too, as the speed reference. The table goes to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_env import load_avg, make_input, params_m
from speed import Clock, log, model_stages, read_stages, summarise, write_stage


def valid_records(run: Path) -> list[dict]:
    """The run's validation records, in step order."""
    lines = (run / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == "valid"]


def quality(run: Path, step: int) -> dict:
    """Validation LSD at ``step`` (exactly) and at the run's last validation."""
    records = valid_records(run)
    at = [r for r in records if r["step"] == step]
    if not at:
        raise SystemExit(f"{run}: no validation at step {step}; steps: {[r['step'] for r in records]}")
    last = records[-1]
    return {"lsd_at_step": at[0]["lsd"], "last_step": last["step"], "lsd_last": last["lsd"]}


def trained_model(run: Path) -> tuple[torch.nn.Module, dict]:
    """The run's exported TD-CNN and its config."""
    from tdpr_cli.models.load import load_model

    configs = sorted((run / "export").glob("*.json"))
    if len(configs) != 1:
        raise SystemExit(f"{run}/export: expected one exported model, found {[c.name for c in configs]}")
    cfg = json.loads(configs[0].read_text())
    return load_model(configs[0].with_suffix(".safetensors"), configs[0], "tdcnn"), cfg


def shipped_vocoder() -> torch.nn.Module:
    """The lock's default vocoder, sha256-verified as ``tdpr restore`` loads it."""
    from tdpr_cli.config import PhaseMode
    from tdpr_cli.restore.load import ModelChoice, load_models

    return load_models(ModelChoice(offline=True), PhaseMode.BAND).vocoder


def pipeline_speed(tdcnn, vocoder, path: Path, seconds: float, tmp: Path) -> dict:
    """In-process pipeline (default RestoreConfig: band mode) on ``path``; x real time by wall and CPU time."""
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.restore.pipeline import Restorer

    cpu = torch.device("cpu")
    clock = Clock(cpu)
    blocks, channels, cutoff = read_stages(path, clock)
    restorer = Restorer(tdcnn, vocoder, RestoreConfig(), cpu)
    model_stages(restorer, [blocks[0][:, :80_000]], channels, cutoff, Clock(cpu))  # warm-up
    outputs = model_stages(restorer, blocks, channels, cutoff, clock)
    write_stage(tmp / "out.wav", outputs, channels, clock)
    row = summarise("", clock, seconds)
    return {k: row[k] for k in ("x_rt", "x_rt_cpu", "total_s", "cpu_total_s", "load")} | {
        "tdcnn_x_rt_cpu": seconds / clock.cpu["TD-CNN"]}


def measure(args) -> list[dict]:
    from tdpr_cli.models.seanet import Seanet, SeanetConfig

    torch.set_num_threads(args.threads)
    vocoder, rows = shipped_vocoder(), []
    with tempfile.TemporaryDirectory() as tmp:
        path = make_input(Path(tmp) / "in.wav", args.seconds)
        for run in args.runs:
            if run.suffix == ".json":  # an exported model (e.g. the shipped one): speed only
                from tdpr_cli.models.load import load_model

                model, cfg = load_model(run.with_suffix(".safetensors"), run, "tdcnn"), json.loads(run.read_text())
                row = {"run": str(run), "params_m": params_m(model), "arch": cfg["params"]}
            else:
                model, cfg = trained_model(run)
                row = {"run": str(run), "params_m": params_m(model), "arch": cfg["params"], **quality(run, args.step)}
            row |= pipeline_speed(model, vocoder, path, args.seconds, Path(tmp))
            quality_text = f"LSD {row['lsd_at_step']:.3f} @ {args.step}" if "lsd_at_step" in row else "no run log"
            log(f"{run}: {row['params_m']:.2f}M, {quality_text}, "
                f"{row['x_rt']:.1f}x wall, {row['x_rt_cpu']:.1f}x CPU time (load {row['load']:.2f})")
            rows.append(row)
        if args.no_paper:
            return rows
        torch.manual_seed(0)
        paper = Seanet(SeanetConfig(channels=32)).eval()
        row = {"run": "paper-size SEANet (random weights, not trained)", "params_m": params_m(paper)}
        rows.append(row | pipeline_speed(paper, vocoder, path, args.seconds, Path(tmp)))
        log(f"paper-size: {rows[-1]['x_rt']:.1f}x wall, {rows[-1]['x_rt_cpu']:.1f}x CPU time")
    return rows


def table(rows: list[dict], step: int) -> str:
    out = [f"| model | params | valid LSD @ {step} | last valid LSD (step) | pipeline x RT wall | x RT CPU time "
           "| TD-CNN x RT CPU time | load |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        q = (f"{r['lsd_at_step']:.3f} | {r['lsd_last']:.3f} ({r['last_step']})" if "lsd_at_step" in r else "- | -")
        out.append(f"| {r['run']} | {r['params_m']:.2f}M | {q} | {r['x_rt']:.1f} | {r['x_rt_cpu']:.1f} "
                   f"| {r['tdcnn_x_rt_cpu']:.1f} | {r['load']:.2f} |")
    return "\n".join(out)


def plot(rows: list[dict], step: int, target: float, path: Path) -> None:
    """Validation LSD (y) against pipeline x real time on CPU time (x); the 20x target as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    trained = [r for r in rows if "lsd_at_step" in r]
    ax.plot([r["x_rt_cpu"] for r in trained], [r["lsd_at_step"] for r in trained], "o-", label=f"step {step}")
    for r in trained:
        ax.annotate(f"{Path(r['run']).name} {r['params_m']:.2f}M", (r["x_rt_cpu"], r["lsd_at_step"]),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
        if r["last_step"] > step:
            ax.plot([r["x_rt_cpu"]], [r["lsd_last"]], "s", color="C2")
            ax.annotate(f"step {r['last_step']}", (r["x_rt_cpu"], r["lsd_last"]), textcoords="offset points",
                        xytext=(5, -10), fontsize=8)
    for r in rows:
        if "lsd_at_step" not in r:
            ax.axvline(r["x_rt_cpu"], color="grey", ls=":", label=f"paper-size SEANet ({r['x_rt_cpu']:.1f}x)")
    ax.axvline(target, color="C3", ls="--", label=f"target {target:g}x")
    ax.set_xscale("log")
    ax.set_xlabel("whole in-process pipeline, x real time (1 core, CPU time)")
    ax.set_ylabel("validation LSD at 3 kHz (lower is better)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--step", type=int, default=1750, help="validation step compared across runs")
    p.add_argument("--seconds", type=float, default=30.0, help="stereo 44.1 kHz input length")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--target", type=float, default=20.0, help="x real time target drawn on the plot")
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path)
    p.add_argument("--no-paper", action="store_true", help="skip the paper-size SEANet reference")
    args = p.parse_args(argv)
    torch.set_flush_denormal(True)
    rows = measure(args)
    print(table(rows, args.step))
    if args.json:
        args.json.write_text(json.dumps({"step": args.step, "seconds": args.seconds, "threads": args.threads,
                                         "load_end": load_avg(), "rows": rows}, indent=2) + "\n")
    if args.plot:
        plot(rows, args.step, args.target, args.plot)


if __name__ == "__main__":
    main()
