"""The low-resolution simulation (paper §3.2) and ``tdpr degrade``.

Filter responses are measured, not trusted: 8 s of white noise goes through
each kind and the Welch PSD ratio output / input gives the zero-phase
response per bin (2048-point segments, 7.8 Hz bins).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from tdpr_cli.errors import InputError, OutputError, UsageError
from tdpr_cli.train.degrade import (
    DEFAULT_ORDERS,
    FILTERS,
    DegradeSpec,
    FilterKind,
    degrade,
    degrade_random,
    random_spec,
)

SR = 16000
NPERSEG = 2048
BESSEL_REASON = (
    "a Bessel magnitude is near-Gaussian: no order gives <1 dB at cutoff-500 Hz "
    "and >=40 dB at cutoff+500 Hz; its own contract is tested separately"
)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1234).standard_normal(8 * SR)


def response_db(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(freqs, attenuation in dB per Welch bin; positive = quieter)."""
    freqs, p_in = signal.welch(x, SR, nperseg=NPERSEG)
    _, p_out = signal.welch(np.asarray(y, np.float64), SR, nperseg=NPERSEG)
    return freqs, -10.0 * np.log10(p_out / p_in)


def kind_params():
    for kind in FILTERS:
        marks = [pytest.mark.xfail(strict=True, reason=BESSEL_REASON)] if kind == "bessel" else []
        yield pytest.param(kind, marks=marks, id=kind)


def test_registry_has_the_seven_kinds():
    assert set(FILTERS) == {k.value for k in FilterKind}
    assert len(FILTERS) == 7


@pytest.mark.parametrize("cutoff", [2500.0, 4000.0])
@pytest.mark.parametrize("order", [6, 10])
@pytest.mark.parametrize("kind", kind_params())
def test_stop_band_and_pass_band(noise, kind, order, cutoff):
    freqs, att = response_db(noise, degrade(noise, SR, cutoff, kind, order))
    stop = (freqs >= cutoff + 500) & (freqs < SR / 2)  # the bin at Nyquist is skipped
    passband = freqs <= cutoff - 500
    assert att[stop].min() >= 40.0, f"{kind}: only {att[stop].min():.1f} dB above {cutoff + 500} Hz"
    assert np.abs(att[passband]).max() < 1.0, f"{kind}: pass band changed {np.abs(att[passband]).max():.2f} dB"


@pytest.mark.parametrize("cutoff", [2500.0, 4000.0])
@pytest.mark.parametrize("order", [6, 10])
def test_bessel_contract(noise, order, cutoff):
    """Bessel: -6 dB on the cutoff, flat below 0.4 x cutoff, 40 dB from cutoff + 2.2 kHz."""
    freqs, att = response_db(noise, degrade(noise, SR, cutoff, "bessel", order))
    assert abs(np.interp(cutoff, freqs, att) - 6.02) < 0.5
    assert np.abs(att[freqs <= 0.4 * cutoff]).max() < 1.0
    assert att[(freqs >= cutoff + 2200) & (freqs < SR / 2)].min() >= 40.0
    assert np.all(np.diff(att[(freqs > 200) & (freqs < cutoff + 2200)]) > -0.05)  # monotone


@pytest.mark.parametrize("kind", list(FILTERS))
def test_zero_phase_alignment(kind):
    """Cross-correlation of a low-frequency signal peaks at lag 0."""
    rng = np.random.default_rng(7)
    spectrum = np.fft.rfft(rng.standard_normal(2 * SR))
    spectrum[np.fft.rfftfreq(2 * SR, 1 / SR) > 800] = 0  # content well inside every pass band
    x = np.fft.irfft(spectrum, n=2 * SR)
    y = degrade(x, SR, 2500.0, kind, 8).astype(np.float64)
    lags = signal.correlation_lags(len(y), len(x))
    xc = signal.correlate(y, x)
    window = np.abs(lags) <= 200
    assert lags[window][np.argmax(xc[window])] == 0


@pytest.mark.parametrize("kind", list(FILTERS))
def test_shapes_dtype_and_channels(kind):
    rng = np.random.default_rng(3)
    stereo = rng.standard_normal((2, SR)).astype(np.float32)
    before = stereo.copy()
    out = degrade(stereo, SR, 3000.0, kind, 7)
    assert out.shape == stereo.shape and out.dtype == np.float32
    np.testing.assert_array_equal(stereo, before)  # input untouched
    mono = degrade(stereo[1], SR, 3000.0, kind, 7)
    assert mono.shape == (SR,)
    np.testing.assert_allclose(out[1], mono, atol=1e-6)  # channels are independent


@pytest.mark.parametrize("kind", list(FILTERS))
def test_short_and_empty_inputs(kind):
    assert degrade(np.zeros(0), SR, 3000.0, kind, 6).shape == (0,)
    assert degrade(np.ones((2, 10)), SR, 3000.0, kind, 6).shape == (2, 10)


def test_other_sample_rate_keeps_the_spec():
    x = np.random.default_rng(5).standard_normal(4 * 44100)
    freqs, p_in = signal.welch(x, 44100, nperseg=4096)
    _, p_out = signal.welch(degrade(x, 44100, 3000.0, "ellip", 6).astype(float), 44100, nperseg=4096)
    att = -10 * np.log10(p_out / p_in)
    assert att[(freqs >= 3500) & (freqs < 22050)].min() >= 40.0
    assert np.abs(att[freqs <= 2500]).max() < 1.0


