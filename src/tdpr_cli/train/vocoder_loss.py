"""The vocoder's reconstruction objective: MR-STFT, mel L1, phase-derivative and frame-lock terms.

``VocoderLoss`` = ``stft_weight * L_MRSTFT + mel_weight * MelL1 + phase_weight * (IF + GD)
+ lock_weight * FrameLock`` (the GAN terms are added by the training loop, train/adversarial.py).

Frame lock (``--lock-weight``): the comb (``evaluation.comb``: dB at multiples of
62.5 Hz over dB between them, 4.5-7.5 kHz) of the *phase-only* resynthesis of the
4-8 kHz band, unit magnitude in every bin, of the vocoder's output, against the
same of the target. A phase that repeats with the TD-PR frame reads several dB
there even when the vocoder's own magnitude hides it, and any other magnitude,
the TD-CNN's in band mode, reveals it (issue 12: real piano reads 0.1 dB, the
shipped GAN vocoder 1.7, the pre-GAN one 7.6). The term is the mean absolute dB
difference per item, so notches (a negative comb) count as much as lines, plus
the same difference for the output itself: on the phase-only term alone the
vocoder learned to notch its own output at the multiples (-6 dB after 400 steps).

Phase-derivative terms (``tdpr train vocoder --phase-weight``):

APNet (Ai and Ling, 2023) trains the phase of a vocoder directly with the
instantaneous phase, its frequency derivative (group delay) and its time
derivative (instantaneous angular frequency), each through an anti-wrapping
distance. Here the two derivatives are compared on the TD-PR STFT (1024
Hann, hop 256 at 16 kHz) of the vocoder's output and of the target:

- **instantaneous frequency** ``angle(S[f, n] conj S[f, n-1])``: how far the
  phase of each bin advances per hop. A phase reset every frame, the 62.5 Hz
  comb of issue 12, advances by the wrong amount.
- **group delay** ``angle(S[f, n] conj S[f-1, n])``: where in the frame the
  energy sits. A click at each frame's centre gives the same group delay in
  every frame, whatever the music does.

The distance of two unit phasors is ``1 - cos(delta)`` (0 when equal, 2 when
opposite; smooth, so no wrap to handle), computed from complex products with
no ``atan2``. Each bin pair counts with the target's magnitude product to the
power ``WEIGHT_POWER``, so the high band, 20-40 dB under the low one in piano
but where the comb lives, still counts (at power 1 it would carry under 1 % of
the loss); pairs more than ``FLOOR_DB`` under the item's loudest count nothing,
since their phase is the rendering's noise floor (at power 1/4 alone, bins 60 dB
down carried 28 % of the weight of a quiet corpus clip). Training-only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tdpr_cli.config import SAMPLE_RATE, StftConfig
from tdpr_cli.dsp.spectral import Stft
from tdpr_cli.errors import UsageError
from tdpr_cli.train.losses import MelL1, MultiResolutionStftLoss

#: Guards relative to the target's own power, so that equal phases read 0 at any level and a
#: silent estimate bin's phasor (whose gradient grows as 1 / |est|) stays bounded.
_REL_EPS, _EPS = 1e-6, 1e-30
WEIGHT_POWER = 0.25
FLOOR_DB = 60.0  # of the magnitude product, i.e. of power


def _phasor_distance(est: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
    """(1 - cos(angle(est) - angle(ref)), |ref| ** WEIGHT_POWER) for complex tensors of one shape."""
    dot = (est * ref.conj()).real
    mag = ref.abs()
    peak = mag.flatten(1).amax(1).view(-1, *([1] * (mag.ndim - 1)))
    weight = torch.where(mag >= peak * 10.0 ** (-FLOOR_DB / 10.0), mag**WEIGHT_POWER, torch.zeros_like(mag))
    return 1.0 - dot / (est.abs() * mag + _REL_EPS * mag**2 + _EPS), weight


def _weighted_mean(distance: Tensor, weight: Tensor) -> Tensor:
    """Mean of ``distance`` over each item's bins weighted by ``weight``, then over the batch."""
    dims = tuple(range(1, distance.ndim))
    return ((distance * weight).sum(dims) / (weight.sum(dims) + _EPS)).mean()


class PhaseDerivativeLoss(nn.Module):
    """``{"if": ..., "gd": ...}`` for (B, 1, T) or (B, T) waveforms at 16 kHz, each in 0..2."""

    def __init__(self, cfg: StftConfig = StftConfig()) -> None:
        super().__init__()
        self.stft = Stft(cfg)

    def terms(self, input: Tensor, target: Tensor) -> dict[str, Tensor]:
        est = self.stft(input.reshape(-1, input.shape[-1]))
        ref = self.stft(target.reshape(-1, target.shape[-1]))
        d_if, w_if = _phasor_distance(est[..., 1:] * est[..., :-1].conj(), ref[..., 1:] * ref[..., :-1].conj())
        d_gd, w_gd = _phasor_distance(est[:, 1:] * est[:, :-1].conj(), ref[:, 1:] * ref[:, :-1].conj())
        return {"if": _weighted_mean(d_if, w_if), "gd": _weighted_mean(d_gd, w_gd)}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        t = self.terms(input, target)
        return t["if"] + t["gd"]


