"""The vocoder's GAN: discriminator shapes, loss values, crops, and a resumable smoke run."""

from __future__ import annotations

import pytest
import torch

from tdpr_cli.train.adv_views import CONTEXT, context_window, repaired_view, restored_view
from tdpr_cli.train.adversarial import (
    CROP,
    Adversary,
    Discriminators,
    PeriodDiscriminator,
    discriminator_loss,
    generator_losses,
)
from tdpr_cli.train.checkpoint import read_log


def test_members_and_shapes():
    d = Discriminators(width=4)
    out = d(torch.randn(2, CROP))
    assert len(out) == 6 + 3  # periods 2, 3, 5, 7, 11, 256 and three STFT resolutions
    for logits, feats in out:
        assert logits.shape[0] == 2 and logits.ndim == 2 and len(feats) == 4
    # Folding at the hop: 4096 samples become 16 rows of 256, so a click every 256 samples is one column.
    p = PeriodDiscriminator(256, width=4)
    clicks = torch.zeros(1, CROP)
    clicks[0, 100::256] = 1.0
    first = torch.nn.functional.leaky_relu(p.convs[0](clicks.view(1, 1, 16, 256)), 0.1)
    assert p(clicks)[1][0].shape == first.shape == (1, 4, 6, 256)


def _fake(value):
    return [(torch.full((2, 5), value), [torch.full((2, 3), value)])]


def test_loss_values():
    assert discriminator_loss(_fake(1.0), _fake(0.0)).item() == 0.0  # perfect discriminator
    assert discriminator_loss(_fake(0.0), _fake(1.0)).item() == 2.0  # fooled both ways
    adv, fm = generator_losses(_fake(1.0), _fake(1.0))
    assert adv.item() == 0.0 and fm.item() == 0.0  # fake indistinguishable from real
    adv, fm = generator_losses(_fake(1.0), _fake(0.5))
    assert adv.item() == pytest.approx(0.25) and fm.item() == pytest.approx(0.5)


def test_crop_is_shared_deterministic_and_in_range():
    a, b = torch.arange(20000.0)[None], torch.arange(20000.0)[None] + 0.5
    for step in range(5):
        fa, fb = Adversary.crop(a, b, step)
        assert fa.shape[-1] == CROP and torch.equal(fa + 0.5, fb)
        assert torch.equal(fa, Adversary.crop(a, b, step)[0])
    assert Adversary.crop(a[:, :100], b[:, :100], 3)[0].shape[-1] == 100  # short: whole


def test_the_repaired_view_has_the_target_magnitude_and_the_estimate_phase():
    """``--adv-on repaired``: stationary tones give the exact answer (target amplitudes, estimate
    phases), and the gradient reaches the estimate through its phase."""
    from tdpr_cli.config import StftConfig

    t = torch.arange(16000) / 16000
    target = (torch.sin(2 * torch.pi * 437.5 * t) + 0.3 * torch.sin(2 * torch.pi * 1250 * t))[None, None]
    est = (0.2 * torch.sin(2 * torch.pi * 437.5 * t + 1) + 0.9 * torch.sin(2 * torch.pi * 1250 * t + 2))[None, None]
    want = (torch.sin(2 * torch.pi * 437.5 * t + 1) + 0.3 * torch.sin(2 * torch.pi * 1250 * t + 2))[None, None]
    view = repaired_view(StftConfig(), torch.device("cpu"))
    est.requires_grad_(True)
    step = 1
    out, real = view(target, torch.full((1,), 3000.0), est, target, step)
    at = (step * 7919) % (16000 - CROP + 1)
    assert out.shape == real.shape == (1, CROP) and torch.equal(real, target[0, :, at : at + CROP])
    torch.testing.assert_close(out, want[0, :, at : at + CROP], atol=2e-3, rtol=0)
    (out[..., 1000:1100] ** 2).sum().backward()
    assert est.grad is not None and float(est.grad.abs().max()) > 0


def test_the_restored_window_is_on_the_hop_grid_with_the_crop_at_its_centre():
    seen = set()
    for step in range(40):
        window, crop = context_window(16000, step, 256)
        assert window.start % 256 == 0 and 0 <= window.start and window.stop <= 16000
        assert window.stop - window.start == CROP + 2 * CONTEXT and (crop.start, crop.stop) == (CONTEXT, CONTEXT + CROP)
        seen.add(window.start)
    assert len(seen) > 20  # the offset walks over the segment
    assert context_window(5000, 3, 256) == (slice(0, 5000), slice(452, 452 + CROP))  # short: centred
    assert context_window(3000, 3, 256) == (slice(0, 3000), slice(0, 3000))


class _Scale(torch.nn.Module):
    """A stand-in TD-CNN with one weight: (B, 1, T) -> twice the input."""

    conditioned = True

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x, cutoff_hz=None):
        self.cutoff_hz = cutoff_hz  # what the view told it
        return self.gain * x


def _tones(t, phases, amps=(1.0, 0.3)):
    return sum(a * torch.sin(2 * torch.pi * f * t + p) for a, f, p in zip(amps, (437.5, 1250.0), phases))


