"""The low-resolution simulation (paper §3.2) and ``tdpr degrade``.

Filter responses are measured, not trusted: an impulse goes through each
kind and its spectrum is compared with the scipy design written out here
(one forward-backward pass for the paper's IIR kinds, one causal pass for
the soft family), to 0.1 dB.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from tdpr_cli.errors import InputError, OutputError, UsageError
from tdpr_cli.simulate.degrade import (
    FILTERS,
    PAPER,
    PAPER_KINDS,
    PAPER_ONLY,
    SOFT,
    SOFT_KINDS,
    DegradeSpec,
    Family,
    SimConfig,
    degrade,
    degrade_random,
    high_shelf,
    random_spec,
    stft_window,
    subsample_rates,
)

SR = 16000
NPERSEG = 2048
IIR_KINDS = ("butterworth", "cheby1", "cheby2", "ellip", "bessel")


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1234).standard_normal(8 * SR)


def direct_design(kind: str, order: int, cutoff: float, sr: int = SR) -> np.ndarray:
    """The design written out with scipy, independently of ``degrade``'s own table."""
    if kind == "butterworth":
        return signal.butter(order, cutoff / (sr / 2), btype="low", output="sos")
    if kind == "cheby1":
        return signal.cheby1(order, 0.1, cutoff / (sr / 2), btype="low", output="sos")
    if kind == "cheby2":
        return signal.cheby2(order, 60, cutoff / (sr / 2), btype="low", output="sos")
    if kind == "ellip":
        return signal.ellip(order, 0.1, 60, cutoff / (sr / 2), btype="low", output="sos")
    if kind == "bessel":
        return signal.bessel(order, cutoff / (sr / 2), btype="low", output="sos")
    if kind == "soft-butterworth":
        return signal.butter(order, cutoff / (sr / 2), output="sos")
    return signal.bessel(order, cutoff / (sr / 2), output="sos", norm="mag")


