"""A tiny synthetic corpus (manifest + FLAC clips) for validation-set tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def piano_like(seconds: float, seed: int, gap: tuple[float, float] | None = None) -> np.ndarray:
    """(T,) int16 full-band decaying harmonic notes; ``gap`` (start_s, stop_s) is digital silence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = np.zeros(n)
    for onset in np.arange(0.0, seconds, 0.5):
        t = np.arange(n - int(onset * SR)) / SR
        f0 = rng.uniform(80, 600)
        note = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 40) if f0 * k < SR / 2)
        x[int(onset * SR):] += note * np.exp(-3 * t)
    x += 1e-3 * rng.standard_normal(n)  # never digital silence on its own
    x = 0.5 * x / np.abs(x).max()
    if gap is not None:
        x[int(gap[0] * SR):int(gap[1] * SR)] = 0.0
    return np.round(x * 32767).astype(np.int16)


def make_corpus(root: Path, seconds: float = 5.0) -> Path:
    """``root/manifest.json`` with valid clips of 2 pieces x 2 soundfonts (+ train and test clips)."""
    specs = [
        ("valid", "p-alpha", "fluidr3", None),
        ("valid", "p-alpha", "musescore", (1.0, 4.5)),  # too silent to hold a 2 s excerpt
        ("valid", "p-beta", "musescore", None),
        ("valid", "p-beta", "fluidr3", None),
        ("train", "p-gamma", "timgm6mb", None),
        ("test", "p-delta", "musescore", None),
    ]
    clips = []
    for i, (split, piece, font, gap) in enumerate(specs):
        rel = f"{split}/{piece}__{font}__0_0.flac"
        (root / split).mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, piano_like(seconds, i, gap), SR, subtype="PCM_16")
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        clips.append({"path": rel, "split": split, "piece": piece, "source": f"test:{i}",
                      "soundfont": font, "duration_s": seconds, "sha256": digest})
    (root / "manifest.json").write_text(json.dumps({"version": 1, "seed": 0, "sample_rate": SR, "clips": clips}))
    return root
