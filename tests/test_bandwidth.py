import numpy as np
import pytest
from scipy import signal

from tdpr_cli.dsp.bandwidth import SpectrumAccumulator, detect


def _music(seconds=8, seed=0):
    """Four voices of harmonic partials, each re-struck every 0.5-1 s and decaying (music has
    level changes: the detector tells it from a stationary noise floor by them), plus hiss."""
    rng = np.random.default_rng(seed)
    t = np.arange(16000 * seconds) / 16000
    x = 0.003 * rng.standard_normal(len(t))
    for f0 in (130.8, 196.0, 261.6, 329.6):
        strikes = np.cumsum(rng.uniform(0.5, 1.0, 4 * seconds))
        since = t - strikes[np.maximum(np.searchsorted(strikes, t) - 1, 0)]
        env = np.where(t >= strikes[0], np.exp(-3.0 * np.maximum(since, 0)), 0.0)
        for k in range(1, 60):
            if f0 * k < 7900:
                x += env * np.sin(2 * np.pi * f0 * k * t + k) * np.exp(-k / 8) / k
    return x / np.abs(x).max() / 2


def _detect(x):
    acc = SpectrumAccumulator()
    for i in range(0, len(x), 5000):  # block boundaries must not matter
        acc.add(x[None, i : i + 5000])
    return detect(acc)


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
    # Ten samples of DC: analysed zero-padded as one frame; nothing to detect a band edge in.
    acc = SpectrumAccumulator()
    acc.add(np.full((1, 10), 0.1))
    ltas = acc.ltas_db()
    assert np.isfinite(ltas).all() and acc.frames == 1 and int(np.argmax(ltas)) == 0
    bw = detect(acc)
    assert not bw.silent and bw.confidence == 0.0


def test_running_max_equals_scipys_maximum_filter():
    from scipy.ndimage import maximum_filter1d

    from tdpr_cli.dsp.bandwidth import running_max

    rng = np.random.default_rng(0)
    for size in (1, 3, 17, 18):
        x = rng.standard_normal(513)
        np.testing.assert_array_equal(running_max(x, size), maximum_filter1d(x, size=size, mode="nearest"))


# --- noise-floor-aware detection (issue 13) ---------------------------------------------

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import soundfile as sf  # noqa: E402

from tdpr_cli.dsp import bandwidth as bwmod  # noqa: E402

FIXTURES = Path(__file__).parent / "detection"
CASES = json.loads((FIXTURES / "fixtures.json").read_text())
#: Fixtures whose -3 dB point is missed by more than 300 Hz today (issue 13 stays open on them):
#: gentle Bessel edges, whose bend the Butterworth-shaped edge fit places 0.4-0.9 kHz off.
KNOWN_MISSES = {"soft-bessel2-3000-hiss50.flac", "soft-bessel5-4000-hiss60.flac", "soft-bessel4-3500.flac"}


def _fixture(name):
    x, sr = sf.read(FIXTURES / name, dtype="float64")
    assert sr == 16000
    return _detect(x)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_fixture_ranges(case):
    bw = _fixture(case["file"])
    if case["kind"] == "silence":
        assert bw.silent and bw.wideband and bw.top_hz == 0.0
        return
    if case["kind"] is None:  # music reaches 8 kHz: wideband, hiss or not
        assert bw.wideband and not bw.silent and bw.top_hz >= 7000
        return
    # No band-limited fixture (every cutoff lies in 2.5-4.5 kHz) is called wideband, the slope
    # region runs from the cutoff up to where the music meets the floor, and a filter edge is
    # found with confidence.
    assert not bw.wideband and bw.cutoff_hz < bw.top_hz <= 7000
    assert bw.confidence >= 0.75
    err = bw.cutoff_hz - case["minus3_hz"]
    if case["file"] in KNOWN_MISSES:
        assert 300 < abs(err) < 1000, f"known miss now {err:+.0f} Hz: update KNOWN_MISSES"
    else:
        assert abs(err) <= 300


def test_hiss_does_not_count_as_music():
    # The same soft-filtered music is band-limited with and without hiss above it, and the
    # hiss moves where the roll-off meets the floor, not the wideband verdict.
    clean, hissy = (_fixture(n) for n in ("soft-butterworth5-3500-hiss50.flac", "butterworth8-3000.flac"))
    assert not clean.wideband and not hissy.wideband


