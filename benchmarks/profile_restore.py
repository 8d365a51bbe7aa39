"""Where one ``tdpr restore`` process spends its time, stage by stage (issue 14: profile first).

    python benchmarks/profile_restore.py --seconds 1 --threads 1      # one run
    python benchmarks/profile_restore.py --sweep 1,60 --threads 1     # a fresh process per length
    python benchmarks/profile_restore.py --seconds 1 --runtime torch  # the torch runtime instead

Each measurement runs in a fresh interpreter so that the import stage is real.
It does what ``tdpr restore IN OUT`` does with the shipped models, with a
clock around each stage: import, lock and weights verification, model build
and load, read + resample (twice: analysis, then restore), detection, TD-CNN,
vocoder, STFTs + phase repair (and the kept band), chunking + overlap-add, and
write; the audio stages are timed by ``speed.py``'s own functions. The input is stereo 44.1 kHz
(``bench_env.make_input``: decaying notes plus a little noise, low-passed at 3 kHz). One JSON line per run goes to
stdout, a table to stderr.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before any other import: the import stage starts here

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections import defaultdict  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402


def profile(seconds: float, threads: int, runtime: str, tmp: Path) -> dict:
    """Stage seconds of one restore of ``seconds`` of stereo 44.1 kHz audio, in this process.

    ``runtime``: "torch" or "onnxruntime" (the graph runtime imports no torch). The audio stages
    are ``stages.py``'s (``read_stages``, ``model_stages``, ``write_stage``): the same clock and
    the same booking of the stream's remainder as ``speed.py``.
    """
    stages: dict[str, float] = defaultdict(float)

    @contextmanager
    def clock(name: str):
        t = time.perf_counter()
        yield
        stages[name] += time.perf_counter() - t

    with clock("import"):
        from tdpr_cli.device import single_threaded_blas

        single_threaded_blas()  # as cli.main does, before numpy: one BLAS thread for the small products
        if runtime == "torch":
            import torch  # noqa: F401

            from tdpr_cli.restore import pipeline  # noqa: F401
        else:
            import onnxruntime  # noqa: F401

            from tdpr_cli.restore import graph_pipeline  # noqa: F401
        from tdpr_cli.audio.read import AudioSource
        from tdpr_cli.audio.resample import resampled
        from tdpr_cli.config import PhaseMode, RestoreConfig, Runtime
        from tdpr_cli.device import Precision
        from tdpr_cli.restore.load import ModelChoice, build_restorer, resolve_models
    stages["import"] += time.perf_counter() - T0 - sum(stages.values())  # interpreter start-up to here
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_env import load_avg, make_input
    from stages import Clock, model_stages, read_stages, write_stage

    src_path = make_input(tmp / f"in-{seconds:g}.wav", seconds)
    cfg = RestoreConfig(runtime=Runtime(runtime))
    with clock("lock + weights verification"):
        found = resolve_models(ModelChoice(offline=True), PhaseMode.BAND)
    with clock("model build + load"):
        restorer = build_restorer(found, cfg, "cpu", Precision.FP32, threads)
    audio = Clock("cpu")
    blocks, channels, cutoff = read_stages(src_path, audio)
    with audio("read + resample"):
        list(resampled(AudioSource(str(src_path))))  # restore reads the file a second time
    outputs = model_stages(restorer, blocks, channels, cutoff, audio)
    write_stage(tmp / "out.wav", outputs, channels, audio)
    every = {**stages, **audio.s}
    total = sum(every.values())  # the restore's own stages: making the input file is not one of them
    return {"seconds": seconds, "threads": threads, "runtime": restorer.runtime, "stages": every, "total_s": total,
            "x_real_time": seconds / total, "load": load_avg(), "torch_imported": "torch" in sys.modules}


def table(res: dict) -> str:
    lines = [f"{res['seconds']:g} s stereo 44.1 kHz, {res['runtime']}, {res['threads']} thread(s), load {res['load']:.2f}: "
             f"{res['total_s']:.2f} s ({res['x_real_time']:.2f}x real time)"]
    for name, s in res["stages"].items():
        lines.append(f"  {name:<28} {s:7.3f} s  {100 * s / res['total_s']:5.1f} %")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runtime", choices=("onnxruntime", "torch"), default="onnxruntime")
    ap.add_argument("--sweep", help="comma-separated lengths: one fresh process each")
    args = ap.parse_args()
    if args.sweep:
        for s in args.sweep.split(","):
            subprocess.run([sys.executable, __file__, "--seconds", s, "--threads", str(args.threads),
                            "--runtime", args.runtime], check=True)
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        res = profile(args.seconds, args.threads, args.runtime, Path(tmp))
    print(table(res), file=sys.stderr)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
