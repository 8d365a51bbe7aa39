"""Speed and memory of tdpr, stage by stage, against the targets of issue 7.

    python benchmarks/speed.py [--seconds 60] [--threads 1,2] [--json out.json]

Measures, on 60 s of stereo 44.1 kHz band-limited input (random weights:
speed does not depend on their values; "default" is the architecture of the lock's default models):

- seconds and times real time of each stage (read + resample, analyse,
  TD-CNN, vocoder incl. log-mel, phase repair, overlap-add, write), run
  in-process with the torch pipeline's own modules and chunk plan, per thread count
  (``profile_restore.py`` breaks down the ONNX Runtime path a CPU restore takes);
- the same model stages with paper-size models (SEANet ~11M parameters, a
  TFGAN-size ~6M MelGAN-style vocoder from ``melgan.py``) on the first
  ``--paper-seconds`` of the same input, and the default pipeline on the same
  excerpt, giving the paper/default time ratio;
- the whole ``tdpr restore`` process (wall time, peak RSS via ``os.wait4``);
- peak RSS for a 1-minute and a ``--long-minutes`` input (see ``--long-models``);
- ``tdpr --help`` wall time; CUDA figures when a GPU is present.

"x real time" is the file's duration divided by the seconds taken (a stereo
minute counts as one minute). The table goes to stdout, progress to stderr.
The CPU is often shared: every figure carries the one-minute load average
taken when it was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_env import load_avg, make_input, params_m, pin_models
from melgan import MelGanGenerator
from stages import Clock, model_stages, read_stages, write_stage  # noqa: F401  (tradeoff.py imports them from here)


def log(msg: str) -> None:
    print(f"[speed] {msg}", file=sys.stderr, flush=True)


def summarise(label: str, clock: Clock, duration: float, **extra) -> dict:
    """One result row; the pipeline total counts read + resample twice, as ``restore`` does."""
    stages, cpu = dict(clock.s), dict(clock.cpu)
    total = sum(stages.values()) + stages.get("read + resample", 0.0)
    cpu_total = sum(cpu.values()) + cpu.get("read + resample", 0.0)
    return {"label": label, "stages": stages, "cpu_stages": cpu, "total_s": total, "x_rt": duration / total,
            "cpu_total_s": cpu_total, "x_rt_cpu": duration / cpu_total,
            "stage_x_rt": {k: duration / v for k, v in stages.items() if v > 0}, "load": load_avg(), **extra}


def build_models(seed: int = 0) -> dict:
    """The shipped defaults' architectures (the lock's), paper-size and tiny models, random
    weights (``conv_out`` non-zero: not the identity)."""
    from tdpr_cli.models.load import build, read_config
    from tdpr_cli.models.seanet import Seanet, SeanetConfig
    from tdpr_cli.models.vocoder import Vocoder, VocoderConfig
    from tdpr_cli.weights import resolve as W

    torch.manual_seed(seed)
    lock = W.load_lock()
    shipped = tuple(build(read_config(W.resolve(lock, lock.defaults[kind], kind, offline=True).config_path))
                    for kind in ("tdcnn", "vocoder"))
    models = {"default": shipped,
              "paper": (Seanet(SeanetConfig(channels=32)), MelGanGenerator()),  # 11.4M, 6.0M
              "tiny": (Seanet(SeanetConfig(channels=4)), Vocoder(VocoderConfig(dim=32, intermediate=64, layers=2)))}
    for tdcnn, _ in models.values():
        torch.nn.init.normal_(tdcnn.conv_out.weight, std=0.02)
    return {k: tuple(m.eval() for m in v) for k, v in models.items()}


def excerpt(blocks: list[np.ndarray], seconds: float) -> list[np.ndarray]:
    return [np.concatenate(blocks, axis=1)[:, : int(seconds * 16000)]]


def in_process(args, models, path: Path, tmp: Path) -> tuple[list[dict], list[dict]]:
    """Stage table per thread count (default models), and paper vs default on an excerpt."""
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.restore.pipeline import Restorer

    cpu, rows, paper = torch.device("cpu"), [], []
    for n in args.threads:
        torch.set_num_threads(n)
        clock = Clock(cpu)
        blocks, channels, cutoff = read_stages(path, clock)
        io = {k: clock.s[k] for k in ("read + resample", "analyse (LTAS)")}
        restorer = Restorer(*models["default"], RestoreConfig(), cpu)
        model_stages(restorer, excerpt(blocks, 5.0), channels, cutoff, Clock(cpu))  # warm-up
        outputs = model_stages(restorer, blocks, channels, cutoff, clock)
        write_stage(tmp / "out.wav", outputs, channels, clock)
        io["write"] = clock.s["write"]
        rows.append(summarise(f"default, CPU, torch, {n} thread(s)", clock, args.seconds, threads=n, cutoff_hz=cutoff))
        r = rows[-1]
        log(f"in-process default, {n} thread(s): {r['x_rt']:.1f}x wall, {r['x_rt_cpu']:.1f}x CPU time (load {r['load']:.2f})")
        if args.paper_seconds > 0:
            paper.append(paper_ratio(models, blocks, channels, cutoff, io, args, n))
    return rows, paper


def paper_ratio(models, blocks, channels, cutoff, io, args, threads) -> dict:
    """Default and paper-size model stages on the same excerpt; I/O per second taken from the full run."""
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.restore.pipeline import Restorer

    cpu, seconds = torch.device("cpu"), args.paper_seconds
    part = excerpt(blocks, seconds)
    io_s = {k: v * seconds / args.seconds for k, v in io.items()}
    io_s["read + resample"] *= 2  # read twice by restore
    res = {"threads": threads, "seconds": seconds, "params_m": {}}
    for name in ("default", "paper"):
        tdcnn, voc = models[name]
        res["params_m"][name] = {"tdcnn": params_m(tdcnn), "vocoder": params_m(voc)}
        restorer = Restorer(tdcnn, voc, RestoreConfig(), cpu)
        model_stages(restorer, excerpt(blocks, 2.0), channels, cutoff, Clock(cpu))  # warm-up
        clock = Clock(cpu)
        model_stages(restorer, part, channels, cutoff, clock)
        res[name] = {"stages": dict(clock.s), "compute_s": sum(clock.s.values()), "cpu_s": sum(clock.cpu.values()),
                     "pipeline_s": sum(clock.s.values()) + sum(io_s.values()), "load": load_avg()}
        res[name]["x_rt"] = seconds / res[name]["pipeline_s"]
        log(f"{name} models, {threads} thread(s), {seconds:.0f} s: {res[name]['x_rt']:.1f}x (load {load_avg():.2f})")
    res["ratio_pipeline"] = res["paper"]["pipeline_s"] / res["default"]["pipeline_s"]
    res["ratio_compute"] = res["paper"]["compute_s"] / res["default"]["compute_s"]
    res["ratio_cpu"] = res["paper"]["cpu_s"] / res["default"]["cpu_s"]
    return res


def cuda_in_process(models, path: Path, seconds: float, batch: int) -> list[dict]:
    """Default models on the GPU: chunk batching, fp32 and fp16 autocast; empty without CUDA."""
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.restore.pipeline import Restorer

    if not torch.cuda.is_available():
        return []
    dev, rows = torch.device("cuda"), []
    blocks, channels, cutoff = read_stages(path, Clock(torch.device("cpu")))
    for amp in (None, torch.float16, torch.bfloat16):
        restorer = Restorer(*models["default"], RestoreConfig(batch_size=batch), dev, amp)
        model_stages(restorer, blocks, channels, cutoff, Clock(dev))  # warm-up: cuDNN autotuning, allocator
        clock = Clock(dev)
        model_stages(restorer, blocks, channels, cutoff, clock)
        name = "fp32" if amp is None else str(amp).removeprefix("torch.")
        rows.append(summarise(f"default, CUDA, batch {batch}, {name}, models only", clock, seconds,
                              device=torch.cuda.get_device_name(dev)))
        log(f"{rows[-1]['label']}: {rows[-1]['x_rt']:.0f}x")
    return rows


def table(results: dict) -> str:
    """Plain-text summary of ``results`` for stdout."""
    lines = [f"input: {results['input']}", ""]
    for row in results["in_process"] + results["cuda"]:
        lines.append(f"{row['label']}  (load {row['load']:.2f})    wall s, x real time, CPU s")
        for k, v in row["stages"].items():
            lines.append(f"  {k:<22} {v:8.3f} s  {row['stage_x_rt'][k]:9.1f}x  {row['cpu_stages'][k]:8.3f} s")
        lines.append(f"  {'pipeline (read twice)':<22} {row['total_s']:8.3f} s  {row['x_rt']:9.1f}x  "
                     f"{row['cpu_total_s']:8.3f} s = {row['x_rt_cpu']:.1f}x on CPU time")
    for p in results["paper"]:
        lines.append(f"paper-size vs default, {p['threads']} thread(s), {p['seconds']:.0f} s excerpt: "
                     f"{p['default']['x_rt']:.1f}x vs {p['paper']['x_rt']:.1f}x real time -> "
                     f"ratio {p['ratio_pipeline']:.1f} (models only {p['ratio_compute']:.1f}, CPU time {p['ratio_cpu']:.1f}); "
                     f"params {p['params_m']}")
    for r in results["process"]:
        lines.append(f"{r['label']:<62} {r['wall_s']:7.2f} s {r['x_rt']:7.1f}x  CPU {r['cpu_s']:6.1f} s  "
                     f"RSS {r['max_rss_mb']:5.0f} MB  (load {r['load']:.2f})")
    if results.get("rss"):
        r = results["rss"]
        keys = [k for k in r if k.endswith("min")]
        lines.append("peak RSS, " + ", ".join(f"{k}: {r[k]['max_rss_mb']:.0f} MB" for k in keys)
                     + f" ({r['models']} models, --threads {r['threads']}); growth {100 * r['growth']:+.1f} %")
    h = results["help"]
    lines.append(f"tdpr --help: min {h['min_s']:.3f} s, median {h['median_s']:.3f} s (load {h['load']:.2f})")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="input length (stereo, 44.1 kHz)")
    ap.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    ap.add_argument("--paper-seconds", type=float, default=15.0, help="excerpt for the paper-size models; 0 skips")
    ap.add_argument("--long-minutes", type=float, default=60.0, help="long input for the RSS check; 0 skips")
    ap.add_argument("--long-models", choices=("default", "tiny"), default="tiny",
                    help="models for both RSS runs (tiny: same code path, minutes instead of an hour)")
    ap.add_argument("--cuda-batch", type=int, default=16)
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import os

    import processes

    args = parse(argv)
    models = build_models()
    results = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "load_at_start": load_avg(),
                           "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}}
    with tempfile.TemporaryDirectory(prefix="tdpr-bench-") as d:
        tmp = Path(d)
        src = make_input(tmp / "in.wav", args.seconds)
        results["input"] = f"{args.seconds:g} s, stereo, 44.1 kHz PCM-16, band-limited at 3 kHz"
        env = pin_models(tmp / "lock", {"bench-tdcnn": models["default"][0], "bench-vocoder": models["default"][1]})
        results["process"] = processes.whole_processes(env, src, tmp, args.seconds, args.threads, torch.cuda.is_available())
        results["in_process"], results["paper"] = in_process(args, models, src, tmp)
        results["cuda"] = cuda_in_process(models, src, args.seconds, args.cuda_batch)
        if args.long_minutes > 0:
            threads = min(args.threads)
            results["rss"] = processes.long_rss(models[args.long_models], tmp, args.long_minutes, args.long_models, threads)
        results["help"] = processes.help_time()
    results["machine"]["load_at_end"] = load_avg()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