class FrameLockLoss(nn.Module):
    """``{"lock": mean |comb(phase-only(input)) - comb(phase-only(target))|, "lock_own": mean
    |comb(input) - comb(target)|}`` in dB, for (B, 1, T) or (B, T) waveforms at 16 kHz."""

    def __init__(self, cfg: StftConfig = StftConfig()) -> None:
        super().__init__()
        from tdpr_cli.evaluation.comb import COMB_NPERSEG

        self.stft = Stft(cfg)
        self.welch: Tensor
        self.register_buffer("welch", torch.hann_window(COMB_NPERSEG), persistent=False)

    def phase_only(self, x: Tensor) -> Tensor:
        """(B, T) -> (B, T): the 4-8 kHz band resynthesised with unit magnitude (``dsp.phase.phase_only``)."""
        from tdpr_cli.dsp.phase import phase_only

        return phase_only(x, self.stft)

    def comb_db(self, x: Tensor) -> Tensor:
        """(B, T) -> (B,): ``evaluation.comb.comb_db`` of each item, in torch (differentiable)."""
        from tdpr_cli.evaluation.comb import COMB_NPERSEG, comb_bins

        if x.shape[-1] < COMB_NPERSEG:
            x = torch.nn.functional.pad(x, (0, COMB_NPERSEG - x.shape[-1]))
        frames = x.unfold(-1, COMB_NPERSEG, COMB_NPERSEG // 2)  # (B, n, nperseg), 50 % overlap
        frames = frames - frames.mean(-1, keepdim=True)  # Welch's constant detrend
        power = (torch.fft.rfft(frames * self.welch, dim=-1).abs() ** 2).mean(1) + 1e-30
        harmonics, between = (torch.from_numpy(b).to(x.device) for b in comb_bins(SAMPLE_RATE))
        level = 10.0 * torch.log10(power)
        return level[:, harmonics].mean(-1) - level[:, between].mean(-1)

    def terms(self, input: Tensor, target: Tensor) -> dict[str, Tensor]:
        est, ref = input.reshape(-1, input.shape[-1]), target.reshape(-1, target.shape[-1])
        return {"lock": (self.comb_db(self.phase_only(est)) - self.comb_db(self.phase_only(ref))).abs().mean(),
                "lock_own": (self.comb_db(est) - self.comb_db(ref)).abs().mean()}


class VocoderLoss(nn.Module):
    """Vocoder objective without a GAN: ``stft_weight * L_MRSTFT + mel_weight * MelL1``, plus
    ``phase_weight * (IF + GD)`` and ``lock_weight * FrameLock`` when they are positive.

    Shape:
        input, target: (B, 1, T) or (B, T) at 16 kHz; output: scalar.
    """

    def __init__(self, stft_weight: float = 1.0, mel_weight: float = 1.0, cfg: StftConfig = StftConfig(),
                 phase_weight: float = 0.0, lock_weight: float = 0.0) -> None:
        super().__init__()
        weights = (stft_weight, mel_weight, phase_weight, lock_weight)
        if min(weights) < 0:
            raise UsageError(f"vocoder loss weights must be >= 0, got {weights}")
        self.stft_weight, self.mel_weight, self.phase_weight, self.lock_weight = weights
        self.stft = MultiResolutionStftLoss()
        self.mel = MelL1(cfg)
        self.phase = PhaseDerivativeLoss(cfg) if phase_weight > 0 else None
        self.lock = FrameLockLoss(cfg) if lock_weight > 0 else None

    def terms(self, input: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Unweighted ``{"mrstft", "mel"}`` (and ``"if", "gd"``, ``"lock"``) and the weighted ``"loss"``."""
        s, m = self.stft(input, target), self.mel(input, target)
        out = {"mrstft": s, "mel": m, "loss": self.stft_weight * s + self.mel_weight * m}
        if self.phase is not None:
            phase = self.phase.terms(input, target)
            out = {**out, **phase, "loss": out["loss"] + self.phase_weight * (phase["if"] + phase["gd"])}
        if self.lock is not None:
            lock = self.lock.terms(input, target)
            out = {**out, **lock, "loss": out["loss"] + self.lock_weight * (lock["lock"] + lock["lock_own"])}
        return out

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self.terms(input, target)["loss"]
