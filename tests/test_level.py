"""The TD-CNN's level head: identity start, what it reads from the input, what its curve does."""

import numpy as np
import pytest
import torch

from tdpr_cli.config import SAMPLE_RATE, ChunkConfig
from tdpr_cli.errors import InputError, UsageError
from tdpr_cli.models.level import FEATURE_EDGES_HZ, GAIN_CENTRES_HZ, HEAD_GAIN, HOP, N_FFT, WINDOW_FRAMES, LevelHead
from tdpr_cli.models.seanet import Seanet, SeanetConfig
from tdpr_cli.train import checkpoint as ck

SMALL = dict(channels=4, strides=(2, 4, 8, 8))


def _noise(rows=2, n=16000, seed=0):
    return torch.from_numpy((0.1 * np.random.default_rng(seed).standard_normal((rows, 1, n))).astype(np.float32))


def _lowpass(x: torch.Tensor, hz: float) -> torch.Tensor:
    """An FFT brick wall at ``hz`` (the test's own filter, not the head's STFT)."""
    spec = torch.fft.rfft(x, dim=-1)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / SAMPLE_RATE)
    return torch.fft.irfft(spec * (freqs < hz), n=x.shape[-1], dim=-1)


def _band_power(x: torch.Tensor, lo: float, hi: float) -> float:
    spec = torch.fft.rfft(x[0, 0].double())
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / SAMPLE_RATE)
    return float(spec[(freqs >= lo) & (freqs < hi)].abs().square().mean())


def test_a_head_added_to_trained_weights_leaves_the_output_as_it_was(tmp_path):
    torch.manual_seed(0)
    plain = Seanet(SeanetConfig(**SMALL))
    torch.nn.init.normal_(plain.conv_out.weight, std=0.05)
    ck.save_weights(plain, tmp_path / "plain.safetensors")
    headed = Seanet(SeanetConfig(**SMALL, level_head=True))
    ck.load_weights(headed, tmp_path / "plain.safetensors", new_parts=("level.",))
    x = _noise()
    with torch.no_grad():
        a, b = plain(x), headed(x)
    assert (a - x).abs().max() > 1e-3  # the test model does something
    torch.testing.assert_close(b, a, rtol=0, atol=1e-6)  # the STFT round trip's rounding only
    with pytest.raises(InputError):  # head layers may be missing only when asked for
        ck.load_weights(Seanet(SeanetConfig(**SMALL, level_head=True)), tmp_path / "plain.safetensors")
    # The analysis tables are rebuilt, not stored: weight files hold the two layers only.
    assert sorted(k for k in headed.state_dict() if k.startswith("level.")) == [
        "level.hidden.bias", "level.hidden.weight", "level.out.bias", "level.out.weight"]


def test_features_read_brightness_and_band_edge():
    head = LevelHead()
    white = _noise(rows=1, n=4 * SAMPLE_RATE)
    with torch.no_grad():
        flat, cut = (head.features(v)[0].mean(-1).numpy() for v in (white, _lowpass(white, 3000.0)))
    np.testing.assert_allclose(flat, 0.0, atol=0.1)  # flat: every band = reference
    upper = [i for i, lo in enumerate(FEATURE_EDGES_HZ[:-1]) if lo >= 3500.0]
    below = [i for i, hi in enumerate(FEATURE_EDGES_HZ[1:]) if hi <= 2500.0]
    assert cut[upper].max() < -3.5  # empty above the edge: at the -4 floor, give or take leakage
    np.testing.assert_allclose(cut[below], 0.0, atol=0.1)
    # A 6 dB/octave darker input reads lower in every band over the reference band's top.
    darker = _lowpass(white, 8000.0)
    spec = torch.fft.rfft(darker, dim=-1)
    freqs = torch.fft.rfftfreq(darker.shape[-1], 1.0 / SAMPLE_RATE).clamp(min=125.0)
    darker = torch.fft.irfft(spec * (1000.0 / freqs), n=darker.shape[-1], dim=-1)
    with torch.no_grad():
        tilt = head.features(darker)[0].mean(-1).numpy()
    assert np.all(np.diff(tilt[4:]) < 0) and tilt[-1] < -1.0


