import numpy as np
import pytest
import torch

from tdpr_cli.config import PhaseMode, RestoreConfig, StftConfig
from tdpr_cli.dsp.phase import band_mask, repair, replace_phase
from tdpr_cli.dsp.spectral import Stft, mel_filterbank


def _sig(seed, n=16000):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((1, n)).astype(np.float32))


def test_same_source_reconstructs():
    x = _sig(0)
    torch.testing.assert_close(replace_phase(x, x), x, atol=1e-5, rtol=0)


def test_magnitude_from_first_phase_from_second():
    # Stationary tones: the answer is exact, with a's amplitudes and b's phases.
    t = torch.arange(16000) / 16000
    a = (torch.sin(2 * torch.pi * 437.5 * t) + 0.3 * torch.sin(2 * torch.pi * 1250 * t))[None]
    b = (0.2 * torch.sin(2 * torch.pi * 437.5 * t + 1) + 0.9 * torch.sin(2 * torch.pi * 1250 * t + 2))[None]
    want = (torch.sin(2 * torch.pi * 437.5 * t + 1) + 0.3 * torch.sin(2 * torch.pi * 1250 * t + 2))[None]
    y = replace_phase(a, b)
    torch.testing.assert_close(y[:, 2048:-2048], want[:, 2048:-2048], atol=2e-3, rtol=0)


def test_band_mode_keeps_low_band_phase():
    a, b = _sig(3), _sig(4)
    stft = Stft()
    y = replace_phase(a, b, cutoff_hz=3000, crossfade_hz=250)
    sy, sa, sb = stft(y), stft(a), stft(b)
    freqs = torch.linspace(0, 8000, 513)
    low, high = freqs < 2500, freqs > 3500
    d_low = torch.cos(torch.angle(sy) - torch.angle(sa))[0][low][:, 4:-4].mean()
    d_high = torch.cos(torch.angle(sy) - torch.angle(sb))[0][high][:, 4:-4].mean()
    assert d_low > 0.9 and d_high > 0.5


def test_band_mask_shape_and_limits():
    m = band_mask(StftConfig(), 3000.0, 250.0)
    f = torch.linspace(0, 8000, 513)
    assert m.shape == (513,)
    assert m[f < 2875].max() == 0 and m[f > 3125].min() == 1
    assert torch.all(torch.diff(m) >= 0)
    assert band_mask(StftConfig(), None, 250.0).min() == 1


def test_band_mask_spans_the_slope_region_up_to_top_hz():
    """With the detected end of a roll-off above the crossfade, the mask is one raised cosine
    from cutoff - crossfade/2 to top_hz; a top inside the crossfade changes nothing."""
    f = torch.linspace(0, 8000, 513).double()
    m = band_mask(StftConfig(), 3000.0, 250.0, top_hz=4875.0).double()
    want = 0.5 - 0.5 * torch.cos(torch.pi * torch.clamp((f - 2875.0) / (4875.0 - 2875.0), 0, 1))
    torch.testing.assert_close(m, want, atol=1e-6, rtol=0)
    assert m[f <= 2875].max() == 0 and m[f >= 4875].min() == 1 and abs(float(m[f == 3875][0]) - 0.5) < 1e-6
    for top in (None, 0.0, 2000.0, 3125.0):
        assert torch.equal(band_mask(StftConfig(), 3000.0, 250.0, top), band_mask(StftConfig(), 3000.0, 250.0))
    step = band_mask(StftConfig(), 3000.0, 0.0, top_hz=4000.0)  # no crossfade: the slope alone
    assert step[f <= 3000].max() == 0 and step[f >= 4000].min() == 1 and 0 < step[f == 3500][0] < 1


def test_top_hz_moves_only_the_band_mode_phase():
    a, b = _sig(9), _sig(10)
    band, paper = RestoreConfig(), RestoreConfig(phase=PhaseMode.PAPER)
    assert not torch.equal(repair(a, b, 3000.0, band, top_hz=5000.0), repair(a, b, 3000.0, band))
    torch.testing.assert_close(repair(a, b, 3000.0, paper, top_hz=5000.0), repair(a, b, 3000.0, paper), atol=0, rtol=0)
    # Above top_hz both are the same vocoder phase and magnitude.
    stft = Stft()
    f = torch.linspace(0, 8000, 513)
    hi = stft(repair(a, b, 3000.0, band, top_hz=5000.0))[0][f > 5100][:, 4:-4]
    torch.testing.assert_close(hi, stft(repair(a, b, 3000.0, band))[0][f > 5100][:, 4:-4], atol=2e-3, rtol=0)


