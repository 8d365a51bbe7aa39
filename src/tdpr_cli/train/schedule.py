"""Run configuration and the learning-rate schedule of ``tdpr train``.

The schedule is a function of the step alone (never of wall time), so a
resumed run follows exactly the curve an uninterrupted one would. It is
fitted to short CPU runs: a linear warm-up over ``warmup`` steps (Adam's
early moments are noisy, and the identity-initialised residual models are
easy to knock off their good start), then a decay to ``lr * min_lr_ratio``
at ``max_steps``: half a cosine, or an exponential with the same end point.
``--max-minutes`` only stops a run early; choose ``--max-steps`` from the
measured seconds per step so the decay completes inside the time budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, get_args

from tdpr_cli.device import check_device_name
from tdpr_cli.errors import UsageError

Schedule = Literal["cosine", "exp", "constant"]
AdvOn = Literal["vocoder", "repaired", "restored"]
#: auto, cpu, cuda or cuda:N (checked by ``device.check_device_name``).
Device = str


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs besides the model; seconds, Hz and steps as named."""

    data_dir: Path
    run_dir: Path
    max_steps: int = 4000
    max_minutes: Optional[float] = None
    max_cpu_minutes: Optional[float] = None  # CPU time of the training process (fair on a shared machine)
    batch: int = 8
    segment_s: float = 1.0
    lr: float = 3e-4
    warmup: int = 200
    min_lr_ratio: float = 0.05
    schedule: Schedule = "cosine"
    clip_norm: float = 1000.0  # a guard against spikes: typical norms are 100..3000 early on
    ckpt_every: int = 250
    valid_every: int = 250
    log_every: int = 10
    valid_count: int = 36  # a multiple of 9: every filter kind equally often
    valid_seconds: float = 2.0
    valid_cutoff_hz: float = 3000.0
    soft_share: float = 0.5  # share of training inputs from the soft simulation family
    colour_probability: float = 0.9  # share of targets given a random tilt (train.timbre); the rest raw
    adv_on: AdvOn = "vocoder"  # what a vocoder's discriminators judge (train/adv_views.py)
    refresh_every: int = 0  # take a new copy of the live manifest every N steps (0: never)
    seed: int = 0
    device: Device = "cpu"
    threads: int = 1
    resume: bool = False
    export_dir: Optional[Path] = None
    export_name: Optional[str] = None
    init: Optional[Path] = None  # weights (safetensors) to start a new run from: fine-tuning
    soundfont_weights: Optional[dict[str, float]] = None  # share of segments per soundfont [dataset's]
    kind_weights: Optional[dict[str, float]] = None  # filter kinds' weight in their family [equal]
    stated_cutoff: str = "design"  # the cutoff a conditioned TD-CNN is told: design (Wn) or edge (-3 dB)
    train_only: Optional[str] = None  # train only parameters whose names start with this (the rest frozen)
    hiss_probability: float = 0.0  # share of references given a noise floor before degrading (simulate/hiss.py)
    teacher: Optional[Path] = None  # a trained TD-CNN's weights (.safetensors beside its .json): distillation
    teacher_weight: float = 1.0  # weight of the loss against the teacher's output (the reference's is 1)
    model: dict[str, Any] = field(default_factory=dict)  # architecture parameters
    loss: dict[str, float] = field(default_factory=dict)  # loss weights
    command: str = ""  # the command line, recorded in the exported config

    def __post_init__(self) -> None:
        positive = ("max_steps", "batch", "ckpt_every", "valid_every", "log_every", "threads")
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.refresh_every < 0:
            raise UsageError("--refresh-every must be >= 0")
        if self.warmup < 0 or not 0.0 < self.lr < 1.0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise UsageError(f"invalid learning rate settings lr={self.lr} warmup={self.warmup} "
                             f"min ratio={self.min_lr_ratio}")
        if any(m is not None and m <= 0 for m in (self.max_minutes, self.max_cpu_minutes)):
            raise UsageError("--max-minutes and --max-cpu-minutes must be positive")
        if self.clip_norm <= 0 or self.valid_count < 0 or self.valid_seconds <= 0.1:
            raise UsageError("--clip-norm must be positive, validation count >= 0 and seconds > 0.1")
        if not 0.0 <= self.soft_share <= 1.0:
            raise UsageError(f"--soft-share must lie in 0..1, got {self.soft_share}")
        if not 0.0 <= self.colour_probability <= 1.0:
            raise UsageError(f"--colour-probability must lie in 0..1, got {self.colour_probability}")
        if self.soundfont_weights is not None and (
                not all(math.isfinite(w) and w >= 0 for w in self.soundfont_weights.values())
                or sum(self.soundfont_weights.values()) <= 0):
            raise UsageError(f"--soundfont-weights must be >= 0 and not all 0, got {self.soundfont_weights}")
        if not (math.isfinite(self.teacher_weight) and self.teacher_weight >= 0):
            raise UsageError(f"--teacher-weight must be >= 0, got {self.teacher_weight}")
        if self.teacher is None and self.teacher_weight != 1.0:
            raise UsageError("--teacher-weight weighs the loss against --teacher's output: add --teacher")
        if self.teacher is not None:
            # Absolute, so that a resume from another folder names the same file.
            object.__setattr__(self, "teacher", Path(self.teacher).resolve())
        if self.adv_on not in get_args(AdvOn):
            raise UsageError(f"--adv-on must be one of {', '.join(get_args(AdvOn))}, got {self.adv_on!r}")
        if self.schedule not in ("cosine", "exp", "constant"):
            raise UsageError(f"unknown schedule {self.schedule!r}")
        check_device_name(self.device)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe copy (paths as strings)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based)."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(1, cfg.max_steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    if cfg.schedule == "exp":
        return cfg.lr * cfg.min_lr_ratio**progress
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))