def test_the_restored_view_judges_the_vocoder_phase_against_the_target_phase_under_the_tdcnn_magnitude():
    """``--adv-on restored``: tones in, a 'TD-CNN' that doubles them, a 'vocoder' that answers any
    mel with tones at its own phase offsets, a target with others. The fake has the TD-CNN's
    amplitudes and the vocoder's phases, the real the same amplitudes and the target's phases
    (the pair differs in phase only); the vocoder gets a gradient, the TD-CNN none."""
    from tdpr_cli.config import StftConfig

    t = torch.arange(16000) / 16000
    offset = torch.nn.Parameter(torch.tensor(1.0))

    class Voc(torch.nn.Module):
        def forward(self, mel, length):
            assert mel.shape[1] == 80 and length == CROP + 2 * CONTEXT
            return _tones(t[:length], (offset, 2 * offset), (0.7, 0.1)).expand(mel.shape[0], length)

    tdcnn = _Scale()
    view = restored_view(tdcnn, Voc(), StftConfig(), torch.device("cpu"))
    step = 2
    window, crop = context_window(16000, step, 256)
    target = _tones(t, (0.5, -1.0), (0.5, 0.5))[None, None]
    fake, real = view(_tones(t, (0.0, 0.0))[None, None], torch.full((1,), 3000.0), torch.zeros_like(target), target, step)
    assert torch.equal(tdcnn.cutoff_hz, torch.full((1,), 3000.0))  # a conditioned TD-CNN hears the cutoff
    want_fake, want_real = (_tones(t, phases, (2.0, 0.6))[None, window][:, crop] for phases in ((1.0, 2.0), (0.5, -1.0)))
    torch.testing.assert_close(fake, want_fake, atol=5e-3, rtol=0)
    torch.testing.assert_close(real, want_real, atol=5e-3, rtol=0)
    (fake * want_real).sum().backward()
    assert offset.grad is not None and abs(float(offset.grad)) > 1.0 and tdcnn.gain.grad is None


def test_gans_judging_the_repaired_and_restored_signals_train_and_log_it(tmp_path):
    from tdpr_cli.train.tasks import train_vocoder
    from tdpr_cli.weights.resolve import load_lock
    from test_train import TINY_VOCODER, _cfg

    data = _corpus(tmp_path)
    said = []
    gan = {"adv_weight": 1.0, "fm_weight": 2.0, "disc_width": 4.0}
    for view, judged in (("repaired", "repaired signal"), ("restored", "restored signal")):
        run = tmp_path / view
        train_vocoder(_cfg(data, run, max_steps=2, model=TINY_VOCODER, loss=gan, segment_s=0.5, adv_on=view),
                      said.append)
        assert any(f"judging the {judged}" in line for line in said)
        train = [r for r in read_log(run / "log.jsonl") if r["kind"] == "train"]
        assert {"d_loss", "adv", "fm"} <= set(train[-1]) and all(map(float, (train[-1]["adv"], train[-1]["fm"])))
    default = load_lock(user=None).defaults["tdcnn"]
    assert any(line.startswith(f"restored view: frozen TD-CNN {default}@sha256:") for line in said)


def test_gan_run_logs_checkpoints_and_resumes_exactly(tmp_path):
    from tdpr_cli.train.tasks import train_vocoder
    from test_train import TINY_VOCODER, _cfg, _weights

    data = _corpus(tmp_path)
    gan = {"adv_weight": 1.0, "fm_weight": 2.0, "disc_width": 4.0}
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_vocoder(_cfg(data, straight, max_steps=4, model=TINY_VOCODER, loss=gan, segment_s=0.5))
    train_vocoder(_cfg(data, split, max_steps=2, model=TINY_VOCODER, loss=gan, segment_s=0.5))
    assert (split / "checkpoint" / Adversary.WEIGHTS).is_file()
    train_vocoder(_cfg(data, split, max_steps=4, model=TINY_VOCODER, loss=gan, segment_s=0.5, resume=True))
    a, b = _weights(straight), _weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)  # discriminators and their Adam state resumed too
    train = [r for r in read_log(straight / "log.jsonl") if r["kind"] == "train"]
    assert {"d_loss", "adv", "fm", "mel", "mrstft"} <= set(train[-1])
    valid = [r for r in read_log(straight / "log.jsonl") if r["kind"] == "valid"]
    assert {"comb", "lock"} <= set(valid[-1])


def _corpus(tmp_path):
    import json

    import soundfile as sf

    from test_train import SR, _tone

    root = tmp_path / "data"
    clips = []
    for i, split in enumerate(("train", "train", "valid")):
        rel = f"{split}/piece{i}__musescore__0_0.flac"
        (root / split).mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, _tone(3.0, 110.0 * (i + 1), i), SR, subtype="PCM_16")
        clips.append({"path": rel, "split": split, "piece": f"piece{i}", "source": "test", "soundfont": "musescore",
                      "duration_s": 3.0, "sha256": "0" * 64})
    (root / "manifest.json").write_text(json.dumps({"version": 1, "seed": 0, "sample_rate": SR, "clips": clips}))
    return root
