"""The 62.5 Hz comb metric (issue 12): value tests on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from tdpr_cli.evaluation.comb import comb_db

SR = 16000


def test_click_train_at_the_frame_rate_reads_high():
    x = np.zeros(10 * SR)
    x[::256] = 1.0  # one click per 256-sample frame: lines at every multiple of 62.5 Hz
    x += 1e-3 * np.random.default_rng(0).standard_normal(x.shape)
    assert comb_db(x) > 20.0


def test_white_noise_reads_about_zero():
    x = np.random.default_rng(1).standard_normal((2, 10 * SR))
    assert abs(comb_db(x)) < 0.5


def _notes(seed: int) -> np.ndarray:
    """Notes with stretched (piano-like) partials on random f0s, struck at random times, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(10 * SR) / SR
    x = 1e-4 * rng.standard_normal(len(t))
    for f0 in np.exp(rng.uniform(np.log(80.0), np.log(1000.0), 24)):
        onset = rng.uniform(0, 8)
        env = np.where(t >= onset, np.exp(-(t - onset) * rng.uniform(0.5, 3.0)), 0.0)
        for k in range(1, int(7900 / f0)):
            x += env * np.sin(2 * np.pi * f0 * k * t * np.sqrt(1 + 4e-4 * k**2) + rng.uniform(0, 6)) * 0.3 / k
    return x


def test_music_without_frame_periodicity_reads_about_zero():
    """Sparse partials land on or between the lines by chance: each clip within 2.5 dB, the mean within 1."""
    values = [comb_db(_notes(seed)) for seed in range(4)]
    assert all(abs(v) < 2.5 for v in values) and abs(np.mean(values)) < 1.0


def test_buzz_is_measured_in_db():
    """A comb at known strength: lines 10x the noise power per bin read about +10 dB less the bin share."""
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(20 * SR)
    t = np.arange(20 * SR) / SR
    lines = sum(np.sin(2 * np.pi * 62.5 * k * t) for k in range(72, 121))
    weak, strong = comb_db(noise + 0.05 * lines), comb_db(noise + 0.5 * lines)
    assert 0.5 < weak < strong and strong - weak > 10.0


def test_short_and_bad_arguments():
    assert np.isfinite(comb_db(np.random.default_rng(4).standard_normal(1000)))
    with pytest.raises(ValueError):
        comb_db(np.zeros(SR), f0=61.0)
    with pytest.raises(ValueError):
        comb_db(np.zeros(SR), band=(100.0, 110.0))


@pytest.mark.parametrize("vocoder, low, high", [
    (None, -1.0, 2.0),  # the shipped default: the buzz must not come back (issue 12's bar)
    ("vocoder-piano-16k", 4.0, 20.0),  # the pre-GAN vocoder, kept in the lock: the test can tell
])
def test_shipped_default_output_has_no_frame_rate_buzz(tmp_path, vocoder, low, high):
    """`tdpr restore` with the shipped models on 4 s of the bundled piano example (3 kHz)."""
    from pathlib import Path

    import soundfile as sf

    from tdpr_cli.cli import main

    example = Path(__file__).resolve().parents[1] / "examples" / "handel-lascia-3k.flac"
    x, sr = sf.read(example, dtype="float32", frames=4 * 44100)
    src, out = tmp_path / "take.wav", tmp_path / "out.wav"
    sf.write(src, x, sr)
    args = ["restore", str(src), str(out), "--quiet", "--offline", "--cutoff", "3000", "--threads", "1"]
    with pytest.raises(SystemExit) as done:
        main(args + (["--vocoder", vocoder] if vocoder else []))
    assert done.value.code == 0
    y, rate = sf.read(out, dtype="float32")
    assert rate == SR
    assert low < comb_db(y) < high
