import numpy as np
import pytest
import torch

from tdpr_cli.config import ChunkConfig, PhaseMode, RestoreConfig
from tdpr_cli.dsp.bandwidth import Bandwidth
from tdpr_cli.errors import UsageError
from tdpr_cli.models.seanet import Seanet, SeanetConfig
from tdpr_cli.models.vocoder import Vocoder, VocoderConfig
from tdpr_cli.restore.decision import decide
from tdpr_cli.restore.pipeline import Restorer


class Identity(torch.nn.Module):
    total_stride = 1

    def forward(self, x):
        return x


def _models(seed=0):
    torch.manual_seed(seed)
    t = Seanet(SeanetConfig(channels=4))
    torch.nn.init.normal_(t.conv_out.weight, std=0.05)
    v = Vocoder(VocoderConfig(dim=32, intermediate=64, layers=2))
    return t, v


def _x(seconds=6.0, channels=2):  # white noise: every band has content
    rng = np.random.default_rng(1)
    return (0.1 * rng.standard_normal((channels, int(16000 * seconds)))).astype(np.float32)


def test_identity_model_reproduces_input():
    x = _x(7.3)
    r = Restorer(Identity(), None, RestoreConfig(phase=PhaseMode.NONE, chunk=ChunkConfig(hop=16384, fade=2048)))
    np.testing.assert_allclose(r.restore(x, 3000.0), x, atol=1e-6)


@pytest.mark.parametrize("mode", list(PhaseMode))
def test_chunked_equals_one_shot_away_from_edges(mode):
    t, v = _models()
    x = _x()
    cfg = RestoreConfig(phase=mode, chunk=ChunkConfig(hop=16384, fade=2048, context=16384))
    r = Restorer(t, v, cfg)
    chunked, whole = r.restore(x, 3000.0), r.one_shot(x, 3000.0)
    edge = 8192
    assert chunked.shape == x.shape
    np.testing.assert_allclose(chunked[:, edge:-edge], whole[:, edge:-edge], atol=1e-4)


def test_batching_does_not_change_output():
    t, v = _models()
    x = _x(5.0, 1)
    base = dict(chunk=ChunkConfig(hop=8192, fade=1024, context=8192))
    a = Restorer(t, v, RestoreConfig(batch_size=1, **base)).restore(x, 3000.0)
    b = Restorer(t, v, RestoreConfig(batch_size=3, **base)).restore(x, 3000.0)
    np.testing.assert_allclose(a, b, atol=1e-4)  # batch size changes float summation order only


def test_deterministic():
    t, v = _models()
    x = _x(3.0, 1)
    r = Restorer(t, v, RestoreConfig())
    assert np.array_equal(r.restore(x, 3000.0), r.restore(x, 3000.0))


def _bw(cutoff, wideband, silent, top=None, conf=0.95):
    return Bandwidth(cutoff, wideband, silent, top_hz=cutoff + 1500 if top is None else top, confidence=conf)


def test_decide_rules():
    cfg = RestoreConfig()
    assert not decide(_bw(8000, True, False), cfg).process
    refused = decide(_bw(8000, True, False), RestoreConfig(force=True))  # refused, with what was found
    assert not refused.process and "--cutoff HZ" in refused.refusal and refused.detected_hz == 8000
    assert decide(_bw(8000, True, False), cfg).refusal is None
    assert decide(_bw(3000, False, False), RestoreConfig(force=True)).process
    assert not decide(_bw(8000, True, True), cfg).process
    low = decide(_bw(2000, False, False), cfg)
    assert low.process and "outside" in low.warning
    sure = decide(_bw(3000, False, False, top=4750), cfg)
    assert sure.warning is None and sure.detection.top_hz == 4750
    assert "from 3000 Hz into the noise floor by 4750 Hz (confidence 0.95)" in sure.reason
    assert "unsure" not in sure.reason
    assert "unsure: check with --report, or set --cutoff HZ" in decide(_bw(3000, False, False, conf=0.5), cfg).reason
    wide = decide(_bw(8000, True, False, top=7750, conf=0.3), cfg)
    assert "music reaches 7750 Hz above the noise floor (confidence 0.30); unsure" in wide.reason


def test_decide_with_a_user_cutoff():
    set_ = RestoreConfig(cutoff_hz=3200.0)
    wide = decide(_bw(8000, True, False), set_)  # detection said wideband: the user knows better
    assert wide.process and wide.cutoff_hz == 3200.0 and wide.detected_hz == 8000
    assert "--cutoff" in wide.reason and "detected 8000" in wide.reason and wide.warning is None
    assert not decide(_bw(8000, True, True), set_).process  # silence stays silence
    assert "outside" in decide(_bw(3000, False, False), RestoreConfig(cutoff_hz=6000.0)).warning
    for bad in (0.0, -5.0, 8000.0, 9000.0):
        with pytest.raises(UsageError, match="--cutoff"):
            RestoreConfig(cutoff_hz=bad)


def test_the_slope_top_reaches_the_crossfade_only_for_a_detected_cutoff():
    cfg = RestoreConfig()
    assert decide(_bw(3000, False, False, top=4750), cfg).slope_top_hz == 4750
    assert decide(_bw(3000, False, False, top=4750), RestoreConfig(cutoff_hz=3200.0)).slope_top_hz is None
    assert decide(_bw(8000, True, False), RestoreConfig(cutoff_hz=3200.0)).slope_top_hz is None
    assert decide(_bw(8000, True, False), cfg).slope_top_hz is None  # passed through


