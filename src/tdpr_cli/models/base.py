"""Shared behaviour of tdpr's models: sample-rate buffer, JSON config, length rule."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.dsp.chunking import valid_length


class ModelBase(nn.Module):
    """A model rebuilt from ``{"arch", "kind", "params"}``; its sample rate travels as a buffer."""

    kind: str
    arch: str
    cfg: Any

    def __init__(self) -> None:
        super().__init__()
        self.sample_rate: Tensor
        self.register_buffer("sample_rate", torch.tensor(SAMPLE_RATE, dtype=torch.int64))

    @property
    def config(self) -> dict[str, Any]:
        return {"arch": self.arch, "kind": self.kind, "params": asdict(self.cfg)}


class TdcnnBase(ModelBase):
    """A time-domain CNN: (B, 1, T) -> (B, 1, T) at 16 kHz, padded to a multiple of its stride.

    ``forward(x, cutoff_hz=None)``: ``cutoff_hz`` (B,) is the input's cutoff in Hz; models
    that are ``conditioned`` need it, the others do not read it.
    """

    kind = "tdcnn"

    @property
    def conditioned(self) -> bool:
        """Whether ``forward`` reads ``cutoff_hz`` (models/condition.py)."""
        return False

    @property
    def total_stride(self) -> int:
        """Overall down-sampling factor; chunks aligned to it see the same conv grid."""
        raise NotImplementedError

    def valid_length(self, length: int) -> int:
        """Smallest length >= ``length`` (and >= one stride) that down- and upsamples exactly."""
        return valid_length(length, self.total_stride)
