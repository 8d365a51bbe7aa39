"""What the vocoder's discriminators judge (``tdpr train vocoder --adv-on``).

Each view maps one training batch to the (fake, real) pair the discriminators
read: ``view(inputs, cutoffs, estimate, targets, step) -> (fake, real)``, where
inputs (degraded), estimate (the vocoder's resynthesis of the target mel) and
targets are (B, 1, T) at 16 kHz, cutoffs (B,) the inputs' cutoffs in Hz, and
fake and real are the same ``CROP`` samples,
(B, CROP) each (the whole batch when it is shorter), at an offset fixed by
``step`` (so ``--resume`` is exact).

- ``vocoder``: the vocoder's own output.
- ``repaired``: its phase under the target's STFT magnitude (paper-mode TD-PR
  with the ground truth in place of the TD-CNN).
- ``restored``: what ``tdpr restore`` builds: a frozen TD-CNN restores the
  degraded input, the vocoder resynthesises the TD-CNN's mel, and its phase
  goes under the TD-CNN's magnitude. The real side is the same magnitude with
  the target's phase, so the pair differs in phase only: the critics cannot win
  on the TD-CNN's magnitude errors, which the vocoder cannot mend. All bins are
  replaced (paper mode); band mode differs only below the input's cutoff, and
  the comb of issue 12 lies above every cutoff the training draws.

A vocoder's phase can carry frame-locked structure that its own magnitude
cancels and any other magnitude reveals (the 62.5 Hz comb of issue 12:
benchmarks/blend_probe.py); only the last two views show it to the critics.
Training-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from tdpr_cli.config import StftConfig
from tdpr_cli.models.condition import call_tdcnn
from tdpr_cli.train.adversarial import CROP, Adversary, crop_offset

if TYPE_CHECKING:
    from tdpr_cli.models.vocoder import Vocoder

AdvView = Callable[[Tensor, Tensor, Tensor, Tensor, int], tuple[Tensor, Tensor]]
JUDGED = {"vocoder": "vocoder output", "repaired": "repaired signal",
          "restored": "restored signal (frozen TD-CNN, then TD-PR)"}
#: Samples of real input on each side of the judged crop for the ``restored`` view (0.128 s):
#: the TD-CNN and the STFTs see the crop with context, as the restore chunker gives them.
CONTEXT = 2048


def vocoder_view() -> AdvView:
    """``--adv-on vocoder``: the vocoder's output against the target."""

    def view(inputs: Tensor, cutoffs: Tensor, estimate: Tensor, targets: Tensor, step: int) -> tuple[Tensor, Tensor]:
        return Adversary.crop(estimate[:, 0], targets[:, 0], step)

    return view


def repaired_view(cfg: StftConfig, device: torch.device) -> AdvView:
    """``--adv-on repaired``: the estimate's phase under the target's STFT magnitude, every bin."""
    from tdpr_cli.dsp.phase import replace_phase
    from tdpr_cli.dsp.spectral import Stft

    stft = Stft(cfg).to(device)

    def view(inputs: Tensor, cutoffs: Tensor, estimate: Tensor, targets: Tensor, step: int) -> tuple[Tensor, Tensor]:
        repaired = replace_phase(targets[:, 0], estimate[:, 0], cfg, stft=stft)
        return Adversary.crop(repaired, targets[:, 0], step)

    return view


def context_window(length: int, step: int, hop: int) -> tuple[slice, slice]:
    """(window, crop): ``window`` of the batch (up to ``CROP + 2 * CONTEXT`` samples, starting
    on the STFT hop grid) that the restore path processes, and ``crop``, the judged ``CROP``
    samples at its centre, relative to the window. Batches under ``CROP + 2 * CONTEXT``
    samples: the whole batch is the window, the crop centred in it (not on the hop grid),
    or the whole batch under ``CROP``."""
    width = min(length, CROP + 2 * CONTEXT)
    room = (length - width) // hop
    start = hop * crop_offset(step, room)
    lead = max(0, (width - CROP) // 2)
    return slice(start, start + width), slice(lead, lead + min(CROP, width))


def restored_view(tdcnn: nn.Module, vocoder: nn.Module, cfg: StftConfig, device: torch.device) -> AdvView:
    """``--adv-on restored``: fake ``replace_phase(y, vocoder(mel(y)))`` against real
    ``replace_phase(y, target)``, y = the frozen ``tdcnn`` on the degraded input; gradients reach
    ``vocoder`` (the model being trained) through the phase."""
    from tdpr_cli.dsp.phase import replace_phase
    from tdpr_cli.dsp.spectral import LogMel, Stft

    stft, mel = Stft(cfg).to(device), LogMel(cfg).to(device)
    tdcnn = tdcnn.to(device).eval().requires_grad_(False)

    def view(inputs: Tensor, cutoffs: Tensor, estimate: Tensor, targets: Tensor, step: int) -> tuple[Tensor, Tensor]:
        window, crop = context_window(targets.shape[-1], step, cfg.hop)
        with torch.no_grad():
            wide = call_tdcnn(tdcnn, inputs[..., window], cutoffs)[:, 0]  # (B, W) at 16 kHz
            spec = stft(wide)
            wide_mel = mel.from_magnitude(spec.abs())
            real = replace_phase(wide, targets[:, 0, window], cfg, stft=stft, spec_m=spec)
        fake = replace_phase(wide, vocoder(wide_mel, wide.shape[-1]), cfg, stft=stft, spec_m=spec)
        return fake[:, crop], real[:, crop]

    return view


def build_view(adv_on: str, vocoder: Vocoder, device: torch.device, say: Callable[[str], None]) -> AdvView:
    """The ``--adv-on`` view for ``vocoder``; ``restored`` loads the lock's default TD-CNN (verified, offline)."""
    from tdpr_cli.config import PhaseMode
    from tdpr_cli.restore.load import ModelChoice, load_models

    if adv_on == "repaired":
        return repaired_view(vocoder.cfg.stft, device)
    if adv_on == "restored":
        loaded = load_models(ModelChoice(offline=True), PhaseMode.NONE)
        say(f"restored view: frozen TD-CNN {loaded.info['tdcnn']}")
        return restored_view(loaded.tdcnn, vocoder, vocoder.cfg.stft, device)
    return vocoder_view()
