"""Value tests of the training losses against hand (numpy) computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tdpr_cli.errors import UsageError
from tdpr_cli.train import losses as L
from tdpr_cli.train.vocoder_loss import VocoderLoss


def _pair(batch: int = 2, length: int = 4096, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(batch, 1, length, generator=g) * 0.3
    x = y + 0.1 * torch.randn(batch, 1, length, generator=g)
    return x, y


def _np_mag(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred, zero-padded periodic-Hann magnitude, (B, F, N), as StftLoss defines it."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)))
    count = 1 + x.shape[-1] // hop
    frames = np.stack([padded[:, i * hop : i * hop + n_fft] for i in range(count)], axis=-1)
    spec = np.fft.rfft(frames * window[None, :, None], axis=1)
    return np.sqrt(np.maximum(np.abs(spec) ** 2, L.POWER_FLOOR))


def _np_stft_loss(x: np.ndarray, y: np.ndarray, n_fft: int, hop: int) -> tuple[float, float]:
    mx, my = _np_mag(x, n_fft, hop), _np_mag(y, n_fft, hop)
    sc = np.mean([np.linalg.norm(my[b] - mx[b]) / np.linalg.norm(my[b]) for b in range(len(x))])
    return float(sc), float(np.mean(np.abs(np.log(my) - np.log(mx))))


def _np_decimate(x: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return x
    taps = L.lowpass_taps(factor).numpy().astype(np.float64)
    full = np.stack([np.convolve(row, taps[::-1], mode="full") for row in x])
    half = len(taps) // 2
    same = full[:, half : half + x.shape[-1]]
    return same[:, ::factor]


def all_losses() -> list[torch.nn.Module]:
    return [
        L.StftLoss(512, 128, 512),
        L.MultiResolutionStftLoss(),
        L.WaveL1(),
        L.MultiResolutionWaveLoss(),
        L.TdcnnLoss(),
        L.TdcnnLoss(**L.LOSS_RECIPES["lsd"]),
        L.LogPowerMse(),
        L.MultiResolutionLogL1(),
        L.MelL1(),
        VocoderLoss(),
    ]


@pytest.mark.parametrize("loss", all_losses(), ids=lambda m: type(m).__name__)
def test_loss_of_identical_signals_is_zero(loss):
    _, y = _pair()
    assert float(loss(y, y.clone())) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("loss", all_losses(), ids=lambda m: type(m).__name__)
def test_gradient_flows_to_the_estimate(loss):
    x, y = _pair()
    x = x.clone().requires_grad_(True)
    value = loss(x, y)
    value.backward()
    assert value.item() > 0
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("n_fft,hop", [(512, 256), (1024, 512), (256, 64)])
def test_stft_terms_match_numpy(n_fft, hop):
    x, y = _pair(length=3000)
    terms = L.StftLoss(n_fft, hop, n_fft).terms(x, y)
    sc, mag = _np_stft_loss(x[:, 0].double().numpy(), y[:, 0].double().numpy(), n_fft, hop)
    assert terms["sc"].item() == pytest.approx(sc, rel=1e-4)
    assert terms["mag"].item() == pytest.approx(mag, rel=1e-4)


def test_multi_resolution_stft_is_the_mean_of_the_paper_resolutions():
    x, y = _pair(length=5000)
    xn, yn = x[:, 0].double().numpy(), y[:, 0].double().numpy()
    expected = np.mean([sum(_np_stft_loss(xn, yn, n, h)) for n, h, _ in L.PAPER_RESOLUTIONS])
    assert L.MultiResolutionStftLoss()(x, y).item() == pytest.approx(expected, rel=1e-4)


def test_wave_l1_is_mean_absolute_difference():
    x = torch.tensor([[[0.0, 1.0, -2.0, 0.5]]])
    y = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    assert L.WaveL1()(x, y).item() == pytest.approx((1 + 0 + 2 + 0.5) / 4)


def test_multi_resolution_wave_matches_numpy_decimation():
    x, y = _pair(length=1001)
    xn, yn = x[:, 0].double().numpy(), y[:, 0].double().numpy()
    expected = np.mean([np.mean(np.abs(_np_decimate(xn, f) - _np_decimate(yn, f))) for f in L.PAPER_FACTORS])
    assert L.MultiResolutionWaveLoss()(x, y).item() == pytest.approx(expected, rel=1e-4)


def test_decimation_is_anti_aliased():
    """A tone above the decimated Nyquist is removed, one well below it passes."""
    t = torch.arange(16000) / 16000.0
    for factor in (2, 4):
        nyquist = 8000.0 / factor
        low = torch.sin(2 * torch.pi * 0.5 * nyquist * t)[None]
        high = torch.sin(2 * torch.pi * 1.5 * nyquist * t)[None]
        dec = L.Decimate(factor)
        core = slice(200, -200)  # away from the zero-padded ends
        assert dec(high)[:, core].abs().max() < 0.01
        assert dec(low)[:, core].abs().max() == pytest.approx(1.0, abs=0.02)
        assert dec(low).shape[-1] == -(-16000 // factor)


def test_tdcnn_loss_weights_its_terms():
    x, y = _pair()
    terms = L.TdcnnLoss(stft_weight=2.0, wave_weight=1000.0).terms(x, y)
    mrstft, mrwave = L.MultiResolutionStftLoss()(x, y), L.MultiResolutionWaveLoss()(x, y)
    assert terms["mrstft"].item() == pytest.approx(mrstft.item(), rel=1e-6)
    assert terms["mrwave"].item() == pytest.approx(mrwave.item(), rel=1e-6)
    assert terms["loss"].item() == pytest.approx(2.0 * mrstft.item() + 1000.0 * mrwave.item(), rel=1e-6)


def test_log_power_mse_matches_numpy_on_the_evaluators_stft():
    """The LSD-matched term: ssr_eval's 743/160 STFT at 16 kHz, log10 power floored at 1e-8."""
    x, y = _pair(length=8001)  # a whole number of hops for the odd window: the helper's frame count
    px = np.maximum(_np_mag(x[:, 0].double().numpy(), 743, 160) ** 2, 1e-8)
    py = np.maximum(_np_mag(y[:, 0].double().numpy(), 743, 160) ** 2, 1e-8)
    expected = np.mean((np.log10(px) - np.log10(py)) ** 2)
    assert L.LogPowerMse()(x, y).item() == pytest.approx(expected, rel=1e-4)
    # 6 dB too quiet everywhere is 0.602 in log10 power: the term is its square.
    assert L.LogPowerMse()(0.5 * y, y).item() == pytest.approx(np.log10(4.0) ** 2, rel=1e-3)


