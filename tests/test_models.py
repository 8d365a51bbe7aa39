import pytest
import torch

from tdpr_cli.errors import WeightsError
from tdpr_cli.models.load import export, load_model
from tdpr_cli.models.seanet import Seanet, SeanetConfig
from tdpr_cli.models.vocoder import Vocoder, VocoderConfig


@pytest.mark.parametrize("upsampler", ["transposed", "nearest", "subpixel"])
@pytest.mark.parametrize("length", [1, 511, 512, 5000])
def test_seanet_shapes_and_identity_at_init(upsampler, length):
    m = Seanet(SeanetConfig(channels=4, upsampler=upsampler)).eval()
    x = torch.randn(3, 1, length)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)  # zero-initialised last layer: starts as the identity
    assert m.valid_length(length) % m.total_stride == 0 and m.valid_length(length) >= length


def test_seanet_is_shift_consistent_on_its_stride_grid():
    torch.manual_seed(0)
    m = Seanet(SeanetConfig(channels=4, strides=(2, 4))).eval()
    torch.nn.init.normal_(m.conv_out.weight, std=0.1)
    x = torch.randn(1, 1, 4096)
    with torch.no_grad():
        a = m(x)[..., 1024:3072]
        b = m(x[..., 8:])[..., 1016:3064]  # shift by the total stride
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_sample_rate_travels_with_weights(tmp_path):
    m = Seanet(SeanetConfig(channels=4))
    w, c = export(m, tmp_path, "m")
    loaded = load_model(w, c, "tdcnn")
    assert int(loaded.sample_rate) == 16000
    assert loaded.cfg == m.cfg
    for (k, a), b in zip(m.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), atol=1e-3, rtol=1e-3, msg=k)


def test_load_rejects_wrong_kind_and_mismatched_weights(tmp_path):
    w, c = export(Vocoder(VocoderConfig(dim=16, intermediate=32, layers=1)), tmp_path, "v")
    with pytest.raises(WeightsError, match="expected a tdcnn"):
        load_model(w, c, "tdcnn")
    w2, _ = export(Vocoder(VocoderConfig(dim=8, intermediate=32, layers=1)), tmp_path, "v2")
    with pytest.raises(WeightsError, match="do not fit"):
        load_model(w2, c, "vocoder")


@pytest.mark.parametrize("length", [256, 1000, 16000])
def test_vocoder_output_length(length):
    from tdpr_cli.dsp.spectral import LogMel

    v = Vocoder(VocoderConfig(dim=16, intermediate=32, layers=1)).eval()
    x = torch.randn(2, length)
    with torch.no_grad():
        mel = LogMel()(x)
        y = v(mel, length)
    assert mel.shape == (2, 80, length // 256 + 1)
    assert y.shape == (2, length) and torch.isfinite(y).all()


@pytest.mark.parametrize("arch", ["audiounet", "demucs"])
@pytest.mark.parametrize("length", [1, 1000, 4096])
def test_variants_identity_at_init_and_roundtrip(arch, length, tmp_path):
    from tdpr_cli.models.load import build

    m = build({"arch": arch, "kind": "tdcnn", "params": {"channels": 4, "depth": 3}}).eval()
    x = torch.randn(2, 1, length)
    with torch.no_grad():
        assert torch.equal(m(x), x)
    for p in m.parameters():  # any change must reach the output
        torch.nn.init.normal_(p, std=0.05)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    w, c = export(m, tmp_path, arch)
    with torch.no_grad():
        torch.testing.assert_close(load_model(w, c, "tdcnn")(x), y, atol=5e-2, rtol=5e-2)


def test_exported_files_are_world_readable(tmp_path):
    import stat

    w, c = export(Seanet(SeanetConfig(channels=2)), tmp_path, "m")
    for path in (w, c):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_pqmf_reconstructs_and_splits_into_bands():
    from tdpr_cli.models.subband import Pqmf

    bank = Pqmf()
    x = torch.randn(2, 1, 16000, generator=torch.Generator().manual_seed(1))
    sub = bank.analysis(x)
    assert sub.shape == (2, 4, 4000)
    y = bank.synthesis(sub)
    core = (slice(None), slice(None), slice(200, -200))
    err = ((y - x)[core] ** 2).mean() / (x[core] ** 2).mean()
    assert err < 1e-5  # near-perfect reconstruction: better than -50 dB
    t = torch.arange(16000) / 16000
    for band, f in enumerate((1000.0, 3000.0, 5000.0, 7000.0)):  # a tone lands in its own band
        power = (bank.analysis(torch.sin(2 * torch.pi * f * t).view(1, 1, -1))[..., 100:-100] ** 2).mean(-1)[0]
        assert int(power.argmax()) == band and power[band] > 100 * (power.sum() - power[band])


@pytest.mark.parametrize("exciter", [False, True])
@pytest.mark.parametrize("length", [1, 1000, 4097])
def test_subband_identity_at_init_low_band_kept_and_roundtrip(exciter, length, tmp_path):
    from tdpr_cli.models.load import build
    from tdpr_cli.models.subband import Pqmf

    params = {"exciter": exciter, "unet": {"channels": 4, "strides": [2, 2]}}
    m = build({"arch": "subband", "kind": "tdcnn", "params": params}).eval()
    x = torch.randn(2, 1, length, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y0 = m(x)
    assert y0.shape == x.shape
    if length > 500:  # the PQMF round trip: identity up to its reconstruction error
        assert ((y0 - x)[..., 100:-100] ** 2).mean() < 1e-5 * (x**2).mean()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    with torch.no_grad():
        y = m(x)
    assert not torch.equal(y, y0)
    if length > 500:  # band 0 (0-2 kHz) is the input's own, whatever the weights
        bank = Pqmf()
        pad = m.valid_length(length) - length
        sub_y = bank.analysis(torch.nn.functional.pad(y, (0, pad)))
        sub_x = bank.analysis(torch.nn.functional.pad(x, (0, pad)))
        core = (slice(None), 0, slice(50, (length - 200) // 4))
        assert ((sub_y - sub_x)[core] ** 2).mean() < 1e-3 * (sub_x[core] ** 2).mean()
    w, c = export(m, tmp_path, "subband")
    with torch.no_grad():
        torch.testing.assert_close(load_model(w, c, "tdcnn")(x), y, atol=5e-2, rtol=5e-2)