def test_floor_offset_matches_white_noise():
    # FLOOR_MEAN_OFFSET_DB turns a band's 10th-percentile level into its mean power.
    x = np.random.default_rng(3).standard_normal(16000 * 30)
    acc = SpectrumAccumulator()
    acc.add(x[None])
    mean_band = 10 * np.log10(acc.power[1:513].reshape(32, 16).sum(-1) / acc.frames)
    offset = np.median(mean_band - acc.band_percentile(bwmod.FLOOR_PCT))
    assert abs(offset - bwmod.FLOOR_MEAN_OFFSET_DB) < 0.3


def test_histogram_percentiles_match_numpy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(16000 * 3) * np.repeat(rng.uniform(0.01, 1.0, 30), 1600)  # level changes
    acc = SpectrumAccumulator()
    acc.add(x[None])
    n = 1 + (len(x) - 1024) // 512
    frames = x[np.arange(1024)[None] + 512 * np.arange(n)[:, None]] * np.hanning(1024)
    bands = (np.abs(np.fft.rfft(frames, axis=-1)) ** 2)[:, 1:513].reshape(n, 32, 16).sum(-1)
    for pct in (10.0, 95.0):
        want = np.percentile(10 * np.log10(bands), pct, axis=0, method="inverted_cdf")
        np.testing.assert_allclose(acc.band_percentile(pct), want, atol=bwmod.HIST_STEP)


def test_memory_is_fixed():
    acc = SpectrumAccumulator()
    sizes = set()
    for _ in range(3):
        acc.add(np.random.default_rng(0).standard_normal((2, 40000)))
        sizes.add((acc.hist.nbytes, acc.power.nbytes))
    assert len(sizes) == 1


def test_stationary_input_has_no_confidence():
    rng = np.random.default_rng(5)
    wide = _detect(0.1 * rng.standard_normal(32000))
    assert wide.wideband and wide.confidence == 0.0
    sos = signal.butter(8, 3000, fs=16000, output="sos")
    low = _detect(signal.sosfiltfilt(sos, 0.1 * rng.standard_normal(32000)))
    assert not low.wideband and low.confidence == 0.0 and 2700 <= low.cutoff_hz <= 3300


def test_edge_fit_finds_a_butterworth_corner():
    # A straight -9 dB/oct slope times a 4th-order Butterworth at 3 kHz: the corner is exact.
    f = np.arange(513) * bwmod.HZ_PER_BIN
    db = -9 * np.log2(np.maximum(f, 1) / 200) - 10 * np.log10(1 + (f / 3000) ** 8)
    fc, conf = bwmod.edge_fit(db, 45, 400)
    assert abs(fc - 3000) <= bwmod.HZ_PER_BIN and conf > 0.99
    straight = -9 * np.log2(np.maximum(f, 1) / 200)
    assert bwmod.edge_fit(straight + 0.1 * np.sin(f / 50), 45, 400)[1] < 0.5


def test_edge_at_the_music_top_is_refitted_past_it(monkeypatch):
    # A steep edge whose roll-off sinks into -40 dB hiss within one band: the music top is the
    # edge itself, so a fit that stops at the top sees no fall, is unsure, and lands on the
    # music's own bumps far below. The refit over two more bands finds the edge.
    from tdpr_cli.simulate.degrade import degrade, design

    y = degrade(_music(), 16000, 3000.0, "ellip", 10)
    hiss = signal.lfilter([1.0, -0.5], [1.0], np.random.default_rng(7).standard_normal(len(y)))
    y = y + hiss / np.sqrt(np.mean(hiss**2)) * np.sqrt(np.mean(y**2)) * 10 ** (-40 / 20)
    y = np.round(y * 32767) / 32767
    w, h = signal.sosfreqz(design("ellip", 16000, 3000.0, 10), worN=16000, fs=16000)
    minus3 = w[np.argmax(40 * np.log10(np.abs(h) + 1e-12) < -3.0)]  # two passes (sosfiltfilt)
    bw = _detect(y)
    assert not bw.wideband and abs(bw.cutoff_hz - minus3) <= 300 and bw.confidence >= 0.85
    monkeypatch.setattr(bwmod, "REFIT_CONFIDENCE", 0.0)  # the fit up to the top alone
    alone = _detect(y)
    assert alone.cutoff_hz < minus3 - 1000 and alone.confidence < 0.75
