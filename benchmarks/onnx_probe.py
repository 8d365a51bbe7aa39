"""Probe: would ONNX Runtime serve the CPU path better than torch? (issue 14's fixed cost)

Kept as the record of the probe that led to tdpr's ONNX Runtime path (``models/graph.py``);
needs ``pip install onnx``. It exports the shipped
TD-CNN (weights from the verified lock, as ``tdpr restore`` loads them) to
ONNX with dynamic batch and length, then times one pipeline chunk of stereo
(4.8 s + fade + 2 x context) through torch and through ONNX Runtime on one
thread, best of ``--repeats``, and checks that both give the same samples.
It also times a bare ``import torch`` and ``import onnxruntime`` in fresh
interpreters, since the import is most of a short file's wall time.

    python benchmarks/onnx_probe.py --repeats 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_env import emit
from tdpr_cli.config import ChunkConfig, PhaseMode
from tdpr_cli.restore.load import ModelChoice, load_models


def import_seconds(module: str, repeats: int) -> float:
    """Best wall time of ``python -c 'import module'`` in a fresh interpreter (start-up included)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        best = min(best, time.perf_counter() - t)
    return best


def best_of(fn, repeats: int) -> float:
    fn()  # first call: allocations, kernel selection
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import onnxruntime as ort

    torch.set_num_threads(1)
    tdcnn = load_models(ModelChoice(offline=True), PhaseMode.NONE).tdcnn.eval()
    c = ChunkConfig()
    x = torch.randn(2, 1, c.hop + c.fade + 2 * c.context) * 0.1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tdcnn.onnx"
        torch.onnx.export(tdcnn, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 2: "time"}, "y": {0: "batch", 2: "time"}})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        y_torch = tdcnn(x).numpy()
        torch_s = best_of(lambda: tdcnn(x), args.repeats)
    xn = x.numpy()
    y_ort = session.run(None, {"x": xn})[0]
    ort_s = best_of(lambda: session.run(None, {"x": xn}), args.repeats)
    chunk_s = x.shape[-1] / 16000
    emit({"chunk_seconds": chunk_s, "channels": 2, "torch_s": torch_s, "onnxruntime_s": ort_s,
          "torch_over_ort": torch_s / ort_s, "max_abs_difference": float(np.abs(y_ort - y_torch).max()),
          "import_torch_s": import_seconds("torch", args.repeats),
          "import_onnxruntime_s": import_seconds("onnxruntime", args.repeats),
          "torch": torch.__version__, "onnxruntime": ort.__version__}, args.json)


if __name__ == "__main__":
    main()
