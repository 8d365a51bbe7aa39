import math

import numpy as np
import pytest
from scipy.signal import resample_poly

from tdpr_cli.audio.resample import WINDOW, StreamResampler, output_length


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000])
def test_stream_equals_one_shot(rate):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((2, rate * 2 + 17)).astype(np.float32)
    g = math.gcd(rate, 16000)
    ref = x if rate == 16000 else resample_poly(x, 16000 // g, rate // g, axis=-1, window=WINDOW)
    rs = StreamResampler(rate, 2)
    parts, i = [], 0
    while i < x.shape[1]:
        n = int(rng.integers(1, 20000))
        parts.append(rs.process(x[:, i : i + n]))
        i += n
    parts.append(rs.flush())
    y = np.concatenate(parts, axis=1)
    assert y.shape == ref.shape == (2, output_length(x.shape[1], rate))
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_resampler_removes_aliases():
    # A 10 kHz tone at 44.1 kHz lies above the 8 kHz Nyquist of the output: it must vanish.
    t = np.arange(44100) / 44100
    x = np.sin(2 * np.pi * 10000 * t)[None].astype(np.float32)
    rs = StreamResampler(44100, 1)
    y = np.concatenate([rs.process(x), rs.flush()], axis=1)
    assert 20 * np.log10(np.std(y[:, 1000:-1000]) / np.std(x)) < -58


def test_short_input():
    rs = StreamResampler(44100, 1)
    y = np.concatenate([rs.process(np.ones((1, 1), np.float32)), rs.flush()], axis=1)
    assert y.shape == (1, 1)
