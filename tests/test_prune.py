"""scripts/prune_seanet.py: cutting a trained SEANet to a narrower width (a distilled student's start)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from tdpr_cli.models.seanet import Seanet, SeanetConfig

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prune_seanet.py"


def _prune_module():
    spec = importlib.util.spec_from_file_location("prune_seanet", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random(channels: int, seed: int) -> Seanet:
    torch.manual_seed(seed)
    model = Seanet(SeanetConfig(channels=channels, level_head=True)).eval()
    with torch.no_grad():
        for p in model.parameters():  # away from the zero-started output conv and head
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_pruning_to_the_same_width_keeps_every_weight():
    prune = _prune_module().prune
    teacher = _random(4, 0)
    x = 0.1 * torch.randn(2, 1, 4096)
    state = prune(teacher, Seanet(SeanetConfig(channels=4, level_head=True)), x)
    assert all(torch.equal(state[k], v) for k, v in teacher.state_dict().items())


def _where(key: str, levels: list[torch.Tensor], hidden: dict[str, torch.Tensor], n: int) -> tuple:
    """The (rows, columns) of the wide tensor ``key`` that the small one fills (None: all),
    written out from the architecture: Conv1d (out, in, k), ConvTranspose1d (in, out, k)."""
    part = key.split(".")
    if part[0] in ("enc", "dec"):
        level = levels[int(part[1]) if part[0] == "enc" else n - 2 - int(part[1])]
        h = hidden[".".join(part[:3])]
        rows, cols = (h, level) if part[3] == "conv1" else (level, h)
        return (rows, cols) if part[4] == "weight" else (rows, None)
    if part[0] == "conv_in":
        return levels[0], None
    if part[0] == "conv_out":
        return (None, levels[0]) if part[1] == "weight" else (None, None)
    if part[0] == "down":
        i = int(part[1])
        return (levels[i + 1], levels[i]) if part[2] == "weight" else (levels[i + 1], None)
    if part[0] == "bottleneck":
        return (levels[-1], levels[-1]) if part[1] == "weight" else (levels[-1], None)
    if part[0] == "up":
        j = int(part[1])
        src, dst = levels[n - 1 - j], levels[n - 2 - j]
        return (src, dst) if part[3] == "weight" else (dst, None)
    return None, None  # the level head: copied whole


def test_pruning_finds_the_channels_that_carry_the_signal():
    # A width-2 model embedded in a width-4 one, on scattered channels (a different set at each
    # level and in each residual unit's hidden layer; the rest all zero), computes the same.
    # Cutting the wide one back to width 2 must find exactly the small model again.
    prune = _prune_module().prune
    small, wide = _random(2, 1), Seanet(SeanetConfig(channels=4, level_head=True)).eval()
    n = len(small.enc) + 1
    gen = torch.Generator().manual_seed(5)

    def scattered(width: int) -> torch.Tensor:
        return torch.sort(torch.randperm(2 * width, generator=gen)[:width]).values

    levels = [scattered(min(2 * 2**i, 512)) for i in range(n)]
    hidden = {name: scattered(m.conv2.weight.shape[0]) for name, m in small.named_modules() if hasattr(m, "conv2")}
    assert any(not torch.equal(h, levels[0]) for h in hidden.values())  # the sets differ
    with torch.no_grad():
        for key, v in wide.state_dict().items():
            want = small.state_dict()[key]
            rows, cols = _where(key, levels, hidden, n)
            if rows is None and cols is None:
                v.copy_(want)
                continue
            v.zero_()
            block = v if rows is None else v[rows]
            if cols is not None:
                block[:, cols] = want
            else:
                block[...] = want
            if rows is not None:
                v[rows] = block
    x = 0.1 * torch.randn(2, 1, 8192)
    with torch.no_grad():
        assert torch.allclose(wide(x), small(x), atol=1e-6)
    state = prune(wide, Seanet(SeanetConfig(channels=2, level_head=True)), x)
    assert all(torch.equal(state[k], v) for k, v in small.state_dict().items())
