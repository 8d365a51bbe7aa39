import numpy as np
import pytest
from scipy import signal

from tdpr_cli.dsp.bandwidth import SpectrumAccumulator, detect


def _music(seconds=8, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(16000 * seconds) / 16000
    x = 0.003 * rng.standard_normal(len(t))
    for f0 in (130.8, 196.0, 261.6, 329.6):
        for k in range(1, 60):
            if f0 * k < 7900:
                x += np.sin(2 * np.pi * f0 * k * t + k) * np.exp(-k / 8) / k
    return x / np.abs(x).max() / 2


def _detect(x):
    acc = SpectrumAccumulator()
    for i in range(0, len(x), 5000):  # block boundaries must not matter
        acc.add(x[None, i : i + 5000])
    return detect(acc.ltas_db(), acc.peak)


FILTERS = {
    "butter": lambda fc, n: signal.butter(n, fc, fs=16000, output="sos"),
    "cheby1": lambda fc, n: signal.cheby1(n, 0.1, fc, fs=16000, output="sos"),
    "ellip": lambda fc, n: signal.ellip(n, 0.1, 60, fc, fs=16000, output="sos"),
}


@pytest.mark.parametrize("kind", FILTERS)
@pytest.mark.parametrize("cutoff", [2500, 3000, 3500, 4000])
def test_detects_cutoff(kind, cutoff):
    y = signal.sosfiltfilt(FILTERS[kind](cutoff, 8), _music())
    y = np.round(y * 32767) / 32767  # PCM_16 noise floor, as real files have
    bw = _detect(y)
    assert not bw.wideband and abs(bw.cutoff_hz - cutoff) < 300


def test_wideband_and_silent():
    assert _detect(_music()).wideband
    bw = _detect(np.zeros(16000))
    assert bw.silent and bw.wideband


def test_accumulator_is_block_independent():
    x = _music(2)
    a, b = SpectrumAccumulator(), SpectrumAccumulator()
    a.add(x[None])
    for i in range(0, len(x), 333):
        b.add(x[None, i : i + 333])
    np.testing.assert_allclose(a.ltas_db(), b.ltas_db(), atol=1e-9)


def test_shorter_than_one_frame():
    acc = SpectrumAccumulator()
    acc.add(np.full((1, 10), 0.1))
    assert np.isfinite(acc.ltas_db()).all()


def test_running_max_equals_scipys_maximum_filter():
    from scipy.ndimage import maximum_filter1d

    from tdpr_cli.dsp.bandwidth import running_max

    rng = np.random.default_rng(0)
    for size in (1, 3, 17, 18):
        x = rng.standard_normal(513)
        np.testing.assert_array_equal(running_max(x, size), maximum_filter1d(x, size=size, mode="nearest"))
