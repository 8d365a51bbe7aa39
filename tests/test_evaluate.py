"""Metrics of ``tdpr_cli.evaluation.metrics`` and ``tdpr eval``, checked against values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from tdpr_cli.errors import UsageError
from tdpr_cli.evaluation.metrics import (
    Spectra,
    istft,
    lsd,
    lsd_2048,
    lsd_high,
    noise_fill,
    phase_error,
    score,
    snr,
    stft,
)

SR = 16000


def reference_lsd(est: np.ndarray, ref: np.ndarray, sr: int = SR) -> float:
    """ssr_eval's LSD written the long way: explicit frames, explicit window."""
    n_fft, hop = int(2048 / (44100 / sr)), sr // 100
    window = np.array([math.sin(math.pi * i / n_fft) ** 2 for i in range(n_fft)])  # periodic Hann
    half = n_fft // 2
    e = np.concatenate([np.zeros(half), est, np.zeros(half)])
    r = np.concatenate([np.zeros(half), ref, np.zeros(half)])
    per_frame = []
    for start in range(0, len(e) - n_fft + 1, hop):
        s_e = np.abs(np.fft.fft(e[start : start + n_fft] * window))[: n_fft // 2 + 1]
        s_r = np.abs(np.fft.fft(r[start : start + n_fft] * window))[: n_fft // 2 + 1]
        terms = [math.log10(b * b / ((a + 1e-12) ** 2) + 1e-12) ** 2 for a, b in zip(s_e, s_r)]
        per_frame.append(math.sqrt(sum(terms) / len(terms)))
    assert len(per_frame) == 1 + (len(est) + 2 * half - n_fft) // hop  # librosa's count
    return sum(per_frame) / len(per_frame)


def lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    return signal.sosfiltfilt(signal.ellip(8, 0.1, 60, cutoff, fs=SR, output="sos"), x)


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """3 s of a harmonic tone plus a little noise, full band."""
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    x = sum(np.sin(2 * np.pi * 220 * k * t + rng.uniform(0, 6)) / k for k in range(1, 36))
    return 0.2 * x + 0.01 * rng.standard_normal(len(t))


def test_lsd_of_identical_signals_is_zero(music):
    assert abs(lsd(music, music)) < 1e-9
    assert abs(lsd_2048(music, music)) < 1e-9
    assert abs(lsd_high(music, music, 3000.0)) < 1e-9


@pytest.mark.parametrize("length", [1600, 4801, 5003])
def test_lsd_matches_the_reference_implementation(length):
    rng = np.random.default_rng(length)
    est, ref = rng.standard_normal(length), rng.standard_normal(length) * np.linspace(0.1, 1, length)
    assert lsd(est, ref) == pytest.approx(reference_lsd(est, ref), abs=1e-6)


def test_lsd_parameters_at_other_rates():
    rng = np.random.default_rng(1)
    est, ref = rng.standard_normal(4410), rng.standard_normal(4410)
    assert lsd(est, ref, sr=44100) == pytest.approx(reference_lsd(est, ref, sr=44100), abs=1e-6)


def test_lsd_epsilons_like_ssr_eval():
    """Only the 1e-12 terms break the symmetry: a silent reference costs exactly 12."""
    x = np.random.default_rng(2).standard_normal(SR)
    assert lsd(x, np.zeros(SR)) == pytest.approx(12.0, abs=1e-9)
    assert lsd(np.zeros(SR), x) > 20.0
    assert lsd(x, 0.1 * x) == pytest.approx(2.0, abs=1e-6)  # |log10(0.01)|


def test_multichannel_is_the_channel_mean(music):
    noisy = music + 0.05 * np.random.default_rng(3).standard_normal(len(music))
    both = lsd(np.stack([music, noisy]), np.stack([music, music]))
    assert both == pytest.approx((lsd(music, music) + lsd(noisy, music)) / 2, rel=1e-12)


def test_length_mismatch():
    x = np.ones(5000)
    assert lsd(x[:4901], x) == pytest.approx(lsd(x[:4901], x[:4901]))  # 99 samples: truncated
    for fn in (lsd, lsd_2048, snr):
        with pytest.raises(UsageError, match="lengths differ"):
            fn(x[:4900], x)
    with pytest.raises(UsageError):
        phase_error(x[:4900], x, (50, 4000))


def test_lsd_high_sees_the_missing_band(music):
    low = lowpass(music, 3000.0)
    assert lsd_high(low, music, 3500.0) > 3.0
    assert lsd_high(low, music, 3500.0) > lsd(low, music)  # the error sits above the cutoff
    assert lsd(music, music) == pytest.approx(0.0, abs=1e-9)


def test_phase_error_identical_and_independent():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(4 * SR), rng.standard_normal(4 * SR)
    same = phase_error(a, a, (50.0, 8000.0))
    assert same["cos"] == pytest.approx(0.0, abs=1e-9) and same["ifd"] == pytest.approx(0.0, abs=1e-9)
    other = phase_error(a, b, (3000.0, 8000.0))
    assert 0.9 <= other["cos"] <= 1.1
    # Not pi/2: at 75 % overlap each signal's phase advance clusters around the
    # bin's nominal advance, so two unrelated advances differ by ~1.1 rad.
    assert 0.9 <= other["ifd"] <= 1.3
    inverted = phase_error(-a, a, (50.0, 8000.0))
    assert inverted["cos"] == pytest.approx(2.0, abs=1e-9)


def test_phase_error_ignores_gain_but_sees_delay(music):
    assert phase_error(0.5 * music, music, (50.0, 4000.0))["cos"] == pytest.approx(0.0, abs=1e-9)
    late = np.concatenate([np.zeros(3), music[:-3]])
    assert phase_error(late, music, (2000.0, 8000.0))["cos"] > 0.1


def test_snr():
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(SR)
    assert snr(ref + 0.1 * rng.standard_normal(SR), ref) == pytest.approx(20.0, abs=0.3)
    assert snr(ref, ref) == math.inf


@pytest.mark.parametrize(("n_fft", "hop"), [(743, 160), (2048, 512), (1024, 256)])
def test_stft_matches_torch_centre_constant(n_fft, hop):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(n_fft).standard_normal(5003)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    expected = torch.stft(torch.from_numpy(x), n_fft, hop, window=window, center=True,
                          pad_mode="constant", return_complex=True).numpy().T
    np.testing.assert_allclose(stft(x, n_fft, hop), expected, atol=1e-10)


def test_stft_round_trip():
    x = np.random.default_rng(6).standard_normal((2, 3001))
    np.testing.assert_allclose(istft(stft(x, 1024, 256), 1024, 256, 3001), x, atol=1e-10)


def test_noise_fill_slope_and_kept_band(music):
    cutoff = 3000.0
    low = lowpass(music, cutoff)
    filled = noise_fill(low, SR, cutoff, seed=0)
    assert filled.shape == low.shape and filled.dtype == np.float32
    np.testing.assert_array_equal(filled, noise_fill(low, SR, cutoff, seed=0))
    assert not np.array_equal(filled, noise_fill(low, SR, cutoff, seed=1))
    # The band below the cutoff is kept.
    kept = lowpass(filled.astype(np.float64), cutoff - 250)
    assert snr(kept, lowpass(low, cutoff - 250)) > 30.0
    # Above it: the mean magnitude below the cutoff, falling 6 dB per kHz.
    freqs = np.fft.rfftfreq(1024, 1 / SR)
    mag = np.abs(stft(filled.astype(np.float64), 1024, 256))[2:-2].mean(axis=0)
    ref_level = np.abs(stft(low, 1024, 256))[2:-2][:, (freqs >= cutoff - 500) & (freqs <= cutoff)].mean()
    for f_khz in (1.0, 2.0, 3.0, 4.0):
        band = (freqs >= cutoff + 1000 * f_khz - 250) & (freqs <= cutoff + 1000 * f_khz + 250)
        measured = 20 * np.log10(mag[band].mean() / ref_level)
        assert measured == pytest.approx(-6.0 * f_khz, abs=2.0), f"{f_khz} kHz above: {measured:.1f} dB"


def test_noise_fill_stereo_shape():
    x = np.random.default_rng(7).standard_normal((2, SR))
    assert noise_fill(x, SR, 3000.0, seed=3).shape == (2, SR)


def test_score_keys(music):
    low = lowpass(music, 3000.0)
    assert set(score(low, music)) == {"lsd", "lsd_2048", "snr", "comb"}
    full = score(low, music, cutoff_hz=3000.0)
    assert set(full) == {
        "lsd", "lsd_2048", "snr", "comb", "lsd_high",
        "phase_cos_high", "phase_ifd_high", "phase_cos_low", "phase_ifd_low",
        *(f"bias_{lo / 1000:g}k" for lo in range(3000, 8000, 500)),
    }
    assert full["phase_cos_low"] < 0.05  # ellip zero-phase: low band phase intact
    with pytest.raises(UsageError):
        score(low, music, cutoff_hz=9000.0)


def test_band_bias_reads_level_errors_in_log10_power(music):
    from tdpr_cli.evaluation.metrics import band_bias, band_log_rms

    assert all(v == pytest.approx(0.0, abs=1e-9) for v in band_bias(music, music, 3000.0).values())
    quiet = band_bias(0.1 * music, music, 3000.0)  # 20 dB too quiet: +2.0 in every band
    assert set(quiet) == {f"bias_{lo / 1000:g}k" for lo in range(3000, 8000, 500)}
    assert all(v == pytest.approx(2.0, abs=1e-3) for v in quiet.values())
    assert band_log_rms(2.0 * music, music, (50.0, 2500.0)) == pytest.approx(np.log10(4.0), abs=1e-3)
    assert band_log_rms(music, music, (50.0, 2500.0)) == pytest.approx(0.0, abs=1e-9)


# ---- tdpr eval ------------------------------------------------------------------


def test_score_with_cached_reference_spectra_is_identical(music):
    rng = np.random.default_rng(3)
    ref = np.stack([music, music[::-1]])
    cached = Spectra(ref)
    for trial in range(3):  # the cache serves every call, and must not leak one estimate into the next
        est = ref + 0.01 * (trial + 1) * rng.standard_normal(ref.shape)
        assert score(est, cached, 3000.0) == score(est, ref, 3000.0)
    assert len(cached._specs) == 3  # 743/160, 2048/512, 1024/256: each computed once


def test_cached_reference_is_cut_to_a_shorter_estimate(music):
    cached = Spectra(music)
    short = music[:-40] * 0.5
    assert score(short, cached, 3000.0) == score(short, music, 3000.0)
    assert cached.trimmed(music.shape[-1]) is cached
    with pytest.raises(UsageError, match="lengths differ"):
        lsd(music[:-200], cached)


def test_eval_cmd_json(tmp_path, capsys, music):
    from tdpr_cli.commands.eval_pair import eval_cmd

    ref, est = tmp_path / "ref.wav", tmp_path / "est.wav"
    sf.write(ref, music, SR, subtype="FLOAT")
    sf.write(est, lowpass(music, 3000.0), SR, subtype="FLOAT")
    eval_cmd(est, ref, cutoff=3000.0, json_out=True)
    out = capsys.readouterr()
    record = json.loads(out.out)
    assert record["cutoff_hz"] == 3000.0
    assert record["metrics"]["lsd"] == pytest.approx(lsd(sf.read(est)[0], music), rel=1e-4)
    assert "phase_cos_high" in record["metrics"]
    assert "LSD" in out.err


def test_eval_cmd_resamples_and_omits_band_metrics(tmp_path, capsys, music):
    from tdpr_cli.commands.eval_pair import eval_cmd

    ref, est = tmp_path / "ref.wav", tmp_path / "est.wav"
    sf.write(ref, music, SR, subtype="FLOAT")
    up = signal.resample_poly(music, 441, 160)
    sf.write(est, np.stack([up, up], axis=1), 44100, subtype="FLOAT")  # stereo at 44.1 kHz
    eval_cmd(est, ref, json_out=True)
    record = json.loads(capsys.readouterr().out)
    assert set(record["metrics"]) == {"lsd", "lsd_2048", "snr", "comb"}
    assert record["metrics"]["snr"] > 30.0


def test_eval_cmd_identical_files_json_is_valid(tmp_path, capsys, music):
    from tdpr_cli.commands.eval_pair import eval_cmd

    ref = tmp_path / "ref.wav"
    sf.write(ref, music, SR, subtype="FLOAT")
    eval_cmd(ref, ref, json_out=True)
    out = capsys.readouterr().out
    assert json.loads(out)["metrics"]["snr"] is None  # inf is not JSON
    assert "Infinity" not in out


def test_eval_cmd_without_json_prints_nothing_to_stdout(tmp_path, capsys, music):
    from tdpr_cli.commands.eval_pair import eval_cmd

    ref = tmp_path / "ref.wav"
    sf.write(ref, music, SR, subtype="FLOAT")
    eval_cmd(ref, ref)
    assert capsys.readouterr().out == ""
