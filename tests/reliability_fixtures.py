"""Fixtures of the reliability tests, loaded with ``pytest_plugins`` by the modules using them.

``cli`` runs ``tdpr restore`` in this process against tiny models pinned in a
per-module config, and puts back what ``main`` changes process-wide (signal
handlers, torch's thread count).
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import soundfile as sf
import torch

from conftest import pin_tiny_models
from reliability_helpers import FAST, SR, clip, run_inprocess


@pytest.fixture(scope="module")
def config_env(tmp_path_factory) -> dict[str, str]:
    return pin_tiny_models(tmp_path_factory.mktemp("reliability"))


@pytest.fixture
def cli(config_env, monkeypatch, capsys):
    """``cli(*args)`` runs ``tdpr restore *args *FAST`` in-process and returns a Result."""
    for key, value in config_env.items():
        monkeypatch.setenv(key, value)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    threads = torch.get_num_threads()
    yield lambda *args, fast=True: run_inprocess([*args, *(FAST if fast else ())], capsys)
    for s, h in handlers.items():
        signal.signal(s, h)
    torch.set_num_threads(threads)


@pytest.fixture
def good_wav(tmp_path) -> Path:
    src = tmp_path / "in.wav"
    sf.write(src, clip(), SR)
    return src