def test_mr_log_l1_is_the_log_term_of_the_stft_losses():
    x, y = _pair()
    expected = np.mean([_np_stft_loss(x[:, 0].double().numpy(), y[:, 0].double().numpy(), n, h)[1]
                        for n, h, _ in L.PAPER_RESOLUTIONS])
    assert L.MultiResolutionLogL1()(x, y).item() == pytest.approx(expected, rel=1e-4)


def test_lsd_recipe_weights_its_terms_and_skips_unused_ones():
    x, y = _pair()
    w = L.LOSS_RECIPES["lsd"]
    terms = L.TdcnnLoss(**w).terms(x, y)
    assert set(terms) == {"mrwave", "lsd", "mrlog", "loss"}  # weight 0: not computed
    expected = (w["wave_weight"] * L.MultiResolutionWaveLoss()(x, y) + L.LogPowerMse()(x, y)
                + L.MultiResolutionLogL1()(x, y))
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(UsageError):
        L.TdcnnLoss(stft_weight=0, wave_weight=0)
    with pytest.raises(UsageError):
        L.TdcnnLoss(lsd_weight=-1)


def test_mel_l1_matches_numpy():
    from tdpr_cli.config import StftConfig
    from tdpr_cli.dsp.spectral import mel_filterbank

    x, y = _pair(length=4000)
    fb = mel_filterbank(StftConfig()).double().numpy()

    def logmel(a: np.ndarray) -> np.ndarray:
        mag = np.abs(np.fft.rfft(_frames(a, 1024, 256), axis=1))
        return np.log(np.maximum(np.einsum("mf,bfn->bmn", fb, mag), 1e-5))

    expected = np.mean(np.abs(logmel(x[:, 0].double().numpy()) - logmel(y[:, 0].double().numpy())))
    assert L.MelL1()(x, y).item() == pytest.approx(expected, rel=1e-4)


