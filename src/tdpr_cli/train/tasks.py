"""The two things ``tdpr train`` trains, as ``loop.Task``s: a TD-CNN and the mel vocoder.

Each builder makes the model, its loss, how a batch becomes an estimate and how
to validate, then hands them to ``loop.run_task``, which trains and exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

from tdpr_cli.errors import UsageError
from tdpr_cli.models.condition import call_tdcnn
from tdpr_cli.train.loop import Progress, Task, run_task
from tdpr_cli.train.schedule import TrainConfig
from tdpr_cli.train.setup import segment_config, setup_torch

if TYPE_CHECKING:
    import torch

    from tdpr_cli.models.vocoder import Vocoder
    from tdpr_cli.train.adv_views import AdvView
    from tdpr_cli.train.adversarial import Adversary


def _quiet(_: str) -> None:
    """Default progress sink: say nothing."""


def train_tdcnn(cfg: TrainConfig, progress: Progress = _quiet) -> tuple[Path, Path] | None:
    """Train a TD-CNN (``cfg.model["arch"]``: seanet or subband) with ``TdcnnLoss``; export it."""
    from tdpr_cli.models.load import ARCHS
    from tdpr_cli.train.distill import teacher_of
    from tdpr_cli.train.losses import TdcnnLoss
    from tdpr_cli.train.validate import validate_tdcnn

    device = setup_torch(cfg)
    params = {k: v for k, v in cfg.model.items() if k != "arch"}
    arch = cfg.model.get("arch", "seanet")
    if arch not in ARCHS or ARCHS[arch].kind != "tdcnn":
        raise UsageError(f"unknown TD-CNN architecture {arch!r}")
    model = ARCHS[arch].build(params)
    task = Task(
        name="tdcnn",
        model=model,
        loss=TdcnnLoss(**cfg.loss),
        segments=segment_config(cfg, degrade=True),
        estimate=lambda inputs, cutoffs, targets: call_tdcnn(model, inputs, cutoffs),
        validate=validate_tdcnn,
        score="lsd",
        teacher=teacher_of(cfg.teacher, device) if cfg.teacher is not None else None,
    )
    progress(f"tdcnn: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, {model.cfg}")
    return run_task(cfg, task, device, progress)


def train_vocoder(cfg: TrainConfig, progress: Progress = _quiet) -> tuple[Path, Path] | None:
    """Train the mel vocoder to resynthesise wideband segments from their log-mel; export it."""
    from tdpr_cli.dsp.spectral import LogMel
    from tdpr_cli.models.vocoder import Vocoder, VocoderConfig
    from tdpr_cli.train.validate import validate_vocoder
    from tdpr_cli.train.vocoder_loss import VocoderLoss

    device = setup_torch(cfg)
    model = Vocoder(VocoderConfig.from_dict(cfg.model))
    mel = LogMel(model.cfg.stft).to(device)

    def estimate(inputs: Tensor, cutoffs: Tensor, targets: Tensor) -> Tensor:
        # (B, 1, T) wideband targets -> their log-mel -> (B, 1, T) resynthesis.
        return model(mel(targets[:, 0]), targets.shape[-1])[:, None]

    recon = {k: v for k, v in cfg.loss.items() if k in ("stft_weight", "mel_weight", "phase_weight", "lock_weight")}
    adversary, adv_view = _adversary(cfg, model, device, progress)
    task = Task(
        name="vocoder",
        model=model,
        loss=VocoderLoss(cfg=model.cfg.stft, **recon),
        # Degraded inputs only for the restored view: the targets (and so the reconstruction
        # batches) are the same either way, the degradation draws after them.
        segments=segment_config(cfg, degrade=adversary is not None and cfg.adv_on == "restored"),
        estimate=estimate,
        validate=validate_vocoder,
        score="mel_l1",
        adversary=adversary,
        adv_view=adv_view,
    )
    progress(f"vocoder: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, {model.cfg}")
    return run_task(cfg, task, device, progress)


def _adversary(cfg: TrainConfig, model: Vocoder, device: torch.device,
               progress: Progress) -> tuple[Adversary | None, AdvView | None]:
    """The GAN of a vocoder run (discriminators, their optimizer, what they judge), or
    (None, None) when ``--adv-weight`` and ``--fm-weight`` are both 0."""
    if cfg.loss.get("adv_weight", 0.0) <= 0 and cfg.loss.get("fm_weight", 0.0) <= 0:
        if cfg.adv_on != "vocoder":
            raise UsageError(f"--adv-on {cfg.adv_on} needs a GAN: set --adv-weight or --fm-weight")
        return None, None
    from tdpr_cli.train.adv_views import JUDGED, build_view
    from tdpr_cli.train.adversarial import Adversary

    adversary = Adversary(int(cfg.loss.get("disc_width", 8)), device, cfg.clip_norm,
                          cfg.loss.get("adv_weight", 0.0), cfg.loss.get("fm_weight", 0.0))
    adv_view = build_view(cfg.adv_on, model, device, progress)
    n_disc = sum(p.numel() for p in adversary.model.parameters()) / 1e6
    progress(f"GAN: {len(adversary.model.members)} discriminators, {n_disc:.2f} M parameters, "
             f"adv weight {adversary.adv_weight}, feature matching weight {adversary.fm_weight}, "
             f"judging the {JUDGED[cfg.adv_on]}")
    return adversary, adv_view
