"""Shared fixtures: tiny random models pinned in a per-test user lock."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

TDCNN, VOCODER = "tiny-seanet", "tiny-vocos"


def make_tiny_models(folder: Path, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A small SEANet (non-identity) and a small vocoder, exported to ``folder``."""
    from tdpr_cli.models.load import export
    from tdpr_cli.models.seanet import Seanet, SeanetConfig
    from tdpr_cli.models.vocoder import Vocoder, VocoderConfig

    torch.manual_seed(seed)
    tdcnn = Seanet(SeanetConfig(channels=4, strides=(2, 4, 8, 8)))
    # The real model starts as the identity; tests want it to change something.
    torch.nn.init.normal_(tdcnn.conv_out.weight, std=0.05)
    vocoder = Vocoder(VocoderConfig(dim=32, intermediate=64, layers=2))
    export(tdcnn, folder, TDCNN)
    export(vocoder, folder, VOCODER)
    return tdcnn.eval(), vocoder.eval()


def pin_tiny_models(folder: Path) -> dict[str, str]:
    """A TDPR_CONFIG_DIR under ``folder`` pinning tiny models as defaults; returns the env settings."""
    from tdpr_cli.weights.pin import write_pin

    config = folder / "config"
    models = config / "models"
    models.mkdir(parents=True)
    make_tiny_models(models)
    lock = config / "weights.lock"
    lock.write_text("version = 1\n")
    write_pin(TDCNN, "tdcnn", models, lock=lock, default=True)
    write_pin(VOCODER, "vocoder", models, lock=lock, default=True)
    return {"TDPR_CONFIG_DIR": str(config), "TDPR_CACHE_DIR": str(folder / "cache"), "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def tiny_env(tmp_path, monkeypatch):
    """TDPR_CONFIG_DIR with a user lock pinning tiny models as the defaults."""
    for key, value in pin_tiny_models(tmp_path).items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


def band_limited(seconds: float = 3.0, sr: int = 16000, cutoff: float = 3000.0, channels: int = 1, seed: int = 0):
    """(T, C) float32 music-like test signal low-passed at ``cutoff`` Hz."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros((len(t), channels))
    for c in range(channels):
        for f0 in rng.uniform(110, 440, 3):
            for k in range(1, 40):
                if f0 * k < sr / 2:
                    x[:, c] += np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) * np.exp(-k / 6) / k
        x[:, c] += 0.01 * rng.standard_normal(len(t))
    x = sosfiltfilt(butter(10, cutoff, fs=sr, output="sos"), x, axis=0)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture
def wav_in(tmp_path) -> Path:
    path = tmp_path / "in.wav"
    sf.write(path, band_limited(), 16000, subtype="PCM_16")
    return path
