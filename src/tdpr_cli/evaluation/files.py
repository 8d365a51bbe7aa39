"""Whole files for scoring: read at 16 kHz, pair an estimate with its reference, JSON-safe scores.

Evaluation reads whole files (clips of seconds to minutes), unlike restore,
which streams; both resample with ``audio.resample``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tdpr_cli.audio.read import AudioSource
from tdpr_cli.audio.resample import resample


def load_16k(path: Path) -> np.ndarray:
    """Read a whole file as (C, T) float32 at 16 kHz (resampled if needed)."""
    with AudioSource(path) as source:
        wave = np.concatenate(list(source.blocks()), axis=1)
        return resample(wave, source.info.sample_rate)


def load_pair(est: Path, ref: Path) -> tuple[np.ndarray, np.ndarray]:
    """(C, T) estimate and reference at 16 kHz; both mixed to mono if their
    channel counts differ (as ssr_eval always does)."""
    e, r = load_16k(est), load_16k(ref)
    if e.shape[0] != r.shape[0]:
        e, r = e.mean(axis=0, keepdims=True), r.mean(axis=0, keepdims=True)
    return e, r


def json_safe(scores: dict[str, float]) -> dict[str, float | None]:
    """Non-finite values (identical files give SNR inf) become null in JSON."""
    return {k: (v if math.isfinite(v) else None) for k, v in scores.items()}