def test_degrade_random_is_deterministic(noise):
    x = noise[: 2 * SR]
    a, spec_a = degrade_random(x, SR, np.random.default_rng(42))
    b, spec_b = degrade_random(x, SR, np.random.default_rng(42))
    assert spec_a == spec_b
    np.testing.assert_array_equal(a, b)
    specs = {degrade_random(x, SR, np.random.default_rng(s))[1] for s in range(5)}
    assert len(specs) > 1


def test_random_spec_ranges():
    rng = np.random.default_rng(0)
    specs = [random_spec(rng) for _ in range(300)]
    assert all(isinstance(s, DegradeSpec) for s in specs)
    assert all(2500.0 <= s.cutoff_hz <= 4000.0 for s in specs)
    assert {s.order for s in specs} == set(DEFAULT_ORDERS)
    assert {s.kind for s in specs} == set(FILTERS)
    only = random_spec(rng, cutoff_range=(3000.0, 3000.0), kinds=("stft",), orders=(9,))
    assert only == DegradeSpec("stft", 3000.0, 9)


@pytest.mark.parametrize(
    ("cutoff", "kind", "order", "needle"),
    [
        (8000.0, "ellip", 6, "Nyquist"),
        (9000.0, "ellip", 6, "Nyquist"),
        (0.0, "ellip", 6, "cutoff"),
        (-100.0, "ellip", 6, "cutoff"),
        (3000.0, "sinc", 6, "unknown filter kind"),
        (3000.0, "ellip", 0, "order"),
        (3000.0, "ellip", 21, "order"),
        (3000.0, "ellip", 6.5, "order"),
    ],
)
def test_bad_arguments_raise_usage_error(cutoff, kind, order, needle):
    with pytest.raises(UsageError, match=needle):
        degrade(np.zeros(100), SR, cutoff, kind, order)


def test_bad_audio_raises_input_error():
    with pytest.raises(InputError):
        degrade(np.zeros((1, 2, 3)), SR, 3000.0, "ellip", 6)
    with pytest.raises(InputError):
        degrade(np.array([0.0, np.nan]), SR, 3000.0, "ellip", 6)


# ---- tdpr degrade ---------------------------------------------------------------


def _write(path, seconds=1.0, sr=SR, channels=2):
    x = 0.3 * np.random.default_rng(9).standard_normal((int(seconds * sr), channels))
    sf.write(path, x, sr, subtype="PCM_16")
    return x


def test_degrade_cmd_writes_pcm16_and_reports(tmp_path, capsys):
    from tdpr_cli.commands.degrade import degrade_cmd

    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    _write(src, sr=22050)
    degrade_cmd(src, dst, cutoff=3000.0, filter="cheby1", order="8", seed=1)
    info = sf.info(dst)
    assert (info.samplerate, info.channels, info.subtype) == (22050, 2, "PCM_16")
    y, _ = sf.read(dst, always_2d=True)
    x, _ = sf.read(src, always_2d=True)
    expected = degrade(x.T, 22050, 3000.0, "cheby1", 8).T
    np.testing.assert_allclose(y, expected, atol=2 / 32768)
    err = capsys.readouterr()
    assert "cheby1" in err.err and "order 8" in err.err and "3000.0 Hz" in err.err
    assert err.out == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_degrade_cmd_random_is_seeded(tmp_path, capsys):
    from tdpr_cli.commands.degrade import degrade_cmd

    src = tmp_path / "in.flac"
    _write(src, channels=1)
    for name in ("a.wav", "b.wav"):
        degrade_cmd(src, tmp_path / name, seed=5)
    first, second = capsys.readouterr().err.strip().splitlines()
    assert first.split(": ", 2)[2] == second.split(": ", 2)[2]
    np.testing.assert_array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])


def test_degrade_cmd_refuses_to_overwrite_input(tmp_path):
    from tdpr_cli.commands.degrade import degrade_cmd

    src = tmp_path / "in.wav"
    _write(src)
    with pytest.raises(OutputError):
        degrade_cmd(src, tmp_path / "." / "in.wav")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"filter": "sinc"}, "--filter"),
        ({"order": "high"}, "--order"),
        ({"order": "30"}, "order"),
        ({"cutoff": -1.0}, "--cutoff"),
        ({"cutoff": 9000.0}, "Nyquist"),
    ],
)
def test_degrade_cmd_usage_errors(tmp_path, kwargs, needle):
    from tdpr_cli.commands.degrade import degrade_cmd

    src = tmp_path / "in.wav"
    _write(src)
    with pytest.raises(UsageError, match=needle):
        degrade_cmd(src, tmp_path / "out.wav", **kwargs)
    assert not (tmp_path / "out.wav").exists()


def test_degrade_cmd_missing_input(tmp_path):
    from tdpr_cli.commands.degrade import degrade_cmd

    with pytest.raises(InputError):
        degrade_cmd(tmp_path / "nope.wav", tmp_path / "out.wav")
