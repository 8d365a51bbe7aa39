import numpy as np
import pytest

from tdpr_cli.audio.resample import QUALITY, StreamResampler, output_length, resample

RATES = [8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000]


def _stream(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    rs = StreamResampler(rate, x.shape[0])
    parts, i = [], 0
    while i < x.shape[1]:
        n = int(rng.integers(1, 20000))
        parts.append(rs.process(x[:, i : i + n]))
        i += n
    parts.append(rs.flush())
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("rate", RATES)
def test_stream_equals_one_shot_soxr(rate):
    import soxr

    rng = np.random.default_rng(rate)
    x = rng.standard_normal((2, rate * 2 + 17)).astype(np.float32)
    ref = x if rate == 16000 else soxr.resample(x.T, rate, 16000, quality=QUALITY).T
    y = _stream(x, rate, rng)
    assert y.shape == ref.shape == (2, output_length(x.shape[1], rate))
    np.testing.assert_allclose(y, ref, atol=1e-6)
    np.testing.assert_allclose(resample(x, rate), ref, atol=1e-6)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 9, 441, 12345])
def test_output_length_is_what_the_stream_gives(rate, n):
    y = _stream(np.ones((1, n), np.float32), rate, np.random.default_rng(n))
    assert y.shape[1] == output_length(n, rate) == int(np.floor(n * 16000 / rate + 0.5))


def _tone_db(f: float, rate: int = 44100) -> float:
    t = np.arange(rate * 2) / rate
    x = np.sin(2 * np.pi * f * t)[None].astype(np.float32)
    y = resample(x, rate)
    return float(20 * np.log10(np.std(y[:, 2000:-2000]) / np.std(x)))


def test_resampler_removes_aliases():
    # 10 kHz at 44.1 kHz lies above the 8 kHz Nyquist of the output: it must vanish.
    assert _tone_db(10000) < -120
    assert _tone_db(8300, 48000) < -100


@pytest.mark.parametrize("f", [100.0, 1000.0, 3000.0, 6000.0, 7000.0, 7500.0])
def test_resampler_passband_is_flat_to_7500_hz(f):
    assert abs(_tone_db(f)) < 0.5


def test_resample_along_an_axis():
    x = np.random.default_rng(0).standard_normal((4410, 3)).astype(np.float32)
    y = resample(x, 44100, axis=0)
    assert y.shape == (1600, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y[:, 1], resample(x[:, 1], 44100), atol=1e-6)


def test_empty_input():
    assert resample(np.zeros((2, 0), np.float32), 44100).shape == (2, 0)
    assert resample(np.zeros(0, np.float32), 48000).shape == (0,)


def test_identity_and_short_input():
    x = np.ones((2, 5), np.float32)
    assert np.array_equal(resample(x, 16000), x)
    rs = StreamResampler(44100, 1)
    y = np.concatenate([rs.process(np.ones((1, 2), np.float32)), rs.flush()], axis=1)
    assert y.shape == (1, 1)