def test_the_gain_curve_is_zero_under_2_khz_and_scales_the_bands_above():
    head = LevelHead()
    with torch.no_grad():
        head.out.bias.fill_(1.0 / HEAD_GAIN)  # +1 log10 (10x power) at every knot after the first
    x = _noise(rows=1, n=4 * SAMPLE_RATE)
    with torch.no_grad():
        curves = head.gains(x)[0].numpy()  # (bins, frames): the same curve in every frame here
    np.testing.assert_allclose(curves, np.repeat(curves[:, :1], curves.shape[1], axis=1), atol=1e-6)
    g = curves[:, 0]
    freqs = np.arange(len(g)) * SAMPLE_RATE / N_FFT
    assert np.all(g[freqs <= GAIN_CENTRES_HZ[0]] == 0.0)
    np.testing.assert_allclose(g[freqs >= GAIN_CENTRES_HZ[1]], 1.0, rtol=1e-5)
    with torch.no_grad():
        y = head(x, x)
    assert _band_power(y, 3000, 7500) / _band_power(x, 3000, 7500) == pytest.approx(10.0, rel=0.05)
    assert _band_power(y, 100, 1900) / _band_power(x, 100, 1900) == pytest.approx(1.0, rel=0.01)


def test_the_head_reads_the_input_not_the_output():
    head = LevelHead()
    torch.manual_seed(1)
    torch.nn.init.normal_(head.out.weight, std=0.05)
    x, y = _noise(rows=1, seed=1), _noise(rows=1, seed=2)
    with torch.no_grad():
        a, b = head(x, y), head(_lowpass(x, 3000.0), y)
    assert (a - b).abs().max() > 1e-3


def test_only_a_full_band_seanet_takes_a_level_head():
    with pytest.raises(UsageError, match="full-band"):
        SeanetConfig(**SMALL, in_channels=2, level_head=True)


def test_train_refuses_a_level_head_on_the_subband_model(tmp_path, capsys):
    from tdpr_cli.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "tdcnn", "--data", str(tmp_path), "--arch", "subband", "--level-head"])
    assert exc.value.code == 2
    assert "--level-head needs --arch seanet" in capsys.readouterr().err


def test_train_builds_a_seanet_with_a_level_head_when_asked():
    from tdpr_cli.commands.train import _tdcnn_model

    assert _tdcnn_model("seanet", False, None, None, "transposed", level_head=True)["level_head"] is True
    assert _tdcnn_model("seanet", False, None, None, "transposed")["level_head"] is False


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_head_stays_finite_under_autocast_with_silence(dtype):
    head = LevelHead()
    torch.manual_seed(2)
    torch.nn.init.normal_(head.out.weight, std=0.05)
    x = _noise(rows=2, n=SAMPLE_RATE)
    x[0] = 0.0  # a silent chunk (file starts and ends)
    x[1, :, : SAMPLE_RATE // 2] = 0.0  # and a half-silent one
    x[1] *= 300.0  # loud enough that fp16 band powers would overflow
    with torch.no_grad():
        plain = head(x, x)
        with torch.autocast(device_type="cpu", dtype=dtype):
            auto = head(x, x)
    assert torch.isfinite(auto).all()
    torch.testing.assert_close(auto, plain, rtol=0, atol=1e-5 * float(x.abs().max()))


def test_the_head_reaches_no_further_than_restores_context():
    """A piece with restore's default context of real samples either side gives what the whole
    signal gives: the output does not depend on where chunks fall."""
    head = LevelHead()
    torch.manual_seed(3)
    torch.nn.init.normal_(head.out.weight, std=0.05)
    n, context = 6 * SAMPLE_RATE, ChunkConfig().context
    x = _noise(rows=1, n=n, seed=4) * torch.linspace(0.05, 2.0, n)  # level changes along the file
    y = _lowpass(x, 3000.0)
    assert (WINDOW_FRAMES // 2) * HOP + N_FFT // 2 <= context
    with torch.no_grad():
        whole = head(x, y)
        for start in (context, 2 * SAMPLE_RATE, n - 2 * SAMPLE_RATE):
            lo, hi = start - context, min(n, start + SAMPLE_RATE + context)
            part = head(x[..., lo:hi], y[..., lo:hi])[..., context : context + SAMPLE_RATE]
            torch.testing.assert_close(part, whole[..., start : start + SAMPLE_RATE], rtol=0, atol=1e-5)
    assert (whole - y).abs().max() > 1e-3  # the head does act
