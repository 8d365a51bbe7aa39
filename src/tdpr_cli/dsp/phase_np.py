"""Phase repair (TD-PR) and the kept input band in numpy, for the torch-free CPU runtime.

The same operations as ``dsp/phase.py`` (whose docstrings give the method and the reasons),
on numpy arrays: the restore pipeline of ``restore/graph_pipeline.py`` runs them without
torch (issue 14). ``tests/test_graph_runtime.py`` checks each against its torch twin; training
and the CUDA path keep the torch versions.
"""

from __future__ import annotations

import numpy as np

from tdpr_cli.config import SAMPLE_RATE, PhaseMode, RestoreConfig, StftConfig
from tdpr_cli.dsp.stft_np import NpStft


def band_mask(cfg: StftConfig, cutoff_hz: float | None, crossfade_hz: float, top_hz: float | None = None) -> np.ndarray:
    """Per-bin weight of the vocoder phase, (n_fft // 2 + 1,) float32 in [0, 1] (``phase.band_mask``)."""
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, cfg.n_fft // 2 + 1, dtype=np.float32)
    if cutoff_hz is None:
        return np.ones_like(freqs)
    lo = cutoff_hz - crossfade_hz / 2
    hi = max(cutoff_hz + crossfade_hz / 2, top_hz or 0.0)
    if hi <= lo:
        return (freqs >= cutoff_hz).astype(np.float32)
    t = np.clip((freqs - lo) / (hi - lo), 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


def _unit(z: np.ndarray) -> np.ndarray:
    mag = np.abs(z)
    # A zero bin has no phase; give it angle 0 rather than NaN.
    return np.where(mag > 1e-12, z / np.maximum(mag, 1e-12), np.complex64(1.0)).astype(np.complex64, copy=False)


def blend_phase(keep: np.ndarray, new: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit phasors mixing ``keep``'s phase (mask 0) and ``new``'s (mask 1); (B, F, N) complex."""
    w = mask[:, None]
    return _unit((1.0 - w) * _unit(keep) + w * _unit(new))


def replace_phase(spec_m: np.ndarray, phase_source: np.ndarray, length: int, stft: NpStft, *,
                  cutoff_hz: float | None, crossfade_hz: float, consistency: int = 0,
                  top_hz: float | None = None) -> np.ndarray:
    """(B, length) waveform with the magnitude of ``spec_m`` (the TD-CNN output's STFT, (B, F, N))
    and the phase of ``phase_source`` ((B, length)), above ``cutoff_hz`` only unless it is None;
    ``consistency`` Griffin-Lim steps follow (``phase.replace_phase``)."""
    spec_p = stft(phase_source)
    mask = band_mask(stft.cfg, cutoff_hz, crossfade_hz, top_hz)
    mag = np.abs(spec_m)
    spec = mag * blend_phase(spec_m, spec_p, mask)
    for _ in range(consistency):
        projected = stft(stft.inverse(spec, length))
        spec = mag * blend_phase(spec_m, projected, mask)
    return stft.inverse(spec, length)


def kept_edge(cutoff_hz: float, cfg: RestoreConfig) -> float | None:
    """Below which frequency (Hz) the output is the input's own band, or None where nothing is
    kept: paper mode, no margin (``keep_margin_hz`` None), or an edge below the crossfade width.
    The one rule of both ``keep_input_band`` versions (torch and numpy)."""
    if cfg.keep_margin_hz is None or cfg.phase is PhaseMode.PAPER:
        return None
    edge = cutoff_hz - cfg.keep_margin_hz
    return edge if edge > cfg.crossfade_hz else None


def keep_input_band(x: np.ndarray, out: np.ndarray, cutoff_hz: float, cfg: RestoreConfig, stft: NpStft) -> np.ndarray:
    """``out`` with the input's own STFT below ``kept_edge``; (B, T) at 16 kHz (``phase.keep_input_band``)."""
    edge = kept_edge(cutoff_hz, cfg)
    if edge is None:
        return out
    mask = band_mask(cfg.stft, edge, cfg.crossfade_hz)[:, None]
    spec = (1.0 - mask) * stft(x) + mask * stft(out)
    return stft.inverse(spec, out.shape[-1])


def repair(tdcnn_out: np.ndarray, vocoder_out: np.ndarray | None, cutoff_hz: float, cfg: RestoreConfig,
           stft: NpStft, spec: np.ndarray, top_hz: float | None = None) -> np.ndarray:
    """``cfg.phase`` applied to (B, T) waveforms at 16 kHz; ``spec`` is ``stft(tdcnn_out)``
    (``phase.repair``); ``none`` returns the TD-CNN output."""
    if cfg.phase is PhaseMode.NONE or vocoder_out is None:
        return tdcnn_out
    band_cutoff = cutoff_hz if cfg.phase is PhaseMode.BAND else None
    return replace_phase(spec, vocoder_out, tdcnn_out.shape[-1], stft, cutoff_hz=band_cutoff,
                         crossfade_hz=cfg.crossfade_hz, consistency=cfg.consistency, top_hz=top_hz)
