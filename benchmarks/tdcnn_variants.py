"""What helps the TD-CNN on a CPU? Times one chunk batch under several execution variants.

    python benchmarks/tdcnn_variants.py [--threads 1,2] [--compile] [--weights W --config C]

The TD-CNN is about nine tenths of tdpr's compute at the default sizes, so
this is where execution tricks could pay. Each variant runs the same default
SEANet (random weights, or a trained one with ``--weights``/``--config``) on
one stereo chunk as the pipeline cuts it (4.8 s + 2 x 0.512 s context + fade):

- ``eager fp32``: what ``tdpr restore`` does;
- ``bf16 autocast``: ``--precision bf16`` (oneDNN bf16 kernels where the CPU has
  them); its error against fp32 is reported in dB below the generated band;
- ``jit freeze``: ``torch.jit.trace`` + ``freeze`` + ``optimize_for_inference``
  (constant folding, oneDNN layout conversion);
- ``compile``: ``torch.compile`` (inductor), with its one-off compile time.

Channels-last is not tried: it exists for 4-D/5-D tensors only, and a 1-D
convolution's (B, C, T) layout has no alternative memory format in torch.
Prints a table to stdout; logs to stderr. Each timing is the best of
``--repeat`` runs after a warm-up, with the load average next to it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

CHUNK = 76_800 + 4_096 + 2 * 8_192  # samples the pipeline feeds per chunk (default ChunkConfig)


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: allocator, oneDNN primitive cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def band_error_db(y: torch.Tensor, ref: torch.Tensor, cutoff_hz: float = 3000.0) -> float:
    """Energy of ``y - ref`` above ``cutoff_hz`` relative to ``ref``'s there, in dB."""
    freqs = np.fft.rfftfreq(ref.shape[-1], 1 / 16000)
    d = np.abs(np.fft.rfft((y - ref).double().numpy(), axis=-1))[..., freqs > cutoff_hz]
    r = np.abs(np.fft.rfft(ref.double().numpy(), axis=-1))[..., freqs > cutoff_hz]
    ratio = (d**2).sum() / max((r**2).sum(), 1e-30)
    return float(10 * np.log10(ratio)) if ratio > 0 else float("-inf")  # -inf: bit-identical


def load(args) -> torch.nn.Module:
    from tdpr_cli.models.load import load_model
    from tdpr_cli.models.seanet import Seanet, SeanetConfig

    if args.weights:
        return load_model(args.weights, args.config, "tdcnn")
    torch.manual_seed(0)
    model = Seanet(SeanetConfig())
    torch.nn.init.normal_(model.conv_out.weight, std=0.02)
    return model.eval()


def input_chunk() -> torch.Tensor:
    """(2, 1, CHUNK) band-limited harmonic test signal (same as tests use)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import band_limited

    return torch.from_numpy(band_limited(CHUNK / 16000, channels=2).T.copy())[:, None]


def variants(model, x, use_compile: bool):
    yield "eager fp32", model, None
    yield "bf16 autocast", model, torch.bfloat16
    traced = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
    yield "jit freeze", traced, None
    if use_compile:
        t0 = time.perf_counter()
        compiled = torch.compile(model)
        compiled(x)
        print(f"[variants] torch.compile first call: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        yield "compile", compiled, None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also try torch.compile (slow to compile)")
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--config", type=Path)
    args = ap.parse_args(argv)
    model, x = load(args), input_chunk()
    audio_s = 76_800 / 16000  # one chunk advances the stereo file by its hop, 4.8 s
    # Error of each variant against eager fp32, in dB: over the whole band, and above 3 kHz
    # relative to what the model generates there (what bandwidth extension is for).
    print(f"{'variant':<16}{'threads':>8}{'seconds':>10}{'x real time':>13}{'err dB':>9}{'err hi dB':>10}{'load':>7}")
    with torch.inference_mode():
        ref = model(x)
        for name, fn, dtype in variants(model, x, args.compile):
            for n in args.threads:
                torch.set_num_threads(n)
                amp = torch.autocast("cpu", dtype=dtype, enabled=dtype is not None)

                def run(fn=fn, amp=amp):
                    with amp:
                        return fn(x)

                s = best_of(run, args.repeat)
                y = run().float()
                full, high = band_error_db(y, ref, 0.0), band_error_db(y, ref)
                print(f"{name:<16}{n:>8}{s:>10.3f}{audio_s / s:>13.1f}{full:>9.1f}{high:>10.1f}{os.getloadavg()[0]:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