def test_streamed_restore_uses_the_slope_top_like_one_shot():
    t, v = _models()
    x = _x()
    r = Restorer(t, v, RestoreConfig(chunk=ChunkConfig(hop=16384, fade=2048, context=16384)))
    sloped, edge = r.restore(x, 3000.0, top_hz=5000.0), 8192
    assert np.abs(sloped - r.restore(x, 3000.0)).max() > 1e-3
    np.testing.assert_allclose(sloped[:, edge:-edge], r.one_shot(x, 3000.0, top_hz=5000.0)[:, edge:-edge], atol=1e-4)


def test_mode_needs_vocoder_and_alignment():
    t, _ = _models()
    with pytest.raises(UsageError):
        Restorer(t, None, RestoreConfig(phase=PhaseMode.BAND))
    with pytest.raises(UsageError):
        Restorer(t, None, RestoreConfig(phase=PhaseMode.NONE, chunk=ChunkConfig(hop=2560, fade=0, context=0, align=256)))


def test_chunk_grid_follows_the_model_and_the_stft():
    from tdpr_cli.config import StftConfig
    from tdpr_cli.models.subband import SubbandConfig, SubbandTdcnn
    from tdpr_cli.restore.stream import chunk_grid

    assert chunk_grid(Seanet(SeanetConfig(channels=4)), StftConfig()) == 512  # strides 2*4*8*8
    subband = SubbandTdcnn(SubbandConfig(unet={"channels": 4, "strides": (2, 4, 4)}))
    assert chunk_grid(subband, StftConfig()) == 256  # lcm(hop 256, 4 bands * 32)
    assert chunk_grid(Identity(), StftConfig(hop=160, n_fft=640)) == 160


def test_restorer_leaves_the_callers_models_alone():
    t, v = _models()
    t.train()
    v.eval()
    r = Restorer(t, v, RestoreConfig(), "cpu")
    assert t.training and r.tdcnn is not t and not r.tdcnn.training
    assert r.vocoder is v  # already in eval mode on the CPU: used as it is


def test_restorer_refuses_a_vocoder_with_another_stft():
    t, _ = _models()
    v = Vocoder(VocoderConfig(dim=32, intermediate=64, layers=2, hop=128))
    with pytest.raises(UsageError, match="hop=128"):
        Restorer(t, v, RestoreConfig(), "cpu")


class Half(torch.nn.Module):
    total_stride = 1

    def forward(self, x):
        return 0.5 * x


def test_pipeline_keeps_the_input_band_in_none_and_band_modes():
    x = _x(3.0, 1)
    plain = Restorer(Half(), None, RestoreConfig(phase=PhaseMode.NONE, keep_margin_hz=None)).restore(x, 3000.0)
    np.testing.assert_allclose(plain, 0.5 * x, atol=1e-6)
    kept = Restorer(Half(), None, RestoreConfig(phase=PhaseMode.NONE)).restore(x, 3000.0)
    def low_energy(s):  # below 2 kHz: the intact band's core (cutoff 3000 - margin 500 - crossfade/2)
        return float(np.sum(np.abs(np.fft.rfft(s[0, 8000:40000]))[:4000] ** 2))

    assert abs(low_energy(kept) / low_energy(x) - 1) < 0.01  # the input itself, not half of it
    assert abs(low_energy(plain) / low_energy(x) - 0.25) < 0.01


def test_auto_threads_takes_the_idle_cores():
    from tdpr_cli.device import auto_threads

    assert auto_threads(cores=2, load=0.1) == 2
    assert auto_threads(cores=2, load=1.2) == 1  # the other core is busy
    assert auto_threads(cores=2, load=6.0) == 1  # never zero
    assert auto_threads(cores=16, load=3.4) == 13
    assert 1 <= auto_threads() <= (__import__("os").cpu_count() or 1)


@pytest.mark.parametrize(("value", "threads"), [("3", 3), ("2,1", 2), (" 1 ", 1), ("0", None), ("many", None), ("", None)])
def test_user_threads_reads_omp_num_threads(monkeypatch, value, threads):
    from tdpr_cli.device import user_threads

    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert user_threads() == threads
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert user_threads() is None


def _bundled(kind):
    from tdpr_cli.weights import resolve as W

    lock = W.load_lock()
    return [m.name for m in lock.models.values() if m.kind == kind]


@pytest.mark.parametrize("vocoder", _bundled("vocoder"))
@pytest.mark.parametrize("tdcnn", _bundled("tdcnn"))
def test_context_covers_what_the_bundled_models_reach(tdcnn, vocoder):
    """The default context gives what twice as much gives, at chunk joins and file ends (issue 14)."""
    from tdpr_cli.restore.load import ModelChoice, load_models

    models = load_models(ModelChoice(model=tdcnn, vocoder=vocoder, offline=True), PhaseMode.BAND)
    x = _x(6.0, 1)
    default = ChunkConfig.from_seconds(2.0)
    out = []
    for chunk in (default, ChunkConfig.from_seconds(2.0, context_s=2 * default.context / 16000)):
        out.append(Restorer(models.tdcnn, models.vocoder, RestoreConfig(chunk=chunk)).restore(x, 3000.0))
    assert default.context == ChunkConfig().context == 8192
    assert np.max(np.abs(out[0] - out[1])) < 1e-4 * np.max(np.abs(out[1]))