def _frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)))
    count = 1 + x.shape[-1] // hop
    return np.stack([padded[:, i * hop : i * hop + n_fft] for i in range(count)], axis=-1) * window[None, :, None]


def test_losses_are_scale_sensitive_but_batch_size_agnostic():
    """Per-example spectral convergence: duplicating the batch leaves the value unchanged."""
    x, y = _pair(batch=1)
    loss = L.MultiResolutionStftLoss()
    single = loss(x, y).item()
    assert loss(torch.cat([x, x]), torch.cat([y, y])).item() == pytest.approx(single, rel=1e-6)
    assert loss(0.5 * x, y).item() > single


def test_windows_are_buffers_that_follow_the_module():
    loss = L.TdcnnLoss()
    names = {n for n, _ in loss.named_buffers()}
    assert any(n.endswith("window") for n in names) and any(n.endswith("taps") for n in names)
    assert not list(loss.parameters())
    loss = loss.double()
    assert all(b.dtype == torch.float64 for b in loss.buffers())


@pytest.mark.parametrize("make", [lambda: L.StftLoss(512, 1024, 512), lambda: L.Decimate(0),
                                  lambda: L.MultiResolutionStftLoss(()), lambda: L.MultiResolutionWaveLoss(())])
def test_bad_configurations_raise_usage_errors(make):
    with pytest.raises(UsageError):
        make()


