"""Distillation: a trained TD-CNN's output as a second target (``tdpr train tdcnn --teacher``).

Why: a narrower TD-CNN runs faster (issue 14), and learning what a trained model paints is a
far easier target than the reference, whose band above the cutoff no input determines; the
student still sees the reference too (``Trainer.step`` adds ``--teacher-weight`` times the same
loss against the teacher's output).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from tdpr_cli.errors import InputError, TdprError
from tdpr_cli.models.condition import call_tdcnn


def teacher_of(weights: Path, device: torch.device) -> Callable[[Tensor, Tensor], Tensor]:
    """A trained TD-CNN, frozen and in eval mode, as (inputs (B, 1, T), cutoffs (B,) Hz) ->
    (B, 1, T) at 16 kHz. Its config is the .json beside the weights, as ``tdpr train`` and
    ``models.load.export`` write them; any problem with the pair is an InputError naming --teacher."""
    from tdpr_cli.models.load import load_model

    try:
        teacher = load_model(weights, weights.with_suffix(".json"), kind="tdcnn").to(device)
    except (OSError, TdprError) as exc:
        raise InputError(f"--teacher {weights}: {exc}") from None
    for p in teacher.parameters():
        p.requires_grad_(False)
    return lambda inputs, cutoffs: call_tdcnn(teacher, inputs, cutoffs)
