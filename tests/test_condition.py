"""Cutoff-conditioned TD-CNNs: identity start, the cutoff reaching the model from every caller."""

import numpy as np
import pytest
import torch

from tdpr_cli.config import ChunkConfig, PhaseMode, RestoreConfig
from tdpr_cli.errors import InputError, UsageError
from tdpr_cli.models.condition import CENTRES_HZ, FEATURE_GAIN, cutoff_features
from tdpr_cli.models.seanet import Seanet, SeanetConfig
from tdpr_cli.models.subband import SubbandConfig, SubbandTdcnn
from tdpr_cli.restore.pipeline import Restorer
from tdpr_cli.train import checkpoint as ck

SMALL = dict(channels=4, strides=(2, 4, 8, 8))


def _noise(rows=2, n=8192, seed=0):
    return torch.from_numpy((0.1 * np.random.default_rng(seed).standard_normal((rows, 1, n))).astype(np.float32))


def _film_on(model: torch.nn.Module) -> None:
    """Random FiLM projections, so the cutoff changes the output."""
    torch.manual_seed(3)
    for name, p in model.named_parameters():
        if "films." in name:
            torch.nn.init.normal_(p, std=0.03)
    torch.nn.init.normal_(model.conv_out.weight, std=0.05)


def test_features_peak_at_their_centres():
    f = cutoff_features(torch.tensor(CENTRES_HZ)) / FEATURE_GAIN
    assert f.shape == (len(CENTRES_HZ), len(CENTRES_HZ) + 1)
    np.testing.assert_allclose(torch.diagonal(f[:, :-1]).numpy(), 1.0)
    np.testing.assert_allclose(f[:, -1].numpy(), np.array(CENTRES_HZ) / 8000.0, rtol=1e-6)


def test_conditioned_model_started_from_unconditioned_weights_is_the_same_function(tmp_path):
    torch.manual_seed(0)
    plain = Seanet(SeanetConfig(**SMALL))
    torch.nn.init.normal_(plain.conv_out.weight, std=0.05)
    ck.save_weights(plain, tmp_path / "plain.safetensors")
    cond = Seanet(SeanetConfig(**SMALL, condition=True))
    ck.load_weights(cond, tmp_path / "plain.safetensors", new_parts=("films.",))
    x = _noise()
    torch.testing.assert_close(cond(x, torch.tensor([3000.0, 4500.0])), plain(x), rtol=0, atol=0)
    assert cond.conditioned and not plain.conditioned
    with pytest.raises(InputError):  # only FiLM layers may be missing
        ck.load_weights(Seanet(SeanetConfig(channels=8, strides=(2, 4, 8, 8))), tmp_path / "plain.safetensors",
                        new_parts=("films.",))
    with pytest.raises(InputError):  # and only when asked for
        ck.load_weights(Seanet(SeanetConfig(**SMALL, condition=True)), tmp_path / "plain.safetensors")


def test_a_conditioned_model_needs_and_reads_the_cutoff():
    model = Seanet(SeanetConfig(**SMALL, condition=True))
    _film_on(model)
    x = _noise(rows=1)
    with pytest.raises(UsageError, match="cutoff"):
        model(x)
    with torch.no_grad():
        a, b = model(x, torch.tensor([3000.0])), model(x, torch.tensor([4000.0]))
    assert (a - b).abs().max() > 1e-3


def test_subband_unet_hears_the_cutoff():
    model = SubbandTdcnn(SubbandConfig(unet={"channels": 4, "strides": (2, 4), "condition": True}))
    assert model.conditioned
    _film_on(model.unet)
    x = _noise(rows=1)
    with torch.no_grad():
        assert (model(x, torch.tensor([2500.0])) - model(x, torch.tensor([4500.0]))).abs().max() > 1e-4


def test_restore_passes_its_cutoff_to_a_conditioned_model():
    model = Seanet(SeanetConfig(**SMALL, condition=True))
    _film_on(model)
    cfg = RestoreConfig(phase=PhaseMode.NONE, chunk=ChunkConfig(hop=16384, fade=2048), keep_margin_hz=None)
    x = _noise(rows=2, n=16000)[:, 0].numpy()
    r = Restorer(model, None, cfg)
    out3 = r.one_shot(x, 3000.0)
    with torch.no_grad():
        want = model(torch.from_numpy(x)[:, None], torch.full((2,), 3000.0))[:, 0].numpy()
    np.testing.assert_allclose(out3, want, atol=1e-5)
    assert np.abs(r.one_shot(x, 4000.0) - out3).max() > 1e-3
    np.testing.assert_allclose(r.restore(x, 3000.0)[:, 4000:-4000], out3[:, 4000:-4000], atol=2e-4)

