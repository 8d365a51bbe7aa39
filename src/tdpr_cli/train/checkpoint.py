"""Training checkpoints and the run log.

A run folder holds::

    manifest.json          frozen copy of the corpus manifest the run trains on
    checkpoint/            the latest state, replaced atomically as a whole folder
        model.safetensors  float32 weights (safetensors: no pickle)
        optimizer.pt       Adam state: a plain dict of tensors and numbers
        state.json         step, wall seconds, best validation, the run config
    best.safetensors       weights of the best validation score so far
    log.jsonl              one JSON object per line: train and valid records

The optimizer state uses ``torch.save`` and is read back with
``weights_only=True``; it is a training-only file and never shipped.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tdpr_cli.audio.atomic import atomic_write, atomic_write_text, replace_dir
from tdpr_cli.errors import InputError, OutputError, UsageError

CHECKPOINT = "checkpoint"


@dataclass
class RunState:
    """Progress that must survive a restart: ``step`` done, ``wall_s`` and ``cpu_s`` of training so far.

    ``cpu_s`` is this process's CPU time: on a shared machine it is the budget
    that stays comparable between runs that did not see the same load.
    """

    step: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    best: float | None = None
    best_step: int | None = None
    config: dict[str, Any] = field(default_factory=dict)


def save_state_dict(state: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(path))


def save_weights(model: nn.Module, path: Path) -> None:
    """float32 safetensors of ``model`` at ``path``, written to a temporary name first."""
    atomic_write(path, lambda tmp: save_state_dict(model.state_dict(), tmp))


def load_weights(model: nn.Module, path: Path, new_parts: tuple[str, ...] = ()) -> None:
    """Load safetensors weights into ``model``, strictly except that parameters whose name
    contains one of ``new_parts`` (say ``"films."``: a conditioned model started from an
    unconditioned one) may be missing from the file; those keep their initial values."""
    from safetensors.torch import load_file

    try:
        state, own = load_file(str(path)), model.state_dict()
        missing = [k for k in own if k not in state]
        if missing and all(any(p in k for p in new_parts) for k in missing):
            state = {**state, **{k: own[k] for k in missing}}
        model.load_state_dict(state, strict=True)
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{path}: cannot load checkpoint weights ({str(exc).splitlines()[0]})") from None


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: RunState,
                    extra: Callable[[Path], None] | None = None) -> None:
    """Write the checkpoint folder beside the old one, then swap them; ``extra(folder)`` adds files."""
    final, tmp = run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.tmp"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_state_dict(model.state_dict(), tmp / "model.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(state.__dict__, indent=1) + "\n")
        if extra is not None:
            extra(tmp)
        replace_dir(tmp, final)
    except OSError as exc:
        raise OutputError(f"cannot write checkpoint in {run_dir}: {exc}") from None


#: What a run's config means by an option it does not record (it predates the option).
UNRECORDED: dict[str, Any] = {"stated_cutoff": "design", "teacher": None, "teacher_weight": 1.0,
                              "hiss_probability": 0.0}


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    extra: Callable[[Path], None] | None = None, same: dict[str, Any] | None = None) -> RunState:
    """Restore model, optimizer and progress from ``run_dir/checkpoint`` (or its backup);
    ``extra(folder)`` reads what ``save_checkpoint``'s ``extra`` wrote. ``same`` maps run
    options to their values now: each must equal the one the run was started with (a
    different ``train_only`` would not fit the saved optimizer, different soundfont weights
    would silently change the data), else a UsageError names it. A run started before an
    option existed ran with the value ``UNRECORDED`` gives it."""
    folder = run_dir / CHECKPOINT
    if not folder.is_dir() and (run_dir / f".{CHECKPOINT}.old").is_dir():
        folder = run_dir / f".{CHECKPOINT}.old"  # interrupted between the two renames
    if not (folder / "state.json").is_file():
        raise InputError(f"{run_dir}: no checkpoint to resume from")
    try:
        raw = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder}: damaged checkpoint ({exc})") from None
    for key, now in (same or {}).items():
        then = raw.get("config", {}).get(key, UNRECORDED.get(key))
        if then != now:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"--resume: the run in {run_dir} was started with {flag} {then!r}, not {now!r}; "
                             "resume it with the same value")
    load_weights(model, folder / "model.safetensors")
    device = next(model.parameters()).device
    try:
        optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=device, weights_only=True))
        if extra is not None:
            extra(folder)
        return RunState(**raw)
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise InputError(f"{folder}: damaged checkpoint ({exc})") from None


class RunLog:
    """Append-only JSONL log; every record gets ``kind``, ``step`` and ``wall_s``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step``: after a resume the log continues from the checkpoint."""
        records = [r for r in read_log(self.path) if r["step"] <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in records))

    def write(self, kind: str, step: int, wall_s: float, values: dict[str, float]) -> None:
        record = {"kind": kind, "step": step, "wall_s": round(wall_s, 2), "time": round(time.time(), 1)}
        record.update({k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()})
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    """All records of a run log (for reports and tests)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