def _partials(seconds=1.0, seed=0):
    """(1, T) decaying inharmonic partials at 16 kHz, up to 7 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    x = sum(np.exp(-3 * t) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) / (1 + f / 1000)
            for f in rng.uniform(100, 7000, 40))
    return torch.tensor(x, dtype=torch.float32)[None]


def _centre_clicks(spec):
    """``spec`` (B, F, N) with every frame's phase that of a click at the frame centre (bin k:
    phase pi * k, the sign alternating), magnitudes kept: a phase locked to the frame."""
    sign = 1.0 - 2.0 * (torch.arange(spec.shape[-2]) % 2).to(spec.real.dtype)
    real = spec.abs() * sign[:, None]
    return torch.complex(real, torch.zeros_like(real))


def test_phase_derivative_terms_vanish_for_equal_phase_and_are_gain_invariant():
    from tdpr_cli.train.vocoder_loss import PhaseDerivativeLoss

    x, loss = _partials(), PhaseDerivativeLoss()
    for est in (x, 0.3 * x):
        t = loss.terms(est, x)
        assert float(t["if"]) < 1e-4 and float(t["gd"]) < 1e-4


def test_a_phase_reset_every_frame_reads_high_and_a_noise_floor_carries_no_weight(monkeypatch):
    """The comb's failure mode (every frame's phase reset to a click at its centre, magnitudes
    kept) reads far above a one-sample delay; noise where the target is silent reads 0."""
    from tdpr_cli.dsp.spectral import Stft
    from tdpr_cli.train import vocoder_loss
    from tdpr_cli.train.vocoder_loss import PhaseDerivativeLoss

    x, loss, stft = _partials(), PhaseDerivativeLoss(), Stft()
    spec = stft(x)
    clicks = stft.inverse(_centre_clicks(spec), x.shape[-1])
    reset, delayed = loss.terms(clicks, x), loss.terms(torch.roll(x, 1, -1), x)
    assert float(reset["if"]) > 0.3 and float(reset["gd"]) > 0.3
    assert float(delayed["if"]) < 0.02 and float(delayed["gd"]) < 0.02
    # The target falls to a noise floor 80 dB down; the estimate has other noise there.
    quiet, noisy = x.clone(), x.clone()
    quiet[:, 8000:] = 1e-4 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    noisy[:, 8000:] = 1e-4 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(1))
    t = loss.terms(noisy, quiet)
    assert float(t["if"]) < 1e-4 and float(t["gd"]) < 1e-4
    monkeypatch.setattr(vocoder_loss, "FLOOR_DB", 200.0)  # without the floor the noise would count
    t = loss.terms(noisy, quiet)
    assert float(t["if"]) > 0.01 and float(t["gd"]) > 0.01


def test_phase_weight_adds_the_phase_terms_and_gradients_stay_bounded_near_zero():
    x = _partials(0.5)
    plain, phased = VocoderLoss(), VocoderLoss(phase_weight=2.0)
    est = (1e-7 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    t, p = plain.terms(est, x), phased.terms(est, x)
    assert "if" not in t and {"if", "gd"} <= set(p)
    torch.testing.assert_close(p["loss"], t["loss"] + 2.0 * (p["if"] + p["gd"]))
    from tdpr_cli.train.vocoder_loss import PhaseDerivativeLoss

    loss = PhaseDerivativeLoss()(est, x)
    (grad,) = torch.autograd.grad(loss, est)
    # A silent estimate's phasor turns fast, but the relative guard keeps the step finite and far
    # under the training's clip norm of 1000 per unit loss weight.
    assert bool(torch.isfinite(grad).all()) and 0 < float(grad.norm()) < 1e6
    with pytest.raises(UsageError, match="weights must be >= 0"):
        VocoderLoss(phase_weight=-1.0)


def test_the_frame_lock_comb_is_the_evaluators_comb_in_torch():
    from tdpr_cli.evaluation.comb import comb_db
    from tdpr_cli.train.vocoder_loss import FrameLockLoss

    rng = np.random.default_rng(0)
    clicks = np.zeros(16000)
    clicks[100::256] = 1.0
    signals = [rng.standard_normal(16000), clicks + 0.03 * rng.standard_normal(16000), _partials()[0].numpy()]
    got = FrameLockLoss().comb_db(torch.tensor(np.stack(signals), dtype=torch.float64))
    want = [comb_db(s) for s in signals]
    assert want[1] > 10.0 and abs(want[0]) < 1.0
    np.testing.assert_allclose(got.numpy(), want, atol=0.01)


def test_frame_lock_reads_a_frame_locked_phase_and_not_a_matching_one():
    """The phase-only resynthesis of a spectrum whose every frame is a click at the frame centre
    (magnitudes kept) combs strongly; the target against itself reads 0, and the term is
    differentiable through the estimate."""
    from tdpr_cli.dsp.spectral import Stft
    from tdpr_cli.train.vocoder_loss import FrameLockLoss

    x, lock, stft = _partials(), FrameLockLoss(), Stft()
    spec = stft(x)
    clicks = stft.inverse(_centre_clicks(spec), x.shape[-1])
    assert lock.terms(x, x) == {"lock": 0.0, "lock_own": 0.0}
    notched = lock.terms(x - 0.01 * clicks, x)  # a comb or its notches: both count, both ways
    assert float(notched["lock"]) > 1.0 and float(notched["lock_own"]) > 0.1
    assert float(lock.comb_db(lock.phase_only(x))[0]) < 1.5 < 10.0 < float(lock.comb_db(lock.phase_only(clicks))[0])
    est = (x + 0.01 * clicks).requires_grad_(True)
    (grad,) = torch.autograd.grad(VocoderLoss(lock_weight=1.0).terms(est, x)["lock"], est)
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().max()) > 0
