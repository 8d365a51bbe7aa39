"""The training loop of ``tdpr train tdcnn`` and ``tdpr train vocoder``.

One loop serves both models; a ``Task`` says what differs (model, loss, how
a batch becomes an estimate, how to validate). Each optimizer step:

    lr(step) -> batch(step) -> estimate -> loss -> backward -> clip -> Adam

Batches depend only on ``(seed, step)`` and the run's frozen manifest copies,
the schedule only on ``step``, so ``--resume`` continues exactly where the
last checkpoint left off. Runs on CPU or CUDA unchanged: the data is made
on the CPU in numpy and moved to the device per batch.

Training code is never imported by inference (``tdpr restore``); the
exported files are plain ``models.load`` safetensors + JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from tdpr_cli.errors import Interrupted, TdprError
from tdpr_cli.train import checkpoint as ck
from tdpr_cli.train import snapshots
from tdpr_cli.train.dataset import SegmentConfig, SegmentSampler, ValidItem, read_clips, validation_set
from tdpr_cli.train.provenance import training_record
from tdpr_cli.train.schedule import TrainConfig, learning_rate
from tdpr_cli.train.setup import check_soundfonts, trainable

if TYPE_CHECKING:
    from tdpr_cli.models.base import ModelBase
    from tdpr_cli.train.adv_views import AdvView
    from tdpr_cli.train.adversarial import Adversary
    from tdpr_cli.train.losses import TdcnnLoss
    from tdpr_cli.train.vocoder_loss import VocoderLoss

Progress = Callable[[str], None]
_MAX_BAD_STEPS = 20  # consecutive non-finite losses before giving up


@dataclass
class Task:
    """What one kind of model needs from the loop.

    ``estimate(inputs, cutoffs, targets)`` maps a device batch ((B, 1, T) inputs and
    targets, (B,) input cutoffs in Hz) to the model's estimate, shaped like what
    ``loss.terms(estimate, targets)`` wants;
    ``validate(model, items, device)`` returns metrics where ``score`` is lower-better.
    """

    name: str
    model: ModelBase
    loss: TdcnnLoss | VocoderLoss
    segments: SegmentConfig
    estimate: Callable[[Tensor, Tensor, Tensor], Tensor]
    validate: Callable[[nn.Module, list[ValidItem], torch.device], dict[str, float]]
    score: str
    adversary: Adversary | None = None  # GAN training (vocoder): discriminators and their optimizer
    # What the discriminators judge (train/adv_views.py): (inputs, cutoffs, estimate, targets, step) -> (fake, real).
    adv_view: AdvView | None = None
    # Distillation (TD-CNN): (inputs, cutoffs) -> a trained model's estimate, a second target.
    teacher: Callable[[Tensor, Tensor], Tensor] | None = None


class Trainer:
    """State of one run: model, optimizer, data, log and progress."""

    def __init__(self, cfg: TrainConfig, task: Task, device: torch.device, progress: Progress) -> None:
        self.cfg, self.task, self.device, self.progress = cfg, task, device, progress
        manifest = snapshots.start(cfg.data_dir, cfg.run_dir, cfg.resume, (cfg.run_dir / ck.CHECKPOINT).exists())
        self.manifest, self.manifest_step = manifest, 0
        self.sampler = SegmentSampler(read_clips(manifest, cfg.data_dir, "train"), task.segments, cfg.seed)
        check_soundfonts(cfg, {c.soundfont for c in self.sampler.clips})
        self.valid = validation_set(read_clips(manifest, cfg.data_dir, "valid"), cfg.valid_count,
                                    cfg.valid_seconds, cfg.valid_cutoff_hz, cfg.seed)
        if cfg.valid_count and not self.valid:
            progress("warning: the manifest has no valid-split clips; validation is skipped")
        self.model = task.model.to(device).train()
        self.loss = task.loss.to(device)
        self.optimizer = torch.optim.Adam(trainable(self.model, cfg.train_only), lr=cfg.lr)
        self.log = ck.RunLog(cfg.run_dir / "log.jsonl")
        if not cfg.resume:
            (cfg.run_dir / "log.jsonl").unlink(missing_ok=True)
        self.state = ck.RunState(config=cfg.to_json())
        if cfg.init is not None and not cfg.resume:
            # Strict but for cutoff FiLM layers and a level head, which start as the identity
            # (models/condition.py, models/level.py).
            ck.load_weights(self.model, cfg.init, new_parts=("films.", "level."))
            progress(f"initialised from {cfg.init}")
        if cfg.resume:
            extra = task.adversary.load if task.adversary is not None else None
            same = {"train_only": cfg.train_only, "soundfont_weights": cfg.soundfont_weights,
                    "kind_weights": cfg.kind_weights, "stated_cutoff": cfg.stated_cutoff,
                    "teacher": cfg.to_json()["teacher"], "teacher_weight": cfg.teacher_weight,
                    "hiss_probability": cfg.hiss_probability}
            self.state = ck.load_checkpoint(cfg.run_dir, self.model, self.optimizer, extra, same)
            self.state.config = cfg.to_json()
            self.log.truncate_after(self.state.step)
            progress(f"resumed {task.name} at step {self.state.step} ({self.state.wall_s / 60:.1f} min trained)")

    def batch(self, step: int) -> tuple[Tensor, Tensor, Tensor]:
        """The device batch of ``step``: (inputs, targets, cutoffs), (B, 1, T) float32 each and (B,) Hz."""
        at = snapshots.refresh_step(step, self.cfg.refresh_every)
        if at != self.manifest_step:
            self.manifest, self.manifest_step = snapshots.snapshot(self.cfg.data_dir, self.cfg.run_dir, at), at
            self.sampler = SegmentSampler(read_clips(self.manifest, self.cfg.data_dir, "train"),
                                          self.task.segments, self.cfg.seed)
            self.progress(f"step {step}: training on {len(self.sampler.clips)} clips of {self.manifest.name}")
        inputs, targets, cutoffs = (torch.from_numpy(a).to(self.device) for a in self.sampler.batch(step))
        return inputs, targets, cutoffs

    def step(self) -> dict[str, float] | None:
        """One optimizer step; None when the loss was not finite (the update is skipped)."""
        lr = learning_rate(self.state.step, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        inputs, targets, cutoffs = self.batch(self.state.step)
        estimate = self.task.estimate(inputs, cutoffs, targets)
        terms = self.loss.terms(estimate, targets)
        if self.task.teacher is not None:
            with torch.no_grad():
                taught = self.task.teacher(inputs, cutoffs)
            distill = self.loss.terms(estimate, taught)["loss"]
            terms = {**terms, "distill": distill, "loss": terms["loss"] + self.cfg.teacher_weight * distill}
        extra: dict[str, float] = {}
        adversary = self.task.adversary
        if adversary is not None and self.task.adv_view is not None:
            # Discriminators first, on the detached fake; then the generator's GAN terms.
            fake, real = self.task.adv_view(inputs, cutoffs, estimate, targets, self.state.step)
            extra = adversary.d_step(fake, real, lr)
            gan = adversary.g_terms(fake, real)
            terms = {**terms, **gan,
                     "loss": terms["loss"] + adversary.adv_weight * gan["adv"] + adversary.fm_weight * gan["fm"]}
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(terms["loss"]):
            return None
        terms["loss"].backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
        if not torch.isfinite(norm):
            return None
        self.optimizer.step()
        return {**{k: float(v.detach()) for k, v in terms.items()}, **extra, "grad_norm": float(norm), "lr": lr}

    def validate(self) -> dict[str, float]:
        """Validate, log, keep the best weights; returns the metrics (empty without valid clips)."""
        metrics = self.task.validate(self.model, self.valid, self.device)
        if not metrics:
            return metrics
        self.log.write("valid", self.state.step, self.state.wall_s, metrics)
        score = metrics[self.task.score]
        if self.state.best is None or score < self.state.best:
            self.state.best, self.state.best_step = score, self.state.step
            ck.save_weights(self.model, self.cfg.run_dir / "best.safetensors")
        shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        self.progress(f"step {self.state.step} valid: {shown}")
        return metrics

    def save(self) -> None:
        extra = self.task.adversary.save if self.task.adversary is not None else None
        ck.save_checkpoint(self.cfg.run_dir, self.model, self.optimizer, self.state, extra)

    def out_of_time(self) -> bool:
        wall, cpu = self.cfg.max_minutes, self.cfg.max_cpu_minutes
        return (wall is not None and self.state.wall_s >= 60.0 * wall) or (
            cpu is not None and self.state.cpu_s >= 60.0 * cpu)

    def run(self) -> None:
        """Train until ``max_steps`` or ``max_minutes``; checkpoint on the way and at the end."""
        window: list[dict[str, float]] = []
        bad = 0
        if self.state.step == 0 and self.valid:
            self.validate()  # the untrained reference point of the curves
        try:
            while self.state.step < self.cfg.max_steps and not self.out_of_time():
                start, cpu_start = time.monotonic(), time.process_time()
                values = self.step()
                bad = 0 if values is not None else bad + 1
                if bad >= _MAX_BAD_STEPS:
                    raise TdprError(f"{self.task.name}: loss not finite for {bad} steps at step {self.state.step}")
                self.state.step += 1
                if values is not None:
                    window.append({**values, "s_per_step": time.monotonic() - start})
                self._periodic(window)
                # Wall time includes validation and checkpoints: it is what --max-minutes budgets.
                self.state.wall_s += time.monotonic() - start
                self.state.cpu_s += time.process_time() - cpu_start
        except KeyboardInterrupt:
            self.save()
            raise Interrupted(f"stopped at step {self.state.step}; checkpoint saved, rerun with --resume") from None
        if self.state.step % self.cfg.valid_every:
            self.validate()
        self.save()

    def _periodic(self, window: list[dict[str, float]]) -> None:
        """Log, validate and checkpoint when their step counts come round."""
        step = self.state.step
        if step % self.cfg.log_every == 0 and window:
            mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            self.log.write("train", step, self.state.wall_s, mean)
            self.progress(f"step {step}/{self.cfg.max_steps} loss {mean['loss']:.4f} lr {mean['lr']:.2e} "
                          f"{mean['s_per_step']:.2f} s/step {self.state.wall_s / 60:.1f} min "
                          f"({self.state.cpu_s / 60:.1f} CPU min)")
            window.clear()
        if step % self.cfg.valid_every == 0:
            self.validate()
        if step % self.cfg.ckpt_every == 0:
            self.save()


def run_task(cfg: TrainConfig, task: Task, device: torch.device, progress: Progress) -> tuple[Path, Path] | None:
    """Train ``task`` and export it; returns the exported (weights, config) paths."""
    from tdpr_cli.models.load import export

    trainer = Trainer(cfg, task, device, progress)
    trainer.run()
    directory = cfg.export_dir or cfg.run_dir / "export"
    record = training_record(cfg, trainer.state, trainer.manifest, trainer.manifest_step, device)
    paths = export(trainer.model, directory, cfg.export_name or task.name, extra={"training": record})
    progress(f"exported {paths[0]} and {paths[1]}")
    return paths
