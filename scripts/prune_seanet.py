"""Cut a trained SEANet TD-CNN to a narrower width: the start of a distilled student.

    python scripts/prune_seanet.py --weights W.safetensors --channels 8 --data data --out DIR

Keeps, at every U-Net level, the channels that carry the most (their activation's rms on
band-limited training clips, times the weight of everything that reads them), and in every
residual unit the hidden channels that matter most the same way. Encoder and decoder share a
level's channels (the skip is added), so one set serves both. The level head is copied;
conditioned models are refused. Writes ``DIR/<stem>-w<channels>.safetensors`` (fp32): weights that
``tdpr train tdcnn --init ... --channels N`` starts from (with ``--teacher``, issue 14).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import butter, sosfiltfilt
from torch import Tensor, nn

from tdpr_cli.models.load import build, load_model
from tdpr_cli.models.seanet import ResUnit, Seanet
from tdpr_cli.train.checkpoint import save_weights


def _clips(data: Path, count: int, seconds: float = 4.0) -> Tensor:
    """(count, 1, T) training clips at 16 kHz, low-passed at 3 kHz (a Butterworth of order 8)."""
    every = sorted((data / "train").glob("*.flac"))
    files = every[:: max(1, len(every) // count)]
    sos = butter(8, 3000, fs=16000, output="sos")
    out = []
    for f in files[:count]:
        audio = sf.read(str(f), dtype="float32", always_2d=True)[0].mean(axis=1)[: int(seconds * 16000)]
        out.append(np.pad(sosfiltfilt(sos, audio), (0, int(seconds * 16000) - len(audio))))
    return torch.from_numpy(np.stack(out)[:, None].astype(np.float32))


def _rms_by_channel(model: Seanet, x: Tensor) -> dict[str, Tensor]:
    """Channel rms of each level's stream (after its encoder stage) and of each residual unit's hidden layer."""
    found: dict[str, Tensor] = {}
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, ResUnit):
            hooks.append(mod.conv1.register_forward_hook(
                lambda m, i, o, n=name: found.__setitem__(n, nn.functional.elu(o).pow(2).mean((0, 2)).sqrt())))
    for i, enc in enumerate(model.enc):
        hooks.append(enc.register_forward_hook(lambda m, i_, o, n=i: found.__setitem__(f"level{n}", o.pow(2).mean((0, 2)).sqrt())))
    hooks.append(model.bottleneck.register_forward_hook(
        lambda m, i_, o: found.__setitem__(f"level{len(model.enc)}", o.pow(2).mean((0, 2)).sqrt())))
    with torch.no_grad():
        model.body(x)
    for h in hooks:
        h.remove()
    return found


def _keep(score: Tensor, n: int) -> Tensor:
    """(C,) channel scores -> the (n,) indices of the n highest, in ascending order."""
    return torch.sort(torch.topk(score, n).indices).values


def prune(teacher: Seanet, student: Seanet, x: Tensor) -> dict[str, Tensor]:
    """The student's state dict, cut from the teacher's by channel importance on ``x``."""
    t = teacher.state_dict()
    rms = _rms_by_channel(teacher, x)
    n_levels = len(teacher.enc) + 1
    s_widths = [min(student.cfg.channels * 2**i, student.cfg.max_channels) for i in range(n_levels)]
    # What reads a level's channels: the encoder and decoder units' first convs, the down conv
    # to the next level, the up conv to the one before (ConvTranspose: in-channels first), and
    # at the ends the output conv and the bottleneck.
    keep = []
    for i in range(n_levels):
        reads = torch.zeros_like(rms[f"level{i}"])
        for k, v in t.items():
            level_of = _level_of(k, n_levels)
            if level_of == i and k.endswith("conv1.weight"):
                reads += v.pow(2).sum((0, 2))
        if i < n_levels - 1:
            reads += t[f"down.{i}.weight"].pow(2).sum((0, 2))
        if i > 0:
            reads += t[f"up.{n_levels - 1 - i}.conv.weight"].pow(2).sum((1, 2))
        if i == 0:
            reads += t["conv_out.weight"].pow(2).sum((0, 2))
        if i == n_levels - 1:
            reads += t["bottleneck.weight"].pow(2).sum((0, 2))
        keep.append(_keep(rms[f"level{i}"] * reads.sqrt(), s_widths[i]))
    out: dict[str, Tensor] = {}
    for k, v in student.state_dict().items():
        out[k] = _cut(k, t[k], keep, rms, t, n_levels) if k in t else v
        if out[k].shape != v.shape:
            raise SystemExit(f"{k}: cut to {tuple(out[k].shape)}, the student wants {tuple(v.shape)}")
    return out


def _level_of(key: str, n_levels: int) -> int | None:
    """The U-Net level a residual-unit parameter works at (enc.i -> i, dec.j -> n_levels - 2 - j)."""
    part = key.split(".")
    if part[0] == "enc":
        return int(part[1])
    if part[0] == "dec":
        return n_levels - 2 - int(part[1])
    return None


def _cut(key: str, v: Tensor, keep: list[Tensor], rms: dict[str, Tensor], t: dict[str, Tensor], n_levels: int) -> Tensor:
    """The teacher's tensor ``key`` cut to the kept channels, by its layout: Conv1d weights are
    (out, in, k), ConvTranspose1d weights (in, out, k); ``keep`` holds each level's channels."""
    part = key.split(".")
    if part[0] in ("enc", "dec"):
        level = keep[_level_of(key, n_levels)]
        unit = ".".join(part[:3])
        hidden_score = rms[unit] * t[f"{unit}.conv2.weight"].pow(2).sum((0, 2)).sqrt()
        hidden = _keep(hidden_score, len(level))
        if part[3] == "conv1":
            return v[hidden][:, level] if v.dim() == 3 else v[hidden]
        return v[level][:, hidden] if v.dim() == 3 else v[level]
    if part[0] == "conv_in":
        return v[keep[0]]
    if part[0] == "conv_out":
        return v[:, keep[0]] if v.dim() == 3 else v
    if part[0] == "down":
        i = int(part[1])
        return v[keep[i + 1]][:, keep[i]] if v.dim() == 3 else v[keep[i + 1]]
    if part[0] == "bottleneck":
        return v[keep[-1]][:, keep[-1]] if v.dim() == 3 else v[keep[-1]]
    if part[0] == "up":  # ConvTranspose1d: (in, out, k); up.j goes from level n-1-j to n-2-j
        j = int(part[1])
        src, dst = keep[n_levels - 1 - j], keep[n_levels - 2 - j]
        return v[src][:, dst] if v.dim() == 3 else v[dst]
    if part[0] == "films":
        raise SystemExit("conditioned models are not cut by this script")
    return v  # the level head and buffers: width-free


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True, help="teacher .safetensors (its .json beside it)")
    ap.add_argument("--channels", type=int, required=True)
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    torch.manual_seed(0)
    teacher = load_model(a.weights, a.weights.with_suffix(".json"), kind="tdcnn")
    if not isinstance(teacher, Seanet) or teacher.cfg.condition or teacher.cfg.upsampler != "transposed":
        raise SystemExit("only unconditioned SEANet TD-CNNs with transposed-conv upsamplers are cut")
    if not 1 <= a.channels <= teacher.cfg.channels:
        raise SystemExit(f"--channels must lie in 1..{teacher.cfg.channels} (the teacher's width)")
    cfg = json.loads(a.weights.with_suffix(".json").read_text())
    cfg["params"]["channels"] = a.channels
    student = build({k: cfg[k] for k in ("arch", "kind", "params", "sample_rate")})
    assert isinstance(student, Seanet)
    student.load_state_dict(prune(teacher, student, _clips(a.data, a.clips)))
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"{a.weights.stem}-w{a.channels}.safetensors"
    save_weights(student, path)  # fp32: a start for --init, not a model to ship
    print(path)


if __name__ == "__main__":
    main()
