"""Time-Domain Phase Repair (TD-PR): TD-CNN magnitude, vocoder phase.

Zhang, Kolkman and Watanabe (2024), §3.1: the TD-CNN output is decomposed by
a 1024-point Hann STFT with hop 256 at 16 kHz; its magnitude is kept, its
phase is replaced by that of a vocoder's resynthesis, and the result is
inverted. The paper replaces the phase of every bin (``paper`` mode). Our
default (``band``) replaces it only above the input's cutoff, with a
raised-cosine crossfade in frequency, because below the cutoff the TD-CNN
output carries the recording's real phase and the vocoder's is only a guess.

Optional Griffin-Lim projections (``consistency``) pull the repaired
spectrogram towards one that an actual signal can have, keeping the repaired
magnitude; in band mode they only move the phase of the replaced band.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tdpr_cli.config import SAMPLE_RATE, PhaseMode, RestoreConfig, StftConfig
from tdpr_cli.dsp.phase_np import kept_edge
from tdpr_cli.dsp.spectral import Stft


def band_mask(cfg: StftConfig, cutoff_hz: float | None, crossfade_hz: float, top_hz: float | None = None) -> Tensor:
    """Per-bin weight of the vocoder phase, shape (n_fft // 2 + 1,), in [0, 1].

    0 below ``cutoff_hz - crossfade_hz / 2``, 1 above ``cutoff_hz + crossfade_hz / 2``
    or above ``top_hz`` when that is higher (the detected end of a soft roll-off:
    the slope region between still carries the recording's attenuated phase), a
    raised cosine in between; ``None`` cutoff means full-band replacement (all ones).
    """
    freqs = torch.linspace(0.0, SAMPLE_RATE / 2, cfg.n_fft // 2 + 1)
    if cutoff_hz is None:
        return torch.ones_like(freqs)
    lo = cutoff_hz - crossfade_hz / 2
    hi = max(cutoff_hz + crossfade_hz / 2, top_hz or 0.0)
    if hi <= lo:
        return (freqs >= cutoff_hz).to(freqs.dtype)
    t = torch.clamp((freqs - lo) / (hi - lo), 0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(torch.pi * t)


def _unit(z: Tensor) -> Tensor:
    mag = z.abs()
    # A zero bin has no phase; give it angle 0 rather than NaN.
    return torch.where(mag > 1e-12, z / torch.clamp(mag, min=1e-12), torch.ones_like(z))


def blend_phase(keep: Tensor, new: Tensor, mask: Tensor) -> Tensor:
    """Unit phasors mixing ``keep``'s phase (mask 0) and ``new``'s (mask 1); (B, F, N) complex."""
    w = mask.to(keep.real.dtype)[:, None]
    return _unit((1.0 - w) * _unit(keep) + w * _unit(new))


def replace_phase(
    mag_source: Tensor,
    phase_source: Tensor,
    cfg: StftConfig = StftConfig(),
    *,
    cutoff_hz: float | None = None,
    crossfade_hz: float = 250.0,
    consistency: int = 0,
    stft: Stft | None = None,
    spec_m: Tensor | None = None,
    top_hz: float | None = None,
) -> Tensor:
    """Waveform with the STFT magnitude of ``mag_source`` and the phase of ``phase_source``.

    Both inputs are (B, T) at 16 kHz; the result is (B, T). With ``cutoff_hz``
    the phase is replaced only above it (band mode), fully from ``top_hz`` up when
    that lies above the crossfade (``band_mask``); ``None`` replaces all bins.
    ``consistency`` Griffin-Lim steps follow, each keeping the magnitude and
    re-imposing the kept low-band phase. Pass ``stft`` to reuse its window, and
    ``spec_m`` (``stft(mag_source)``, already computed for the log-mel) to reuse it.
    """
    stft = stft if stft is not None else Stft(cfg).to(mag_source.device)
    length = mag_source.shape[-1]
    spec_m = spec_m if spec_m is not None else stft(mag_source)
    spec_p = stft(phase_source)
    mask = band_mask(cfg, cutoff_hz, crossfade_hz, top_hz).to(mag_source.device)
    mag = spec_m.abs()
    spec = mag * blend_phase(spec_m, spec_p, mask)
    for _ in range(consistency):
        projected = stft(stft.inverse(spec, length))
        spec = mag * blend_phase(spec_m, projected, mask)
    return stft.inverse(spec, length)


def keep_input_band(x: Tensor, out: Tensor, cutoff_hz: float, cfg: RestoreConfig, stft: Stft | None = None) -> Tensor:
    """``out`` with the input's own STFT below ``cutoff_hz - cfg.keep_margin_hz``; (B, T) at 16 kHz.

    Below the input's cutoff the recording is intact, and any change there is
    damage (tdpr's TD-CNN alters it by about 0.1-0.2 log10 rms). Bins are
    mixed with ``band_mask``'s raised cosine of ``cfg.crossfade_hz`` around the
    edge. ``paper`` mode and ``keep_margin_hz=None`` return ``out`` unchanged,
    as does an edge below the crossfade width (nothing intact to keep).
    """
    edge = kept_edge(cutoff_hz, cfg)
    if edge is None:
        return out
    stft = stft if stft is not None else Stft(cfg.stft).to(out.device)
    mask = band_mask(cfg.stft, edge, cfg.crossfade_hz).to(out.device)[:, None]
    spec = (1.0 - mask) * stft(x) + mask * stft(out)
    return stft.inverse(spec, out.shape[-1])


def repair(
    tdcnn_out: Tensor,
    vocoder_out: Tensor | None,
    cutoff_hz: float,
    cfg: RestoreConfig = RestoreConfig(),
    stft: Stft | None = None,
    spec: Tensor | None = None,
    top_hz: float | None = None,
) -> Tensor:
    """Apply ``cfg.phase`` to (B, T) waveforms at 16 kHz; ``none`` returns the TD-CNN output.

    ``cfg`` carries the STFT, the band-mode crossfade and the consistency
    steps; ``stft`` reuses a module (and its window) already on the device, and
    ``spec`` the TD-CNN output's STFT, (B, F, N) complex, when the caller has it.
    ``top_hz`` (Hz, band mode): where the input's roll-off reaches its noise floor;
    the crossfade then spans the whole slope region (0.0066 lower LSD on the
    validation set, no filter kind worse: benchmarks/slope_crossfade.py).
    """
    if cfg.phase is PhaseMode.NONE or vocoder_out is None:
        return tdcnn_out
    band_cutoff = cutoff_hz if cfg.phase is PhaseMode.BAND else None
    return replace_phase(tdcnn_out, vocoder_out, cfg.stft, cutoff_hz=band_cutoff, crossfade_hz=cfg.crossfade_hz,
                         consistency=cfg.consistency, stft=stft, spec_m=spec, top_hz=top_hz)


def phase_only(x: Tensor, stft: Stft, lo_hz: float = 4000.0, floor: float = 1e-4) -> Tensor:
    """(B, T) -> (B, T) at 16 kHz: the band from ``lo_hz`` up resynthesised from its STFT phase
    alone (unit magnitude in every bin). A phase locked to the STFT frame, which band mode's
    magnitude swap reveals (issue 12), shows as a 62.5 Hz comb here even where the signal's own
    magnitude hides it. Bins more than ``20 log10(1 / floor)`` dB under the item's loudest fade
    out (their phase is noise, and the gradient of a phasor grows as 1 / magnitude)."""
    lo_bin = int(round(lo_hz * stft.cfg.n_fft / SAMPLE_RATE))
    spec = stft(x)[:, lo_bin:]
    peak = spec.abs().flatten(1).amax(1).view(-1, 1, 1)
    unit = spec / (spec.abs() + floor * peak + 1e-30)
    return stft.inverse(torch.nn.functional.pad(unit, (0, 0, lo_bin, 0)), x.shape[-1])
