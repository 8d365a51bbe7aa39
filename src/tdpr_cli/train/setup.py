"""What a training run is built from: torch's threads and device, the parameters it trains,
and the configuration of the batches it draws (``train.loop`` runs it)."""

from __future__ import annotations

from dataclasses import replace

import torch

from tdpr_cli.device import pick_device, reuse_freed_memory
from tdpr_cli.errors import UsageError
from tdpr_cli.simulate.degrade import SimConfig
from tdpr_cli.simulate.hiss import HissConfig
from tdpr_cli.train.dataset import SegmentConfig
from tdpr_cli.train.schedule import TrainConfig
from tdpr_cli.train.timbre import ColourRange


def setup_torch(cfg: TrainConfig) -> torch.device:
    """Threads, denormals, seed and device of a run; call before building the model."""
    torch.set_num_threads(cfg.threads)
    # Denormals appear in the decaying tails of piano notes and slow CPU convolutions down.
    torch.set_flush_denormal(True)
    reuse_freed_memory()  # each step frees and re-takes the same blocks
    torch.manual_seed(cfg.seed)
    return pick_device(cfg.device)[0]


def trainable(model: torch.nn.Module, prefix: str | None) -> list[torch.nn.Parameter]:
    """The parameters to train: all, those whose names start with ``prefix``, or with
    ``"!" + prefix`` all but those (the rest are frozen, so their forward pass builds no graph
    and costs no backward)."""
    if prefix is None:
        return list(model.parameters())
    keep = not prefix.startswith("!")
    stem = prefix if keep else prefix[1:]
    chosen, named = [], False
    for name, p in model.named_parameters():
        named = named or name.startswith(stem)
        p.requires_grad_(name.startswith(stem) == keep)
        if p.requires_grad:
            chosen.append(p)
    if not chosen or not named:
        raise UsageError(f"--train-only {prefix!r} names no parameter of this model")
    return chosen


def segment_config(cfg: TrainConfig, degrade: bool) -> SegmentConfig:
    """The batches a run draws: its batch shape, simulation mix and target colouring."""
    seg = SegmentConfig(batch=cfg.batch, seconds=cfg.segment_s, degrade=degrade,
                        sim=SimConfig(soft_share=cfg.soft_share,
                                      kind_weights=tuple((cfg.kind_weights or {}).items())),
                        colour=ColourRange(probability=cfg.colour_probability), stated_cutoff=cfg.stated_cutoff,
                        hiss=HissConfig(probability=cfg.hiss_probability))
    if cfg.soundfont_weights is None:
        return seg
    return replace(seg, soundfont_weights=tuple(cfg.soundfont_weights.items()))


def check_soundfonts(cfg: TrainConfig, fonts: set[str]) -> None:
    """Every soundfont ``--soundfont-weights`` names must be one the training split has: a
    misspelt name would leave the real one at the default weight without a word."""
    unknown = sorted(set(cfg.soundfont_weights or {}) - fonts)
    if unknown:
        raise UsageError(f"--soundfont-weights: no training clip is rendered with {', '.join(unknown)} "
                         f"(the split has {', '.join(sorted(fonts))})")
