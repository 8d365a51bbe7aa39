"""The phase view of a report, after Zhang et al. (2024), §5.3 and figure 4.

A whole phase spectrogram is unreadable; the wrapped phase of one STFT bin
over 40 frames shows whether it advances steadily, as a real partial's does,
or jumps about. The view is recomputed with ``ChunkRestorer.process_np`` on a short
excerpt (40 frames plus ``EXCERPT_CONTEXT`` of real audio either side, about
1.7 s) around the loudest part of the input: cheaper than keeping the
pipeline's intermediates for a whole file, and it leaves the pipeline as it is.
The STFT is the one phase repair uses (1024/256 centred Hann at 16 kHz).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tdpr_cli.config import SAMPLE_RATE, StftConfig
from tdpr_cli.errors import InputError, UsageError

if TYPE_CHECKING:
    from tdpr_cli.restore.stream import ChunkRestorer

#: Frames of the phase view, as in the paper's figure 4.
PHASE_FRAMES = 40
#: Real audio either side of the phase-view excerpt, in samples at 16 kHz
#: (a multiple of the STFT hop, so the kept frames sit on the excerpt's grid).
EXCERPT_CONTEXT = 8192
#: Excerpts start on multiples of this many 16 kHz samples (50 ms; see ``excerpt_16k``).
EXCERPT_GRID = 800
#: Keep the phase bin this far above the cutoff (Hz): clear of the band-mode crossfade.
BIN_MARGIN_HZ = 250.0

def excerpt_16k(path: str | Path, start: int, length: int) -> np.ndarray:
    """(n <= length,) mono float32 at 16 kHz: samples [start, start + length) of the 16 kHz grid.

    Reads only the excerpt plus a filter margin at the file's own rate, so it
    costs the same for a one-minute and a one-hour file. With ``start`` a
    multiple of ``EXCERPT_GRID`` and a rate that is a multiple of 20 Hz (all
    common ones), the excerpt starts on an input sample that the resampler
    maps exactly onto the 16 kHz grid, so excerpts of files at different
    rates line up to the sample (phase comparisons depend on it).
    """
    import soundfile as sf

    from tdpr_cli.audio.resample import resample

    try:
        with sf.SoundFile(os.fsencode(path)) as f:
            sr = f.samplerate
            g = math.gcd(sr, SAMPLE_RATE)
            up, down = SAMPLE_RATE // g, sr // g
            lo = start * sr // SAMPLE_RATE
            # A whole number of ``down`` periods of margin (>= 20 ms, beyond the filter's reach).
            pad = min(lo, -(-(sr // 50) // down) * down)
            f.seek(lo - pad)
            frames = length * sr // SAMPLE_RATE + pad + sr // 50 + 1
            data = f.read(frames, dtype="float32", always_2d=True).mean(axis=1)
    except (RuntimeError, OSError) as exc:  # LibsndfileError is a RuntimeError
        raise InputError(f"{path}: cannot read an excerpt for the phase view ({exc})") from None
    if up != down:
        data = resample(data, sr, SAMPLE_RATE)
    skip = pad * up // down
    return data[skip : skip + length]


@dataclass
class PhaseView:
    """Wrapped phase (rad) of one STFT bin over up to ``PHASE_FRAMES`` frames, per signal."""

    freq_hz: float
    start_s: float
    series: dict[str, np.ndarray] = field(default_factory=dict)


def _bin_phase(x: np.ndarray, first: int, frames: int, cfg: StftConfig) -> np.ndarray:
    """(frames, F) complex STFT (centred Hann, as phase repair uses) from frame ``first``."""
    from tdpr_cli.dsp.stft_np import NpStft

    spec = NpStft(cfg)(np.asarray(x, np.float32)[None])[0].T
    return spec[first : first + frames]


def phase_view(
    restorer: ChunkRestorer, inp: str | Path, cutoff_hz: float, centre_s: float, ref: str | Path | None = None,
    top_hz: float | None = None,
) -> PhaseView:
    """Figure 4 of the paper for one file: input, TD-CNN, TD-PR (and reference) phase at one bin.

    The excerpt is centred on ``centre_s``; the bin is the strongest of the
    repaired output between ``cutoff_hz + BIN_MARGIN_HZ`` and 7.8 kHz. ``top_hz``: the
    detected end of the roll-off, as ``ChunkRestorer.process_np`` takes it.
    """
    cfg, ctx = restorer.cfg.stft, EXCERPT_CONTEXT
    length = PHASE_FRAMES * cfg.hop + 2 * ctx
    start = max(0, round(centre_s * SAMPLE_RATE - length / 2) // EXCERPT_GRID * EXCERPT_GRID)
    x = excerpt_16k(inp, start, length)
    first = min(ctx, len(x) // 2) // cfg.hop  # near a file's end there is less context
    repaired, tdcnn = restorer.process_np(x[None], cutoff_hz, top_hz)
    signals = {"input": x, "TD-CNN": tdcnn[0], "TD-PR": repaired[0]}
    if ref is not None:
        signals["reference"] = excerpt_16k(ref, start, len(x))
    specs = {k: _bin_phase(v, first, PHASE_FRAMES, cfg) for k, v in signals.items()}
    freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / SAMPLE_RATE)
    band = (freqs >= cutoff_hz + BIN_MARGIN_HZ) & (freqs <= 7800.0)
    if not band.any():
        raise UsageError(f"no bin above the cutoff {cutoff_hz:.0f} Hz for a phase view")
    strength = np.where(band, np.abs(specs["TD-PR"]).mean(axis=0), -1.0)
    k = int(np.argmax(strength))
    view = PhaseView(float(freqs[k]), (start + first * cfg.hop) / SAMPLE_RATE)
    view.series = {name: np.angle(s[:, k]) for name, s in specs.items()}
    return view
