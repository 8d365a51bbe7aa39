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


def test_pruning_finds_the_channels_that_carry_the_signal():
    # A width-2 model embedded in a width-4 one (the other channels all zero) computes the same;
    # cutting the wide one back to width 2 must find exactly the small model again.
    prune = _prune_module().prune
    small = _random(2, 1)
    wide = Seanet(SeanetConfig(channels=4, level_head=True)).eval()
    with torch.no_grad():
        for k, v in wide.state_dict().items():
            if v.is_floating_point() and v.dim():
                v.zero_()
                v[tuple(slice(0, n) for n in small.state_dict()[k].shape)] = small.state_dict()[k]
            else:
                v.copy_(small.state_dict()[k])
    x = 0.1 * torch.randn(2, 1, 8192)
    with torch.no_grad():
        assert torch.allclose(wide(x), small(x), atol=1e-6)
    state = prune(wide, Seanet(SeanetConfig(channels=2, level_head=True)), x)
    assert all(torch.equal(state[k], v) for k, v in small.state_dict().items())