def impulse_response_db(kind: str, cutoff: float, order: int, n: int = 1 << 15, shelf_db: float = 0.0):
    """(freqs, dB magnitude) of ``degrade`` measured on an impulse in the middle of silence."""
    x = np.zeros(n)
    x[n // 2] = 1.0
    y = degrade(x, SR, cutoff, kind, order, shelf_db).astype(np.float64)
    return np.fft.rfftfreq(n, 1 / SR), 20 * np.log10(np.abs(np.fft.rfft(y)) + 1e-30)


def test_registry_has_the_paper_kinds_and_the_soft_family():
    assert tuple(FILTERS) == PAPER_KINDS + SOFT_KINDS
    assert len(PAPER_KINDS) == 7 and set(SOFT_KINDS) == {"soft-butterworth", "soft-bessel"}


@pytest.mark.parametrize("cutoff", [2500.0, 3000.0, 4000.0])
@pytest.mark.parametrize("order", [6, 8, 10])
@pytest.mark.parametrize("kind", IIR_KINDS)
def test_paper_iir_is_one_zero_phase_pass_of_the_scipy_design(kind, order, cutoff):
    """|H|^2 of the direct design (one forward-backward pass), to 0.1 dB down to -100 dB."""
    freqs, measured = impulse_response_db(kind, cutoff, order)
    _, h = signal.sosfreqz(direct_design(kind, order, cutoff), worN=freqs, fs=SR)
    expected = 40 * np.log10(np.abs(h) + 1e-30)
    check = expected > -100.0
    assert np.abs(measured[check] - expected[check]).max() < 0.1


@pytest.mark.parametrize("cutoff", [2000.0, 3000.0, 4500.0])
@pytest.mark.parametrize("order", [2, 3, 4, 5])
@pytest.mark.parametrize("kind", SOFT_KINDS)
def test_soft_kind_is_one_causal_pass_with_minus_3_db_at_the_cutoff(kind, order, cutoff):
    freqs, measured = impulse_response_db(kind, cutoff, order)
    _, h = signal.sosfreqz(direct_design(kind, order, cutoff), worN=freqs, fs=SR)
    expected = 20 * np.log10(np.abs(h) + 1e-30)
    check = expected > -100.0
    assert np.abs(measured[check] - expected[check]).max() < 0.1
    assert abs(np.interp(cutoff, freqs, measured) + 3.01) < 0.1
    # Gentle: at 1.5 x the cutoff under 30 dB down (order 5, bilinear warp included); ellip reaches 60 dB.
    assert np.interp(min(1.5 * cutoff, 6000.0), freqs, measured) > -30.0


def test_soft_shelf_is_the_rbj_high_shelf_one_octave_below():
    cutoff, gain = 3000.0, -6.0
    freqs, measured = impulse_response_db("soft-butterworth", cutoff, 3, shelf_db=gain)
    _, flat = impulse_response_db("soft-butterworth", cutoff, 3)
    shelf = measured - flat
    assert abs(shelf[freqs < 100].mean()) < 0.1  # no change at the bottom
    assert abs(np.interp(cutoff / 2, freqs, shelf) - gain / 2) < 0.2  # half the gain at the corner
    assert abs(np.interp(7000.0, freqs, shelf) - gain) < 0.5
    check = flat > -80.0  # below that, float32 rounding of the output dominates
    np.testing.assert_allclose(shelf[check], high_shelf_db(freqs, cutoff / 2, gain)[check], atol=0.05)


def high_shelf_db(freqs, corner, gain):
    _, h = signal.sosfreqz(high_shelf(SR, corner, gain), worN=freqs, fs=SR)
    return 20 * np.log10(np.abs(h))


@pytest.mark.parametrize("cutoff", [2500.0, 3217.3, 4000.0])
def test_subsample_is_resample_poly_down_and_up(noise, cutoff):
    x = noise[: 2 * SR]
    up, down = subsample_rates(SR, cutoff)
    assert abs(SR * up / down - 2 * cutoff) <= 1.0
    expected = signal.resample_poly(signal.resample_poly(x, up, down), down, up)[: len(x)]
    np.testing.assert_allclose(degrade(x, SR, cutoff, "subsample", 8), expected, atol=1e-6)


@pytest.mark.parametrize("order", [6, 10])
def test_stft_zeroes_everything_above_the_cutoff(noise, order):
    y = degrade(noise, SR, 3000.0, "stft", order).astype(np.float64)
    n = stft_window(SR, order)
    freqs, _, spec = signal.stft(y, SR, window="hann", nperseg=n, noverlap=3 * n // 4)
    power = (np.abs(spec[:, 4:-4]) ** 2).mean(axis=1)
    # The inverse of an edited STFT is not exactly consistent: re-analysis leaks a little.
    assert power[freqs > 3000.0 + 2 * SR / n].max() < 1e-3 * power[freqs < 2500.0].mean()


@pytest.mark.parametrize("kind", PAPER_KINDS)
def test_zero_phase_alignment(kind):
    """Paper kinds keep alignment: cross-correlation of a low-frequency signal peaks at lag 0."""
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
    out = degrade(stereo, SR, 3000.0, kind, 4)
    assert out.shape == stereo.shape and out.dtype == np.float32
    np.testing.assert_array_equal(stereo, before)  # input untouched
    mono = degrade(stereo[1], SR, 3000.0, kind, 4)
    assert mono.shape == (SR,)
    np.testing.assert_allclose(out[1], mono, atol=1e-6)  # channels are independent


@pytest.mark.parametrize("kind", list(FILTERS))
def test_short_and_empty_inputs(kind):
    assert degrade(np.zeros(0), SR, 3000.0, kind, 6).shape == (0,)
    assert degrade(np.ones((2, 10)), SR, 3000.0, kind, 6).shape == (2, 10)


def test_other_sample_rate_uses_the_same_design():
    sr = 44100
    x = np.zeros(1 << 15)
    x[len(x) // 2] = 1.0
    y = degrade(x, sr, 3000.0, "ellip", 6).astype(np.float64)
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    _, h = signal.sosfreqz(direct_design("ellip", 6, 3000.0, sr), worN=freqs, fs=sr)
    expected = 40 * np.log10(np.abs(h) + 1e-30)
    check = expected > -100
    measured = 20 * np.log10(np.abs(np.fft.rfft(y)) + 1e-30)
    assert np.abs(measured[check] - expected[check]).max() < 0.1


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
    specs = [random_spec(rng) for _ in range(600)]
    paper = [s for s in specs if s.kind in PAPER_KINDS]
    soft = [s for s in specs if s.kind in SOFT_KINDS]
    assert 0.4 < len(soft) / len(specs) < 0.6  # the default mix is half and half
    assert all(2500.0 <= s.cutoff_hz <= 4000.0 and s.shelf_db == 0.0 for s in paper)
    assert all(2000.0 <= s.cutoff_hz <= 4500.0 and -6.0 <= s.shelf_db <= 0.0 for s in soft)
    assert {s.order for s in paper} == set(PAPER.orders) and {s.order for s in soft} == set(SOFT.orders)
    assert {s.kind for s in specs} == set(FILTERS)
    assert 0.3 < np.mean([s.shelf_db != 0.0 for s in soft]) < 0.7
    assert all(random_spec(rng, PAPER_ONLY).kind in PAPER_KINDS for _ in range(50))
    only = SimConfig(soft_share=0.0, paper=Family(("stft",), (9,), (3000.0, 3000.0)))
    assert random_spec(rng, only) == DegradeSpec("stft", 3000.0, 9)


def test_kind_weights_set_the_share_of_each_kind_within_its_family():
    cfg = SimConfig(soft_share=0.0, kind_weights=(("cheby2", 3.0), ("bessel", 3.0), ("stft", 0.0)))
    want = cfg.family_weights(PAPER)
    assert want == pytest.approx([1 / 10, 1 / 10, 3 / 10, 1 / 10, 3 / 10, 1 / 10, 0.0])
    rng = np.random.default_rng(1)
    kinds = [random_spec(rng, cfg).kind for _ in range(20000)]
    share = np.array([kinds.count(k) for k in PAPER_KINDS]) / len(kinds)
    np.testing.assert_allclose(share, want, atol=0.015)  # binomial sd <= 0.0033
    assert "stft" not in kinds
    # Weights of the other family's kinds leave this family uniform.
    assert SimConfig(kind_weights=(("soft-bessel", 5.0),)).family_weights(PAPER) == pytest.approx([1 / 7] * 7)


def test_unweighted_draws_keep_their_historic_sequence():
    # The first draws of seed 0 before kind weights existed: old runs resume on the same data.
    rng = np.random.default_rng(0)
    got = [(s.kind, round(s.cutoff_hz, 1), s.order) for s in (random_spec(rng) for _ in range(6))]
    assert got == [("ellip", 2561.5, 7), ("soft-butterworth", 4281.9, 5), ("bessel", 3902.6, 8),
                   ("bessel", 3786.1, 6), ("soft-bessel", 2439.1, 4), ("butterworth", 3134.0, 7)]


@pytest.mark.parametrize(
    ("weights", "needle"),
    [((("sinc", 1.0),), "unknown filter kind"), ((("bessel", -1.0),), ">= 0"),
     ((("bessel", float("nan")),), ">= 0"), ((("soft-bessel", 0.0), ("soft-butterworth", 0.0)), "no kind")],
)
def test_bad_kind_weights_raise_usage_error(weights, needle):
    with pytest.raises(UsageError, match=needle):
        SimConfig(kind_weights=weights)


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
        ({"cutoff": float("inf")}, "--cutoff"),
        ({"cutoff": float("nan")}, "--cutoff"),
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


def test_degrade_cmd_shelf_draws_a_soft_kind_or_refuses_a_paper_one(tmp_path):
    from tdpr_cli.commands.degrade import choose_spec, degrade_cmd

    # --filter random with a shelf used to draw a paper kind about half the time, then refuse it.
    specs = [choose_spec("random", None, None, -3.0, seed) for seed in range(20)]
    assert all(s.kind in SOFT_KINDS and s.shelf_db == -3.0 for s in specs)
    assert len({s.kind for s in specs}) == len(SOFT_KINDS)
    src = tmp_path / "in.wav"
    _write(src)
    for filter in ("paper", "cheby2"):
        with pytest.raises(UsageError, match="soft kinds only"):
            degrade_cmd(src, tmp_path / "out.wav", filter=filter, shelf_db=-3.0)
    assert not (tmp_path / "out.wav").exists()


def test_degrade_cmd_keeps_an_existing_output_without_overwrite(tmp_path):
    from tdpr_cli.commands.degrade import degrade_cmd

    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    _write(src)
    dst.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="--overwrite"):
        degrade_cmd(src, dst, filter="ellip")
    assert dst.read_bytes() == b"keep me"
    degrade_cmd(src, dst, filter="ellip", overwrite=True)
    assert sf.info(dst).frames == SR


def test_degrade_cmd_missing_input(tmp_path):
    from tdpr_cli.commands.degrade import degrade_cmd

    with pytest.raises(InputError):
        degrade_cmd(tmp_path / "nope.wav", tmp_path / "out.wav")


# --- where each kind leaves the input intact (simulate.response) ---------------------------------

from tdpr_cli.simulate.response import intact_edge_hz  # noqa: E402


def _gain_db(sos, f, passes):
    _, h = signal.sosfreqz(sos, worN=np.atleast_1d(np.asarray(f, dtype=float)), fs=16000)
    return passes * 20 * np.log10(np.abs(h))


@pytest.mark.parametrize("kind,sos,passes", [
    ("butterworth", signal.butter(8, 3000, fs=16000, output="sos"), 2),
    ("cheby2", signal.cheby2(8, 60, 3000, fs=16000, output="sos"), 2),
    ("bessel", signal.bessel(8, 3000, fs=16000, output="sos"), 2),
    ("soft-bessel", signal.bessel(3, 3000, fs=16000, output="sos", norm="mag"), 1),
])
def test_intact_edge_is_where_the_direct_design_first_loses_1_db(kind, sos, passes):
    edge = intact_edge_hz(kind, 16000, 3000.0, 8 if passes == 2 else 3)
    below = _gain_db(sos, np.arange(1.0, edge), passes)
    assert below.min() >= -1.0 and _gain_db(sos, edge, passes)[0] < -1.0


def test_intact_edge_of_the_kinds_whose_wn_is_not_their_edge():
    # ssr_eval's cheby2 puts Wn at its stop band and bessel is phase-normalised: their "3 kHz"
    # inputs are intact far below 2.5 kHz; Butterworth and the brick walls much nearer the cutoff.
    assert 1900 < intact_edge_hz("cheby2", 16000, 3000.0, 8) < 2070
    assert 600 < intact_edge_hz("bessel", 16000, 3000.0, 8) < 900
    assert 2600 < intact_edge_hz("butterworth", 16000, 3000.0, 8) < 3000
    assert intact_edge_hz("subsample", 16000, 3000.0, 8) == intact_edge_hz("stft", 16000, 3000.0, 8) == 3000.0
    # a gentle shelf takes away from an octave below the cutoff
    assert intact_edge_hz("soft-butterworth", 16000, 3000.0, 4, -6.0) < intact_edge_hz("soft-butterworth", 16000, 3000.0, 4)


@pytest.mark.parametrize("kind,order,sos,passes", [
    ("cheby2", 6, signal.cheby2(6, 60, 3000, fs=16000, output="sos"), 2),
    ("bessel", 9, signal.bessel(9, 3000, fs=16000, output="sos"), 2),
    ("cheby1", 9, signal.cheby1(9, 0.1, 3000, fs=16000, output="sos"), 2),  # -3 dB above Wn: searched past it
    ("soft-bessel", 2, signal.bessel(2, 3000, fs=16000, output="sos", norm="mag"), 1),
])
def test_minus3_is_where_the_direct_design_first_loses_3_db(kind, order, sos, passes):
    from tdpr_cli.simulate.response import minus3_hz

    edge = minus3_hz(kind, 16000, 3000.0, order)
    assert _gain_db(sos, np.arange(1.0, edge), passes).min() >= -3.0 and _gain_db(sos, edge, passes)[0] < -3.0
    assert minus3_hz("subsample", 16000, 3000.0, 6) == minus3_hz("stft", 16000, 3000.0, 6) == 3000.0


def test_intact_edge_checks_its_spec():
    with pytest.raises(UsageError, match="unknown filter kind"):
        intact_edge_hz("sinc", 16000, 3000.0, 8)
    with pytest.raises(UsageError, match="Nyquist"):
        intact_edge_hz("butterworth", 16000, 9000.0, 8)