def test_none_mode_returns_tdcnn_output():
    a = _sig(5)
    assert repair(a, _sig(6), 3000.0, RestoreConfig(phase=PhaseMode.NONE)) is a


def test_consistency_keeps_low_band_and_brings_the_magnitude_closer():
    # Griffin-Lim steps re-impose the kept phase below the crossfade and move the re-analysed
    # output's magnitude towards the TD-CNN's (an STFT with a foreign phase is inconsistent):
    # the relative magnitude error falls 0.33 -> 0.28 -> 0.23 -> 0.17 for 0, 1, 4, 16 steps.
    a, b = _sig(7), _sig(8)
    stft = Stft()
    spec_a = stft(a)[0][:, 4:-4]
    f = torch.linspace(0, 8000, 513)
    errors = []
    for steps in (0, 1, 4, 16):
        y = replace_phase(a, b, cutoff_hz=3000, consistency=steps)
        assert torch.isfinite(y).all() and y.shape == a.shape
        spec_y = stft(y)[0][:, 4:-4]
        low = f < 2800
        phase_err = 1 - torch.cos(torch.angle(spec_y[low]) - torch.angle(spec_a[low]))
        assert float(phase_err.mean()) < 1e-3
        errors.append(float((spec_y.abs() - spec_a.abs()).norm() / spec_a.abs().norm()))
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.8 * errors[0], errors


def test_mel_filterbank_covers_band():
    fb = mel_filterbank(StftConfig())
    assert fb.shape == (80, 513)
    assert (fb.sum(0)[2:-2] > 0).all()


def _tone(freq, n=16000, amp=0.3):
    return amp * torch.sin(2 * torch.pi * freq * torch.arange(n) / 16000.0)[None]


def _level(x, freq):
    spec = torch.fft.rfft(x[0, 2000:-2000] * torch.hann_window(12000))
    return float(spec.abs()[round(freq * 12000 / 16000)])


def test_keep_input_band_restores_the_intact_band_and_leaves_the_rest():
    from tdpr_cli.dsp.phase import keep_input_band

    x = _tone(1000.0)
    out = 0.5 * x + _tone(6000.0)  # a model that halved the intact band and added content above
    kept = keep_input_band(x, out, 3000.0, RestoreConfig())
    assert abs(_level(kept, 1000.0) / _level(x, 1000.0) - 1) < 1e-3
    assert abs(_level(kept, 6000.0) / _level(out, 6000.0) - 1) < 1e-3
    for cfg in (RestoreConfig(phase=PhaseMode.PAPER), RestoreConfig(keep_margin_hz=None)):
        assert keep_input_band(x, out, 3000.0, cfg) is out
    # Nothing intact under a very low cutoff: unchanged.
    assert keep_input_band(x, out, 600.0, RestoreConfig()) is out


def test_keep_margin_is_validated():
    with pytest.raises(Exception, match="margin"):
        RestoreConfig(keep_margin_hz=-1.0)


def test_phase_only_keeps_the_high_band_phase_whatever_the_level():
    """``phase_only``: nothing below ``lo_hz``; the same output for any input gain; white noise
    reads no comb, a click at every frame centre a strong one."""
    import numpy as np

    from tdpr_cli.dsp.phase import phase_only
    from tdpr_cli.dsp.spectral import Stft
    from tdpr_cli.evaluation.comb import comb_db

    stft = Stft()
    noise = torch.randn(1, 16000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = phase_only(noise, stft)
    torch.testing.assert_close(phase_only(3.0 * noise, stft), out)
    power = np.abs(np.fft.rfft(out[0].numpy())) ** 2  # 1 Hz bins
    assert power[:3800].sum() < 1e-4 * power.sum()  # nothing under 3.8 kHz but edge leakage
    clicks = torch.zeros(1, 16000, dtype=torch.float64)
    clicks[0, 128::256] = 1.0
    assert abs(comb_db(out[0].numpy())) < 1.0 and comb_db(phase_only(clicks + 0.01 * noise, stft)[0].numpy()) > 10.0
