"""Frozen copies of the corpus manifest that a training run reads.

The corpus may still be rendering while a model trains. A run never reads
the live ``data/manifest.json`` for batches: it reads a copy in its run
folder, so the clip list, and with it every batch, is fixed by the files in
the run folder alone and ``--resume`` continues the same sequence.

``RUN/manifest.json`` is copied at the start and serves the whole run (and
always the validation set). With ``refresh_every = R > 0`` the run takes a
new copy of the live manifest at every R-th step, ``RUN/manifests/step-S.json``,
and trains on its clips from step S on: long runs then use the clips rendered
meanwhile. A resumed run reuses the copies it finds; only a copy that was never
taken (the run stopped right at a refresh step) is taken anew.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tdpr_cli.errors import OutputError, UsageError

INITIAL = "manifest.json"
FOLDER = "manifests"


def start(data_dir: Path, run_dir: Path, resume: bool, has_checkpoint: bool) -> Path:
    """The run's initial copy: taken on a fresh start, reused on resume."""
    copy = run_dir / INITIAL
    if resume:
        if not copy.is_file():
            raise UsageError(f"--resume: {run_dir} holds no run to resume")
        return copy
    if has_checkpoint:
        raise UsageError(f"{run_dir} already holds a run; pass --resume or choose another --run folder")
    source = data_dir / "manifest.json"
    if not source.is_file():
        raise UsageError(f"{source} not found; render the corpus first (tdpr data render --out {data_dir})")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, a read-only place
        raise OutputError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})") from None
    shutil.rmtree(run_dir / FOLDER, ignore_errors=True)
    shutil.copyfile(source, copy)
    return copy


def refresh_step(step: int, refresh_every: int) -> int:
    """The step whose copy serves ``step``: 0 for the initial one."""
    return step - step % refresh_every if refresh_every > 0 else 0


def snapshot(data_dir: Path, run_dir: Path, at_step: int) -> Path:
    """The copy taken at ``at_step`` (a value of ``refresh_step``), taking it if missing."""
    if at_step == 0:
        return run_dir / INITIAL
    path = run_dir / FOLDER / f"step-{at_step:07d}.json"
    if not path.is_file():
        source = data_dir / "manifest.json"
        if not source.is_file():  # corpus moved away: keep training on the last copy
            return run_dir / INITIAL
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(path)
    return path
