"""Periodic validation on a fixed set of valid-split segments.

TD-CNN: ssr_eval LSD of the output against the target at the validation
cutoff (3 kHz), with the input's LSD for reference, the LSD of the generated
band, and the long-term level error per band (output minus target, dB) so a
model that paints the high band too bright or too dull shows up directly.

Vocoder: resynthesis of the ground-truth mel. Mel L1 (natural-log mel, as
in training), LSD, and the phase error against the ground truth in the low
band (50 Hz .. cutoff - 250 Hz) and the high band (cutoff .. 8 kHz): what
phase repair takes from the vocoder.

All metrics come from ``tdpr_cli.evaluation.metrics`` (numpy); models run under
``torch.no_grad`` in eval mode and are put back in train mode afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import numpy as np
import torch
from torch import nn

from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.evaluation import metrics as ev
from tdpr_cli.models.condition import call_tdcnn
from tdpr_cli.models.vocoder import Vocoder
from tdpr_cli.train.dataset import ValidItem

#: Bands of the long-term level report, in Hz.
LEVEL_BANDS: tuple[tuple[float, float], ...] = ((1000.0, 3000.0), (3000.0, 4000.0), (4000.0, 6000.0), (6000.0, 8000.0))
_CHUNK = 8  # validation items per forward pass


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the block; the previous mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _run(fn: Callable[[torch.Tensor, slice], torch.Tensor], waves: np.ndarray, device: torch.device) -> np.ndarray:
    """Apply ``fn(x, rows)`` to (N, T) float32 in chunks (``rows``: the chunk's slice of N): -> (N, T) numpy."""
    out = []
    for i in range(0, len(waves), _CHUNK):
        rows = slice(i, i + _CHUNK)
        x = torch.from_numpy(waves[rows]).to(device)
        out.append(fn(x, rows).float().cpu().numpy())
    return np.concatenate(out)


def band_levels_db(est: np.ndarray, ref: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Long-term level of ``est`` minus ``ref`` per ``LEVEL_BANDS`` band, in dB.

    (N, T) each; power summed over all items (a long-term spectrum), 2048-point
    Hann, hop 512. Frames that reach past a segment's ends are left out: the
    zero padding makes a broadband click there that would swamp the quiet
    high band of a dull piano.
    """
    freqs = np.fft.rfftfreq(2048, 1.0 / sr)
    inner = slice(2, 1 + (est.shape[-1] - 1024) // 512)  # frame i spans i*512 -+ 1024
    p_est = (np.abs(ev.stft(est, 2048, 512)[..., inner, :]) ** 2).sum(axis=(0, 1))
    p_ref = (np.abs(ev.stft(ref, 2048, 512)[..., inner, :]) ** 2).sum(axis=(0, 1))
    out = {}
    for lo, hi in LEVEL_BANDS:
        band = (freqs >= lo) & (freqs < hi)
        ratio = (p_est[band].sum() + 1e-20) / (p_ref[band].sum() + 1e-20)
        out[f"level_db_{lo / 1000:g}k_{hi / 1000:g}k"] = float(10.0 * np.log10(ratio))
    return out


def validate_tdcnn(model: nn.Module, items: list[ValidItem], device: torch.device) -> dict[str, float]:
    """LSD (output and input), generated-band LSD and band levels over ``items``."""
    if not items:
        return {}
    degraded = np.stack([it.degraded for it in items])
    target = np.stack([it.target for it in items])
    cutoffs = [it.cutoff_hz for it in items]
    stated = torch.tensor(cutoffs, dtype=torch.float32)
    with evaluating(model):
        output = _run(lambda x, rows: call_tdcnn(model, x[:, None], stated[rows].to(x.device))[:, 0], degraded, device)
    result = {
        "lsd": float(np.mean([ev.lsd(o, t) for o, t in zip(output, target)])),
        "lsd_input": float(np.mean([ev.lsd(d, t) for d, t in zip(degraded, target)])),
        "lsd_high": float(np.mean([ev.lsd_high(o, t, c) for o, t, c in zip(output, target, cutoffs)])),
    }
    result.update(band_levels_db(output, target))
    return result


def validate_vocoder(model: nn.Module, items: list[ValidItem], device: torch.device) -> dict[str, float]:
    """Resynthesis of ground-truth mel: mel L1, LSD, comb, the phase-only comb (``lock``, the
    frame-locked phase that band mode reveals; dsp.phase.phase_only) and low/high-band phase error."""
    from tdpr_cli.dsp.spectral import LogMel

    if not items:
        return {}
    target = np.stack([it.target for it in items])
    length = target.shape[-1]
    mel = LogMel(cast(Vocoder, model).cfg.stft).to(device)
    with evaluating(model):
        output = _run(lambda x, _: model(mel(x), length), target, device)
        mel_l1 = float((mel(torch.from_numpy(output).to(device)) - mel(torch.from_numpy(target).to(device))).abs().mean())
    from tdpr_cli.dsp.phase import phase_only
    from tdpr_cli.dsp.spectral import Stft
    from tdpr_cli.evaluation.comb import comb_db

    with torch.no_grad():
        phase_wave = phase_only(torch.from_numpy(output).double(), Stft(cast(Vocoder, model).cfg.stft).double())
        lock_db = float(np.mean([comb_db(x) for x in phase_wave.numpy()]))
    result = {"mel_l1": mel_l1, "lsd": float(np.mean([ev.lsd(o, t) for o, t in zip(output, target)])),
              "comb": float(np.mean([comb_db(o) for o in output])), "lock": lock_db}
    cutoff = items[0].cutoff_hz
    bands = {"low": (50.0, cutoff - 250.0), "high": (cutoff, SAMPLE_RATE / 2)}
    for name, band in bands.items():
        errors = [ev.phase_error(o, t, band) for o, t in zip(output, target)]
        for key in ("cos", "ifd"):
            result[f"phase_{key}_{name}"] = float(np.nanmean([e[key] for e in errors]))
    return result
