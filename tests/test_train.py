"""Training smoke tests on a tiny synthetic corpus: data, schedule, loop, resume, export."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tdpr_cli.errors import InputError, UsageError
from tdpr_cli.train import timbre
from tdpr_cli.train.checkpoint import read_log
from tdpr_cli.train.dataset import SegmentConfig, SegmentSampler, read_clips
from tdpr_cli.train.schedule import TrainConfig, learning_rate

SR = 16000
TINY_TDCNN = {"channels": 2, "strides": (2, 4, 8, 8)}
TINY_VOCODER = {"dim": 16, "intermediate": 32, "layers": 1}


def _tone(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A decaying harmonic note with a little noise, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 30) if f0 * k < SR / 2)
    x = x * np.exp(-t / 2.0) + 0.003 * rng.standard_normal(len(t))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """data/ with train and valid FLAC clips and a manifest in the renderer's format."""
    root = tmp_path_factory.mktemp("data")
    clips = []
    layout = [("train", "musescore"), ("train", "fluidr3"), ("train", "timgm6mb"), ("valid", "musescore")]
    for i, (split, font) in enumerate(layout):
        rel = f"{split}/piece{i}__{font}__0_0.flac"
        (root / split).mkdir(exist_ok=True)
        sf.write(root / rel, _tone(3.0, 110.0 * (i + 1), i), SR, subtype="PCM_16")
        clips.append({"path": rel, "split": split, "piece": f"piece{i}", "source": "test", "soundfont": font,
                      "duration_s": 3.0, "sha256": "0" * 64})
    (root / "manifest.json").write_text(json.dumps({"version": 1, "seed": 0, "sample_rate": SR, "clips": clips}))
    return root


def _cfg(corpus: Path, run: Path, **kw) -> TrainConfig:
    base = dict(data_dir=corpus, run_dir=run, max_steps=3, batch=2, segment_s=0.5, warmup=1,
                ckpt_every=2, valid_every=2, log_every=1, valid_count=7, valid_seconds=0.5, model=TINY_TDCNN)
    base.update(kw)
    return TrainConfig(**base)


def _plain_weights(tmp_path: Path) -> Path:
    """Weights of an untrained tiny SEANet with no FiLM layers or level head, to ``--init`` from."""
    from tdpr_cli.models.seanet import Seanet, SeanetConfig
    from tdpr_cli.train import checkpoint as ck

    init = tmp_path / "plain.safetensors"
    ck.save_weights(Seanet(SeanetConfig.from_dict(TINY_TDCNN)), init)
    return init


def _sampler(corpus: Path, degrade: bool = True) -> SegmentSampler:
    clips = read_clips(corpus / "manifest.json", corpus, "train")
    return SegmentSampler(clips, SegmentConfig(batch=3, seconds=0.5, degrade=degrade), seed=7)


def test_batches_are_deterministic_per_seed_and_step(corpus):
    a, b = _sampler(corpus), _sampler(corpus)
    x1, y1, c1 = a.batch(5)
    x2, y2, c2 = b.batch(5)
    assert x1.shape == y1.shape == (3, 1, 8000) and x1.dtype == np.float32
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and np.array_equal(c1, c2)
    assert not np.array_equal(a.batch(6)[1], y1)


def test_inputs_are_band_limited_targets_are_not(corpus):
    x, y, _ = _sampler(corpus).batch(0)
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / SR)
    high = freqs > 5000  # above every cutoff (<= 4 kHz) plus the transition band
    px, py = np.abs(np.fft.rfft(x[:, 0])) ** 2, np.abs(np.fft.rfft(y[:, 0])) ** 2
    assert np.all(px[:, high].sum(-1) < 0.05 * py[:, high].sum(-1))
    assert np.all(np.abs(y).max(axis=-1) <= 10 ** (-1 / 20) + 1e-6)
    xv, yv, cv = _sampler(corpus, degrade=False).batch(0)
    assert np.array_equal(xv, yv) and np.all(cv == SR / 2)


def test_soundfont_weights_favour_musescore(corpus):
    probs = _sampler(corpus).probs
    fonts = [c.soundfont for c in _sampler(corpus).clips]
    assert probs[fonts.index("musescore")] == pytest.approx(0.6)


def test_soundfont_weights_from_the_command_line_reach_the_sampler(corpus, tmp_path):
    from tdpr_cli.commands.train import _font_weights, _name_weights
    from tdpr_cli.train.setup import segment_config

    weights = _font_weights("musescore=0.7, timgm6mb=0.3,fluidr3=0")
    assert weights == {"musescore": 0.7, "timgm6mb": 0.3, "fluidr3": 0.0}
    seg = segment_config(_cfg(corpus, tmp_path, soundfont_weights=weights), degrade=True)
    sampler = SegmentSampler(read_clips(corpus / "manifest.json", corpus, "train"), seg, seed=7)
    probs = dict(zip((c.soundfont for c in sampler.clips), sampler.probs))
    assert probs == pytest.approx({"musescore": 0.7, "timgm6mb": 0.3, "fluidr3": 0.0})
    assert segment_config(_cfg(corpus, tmp_path), degrade=True).soundfont_weights == SegmentConfig().soundfont_weights
    for bad in ("musescore", "=1", "musescore=x"):
        with pytest.raises(UsageError, match="NAME=W"):
            _font_weights(bad)
    with pytest.raises(UsageError, match="twice"):
        _font_weights("musescore=1,musescore=0.5")
    kinds = _name_weights("cheby2=3, bessel=3", "--kind-weights", "KIND=W")
    sim = segment_config(_cfg(corpus, tmp_path, kind_weights=kinds), degrade=True).sim
    assert sim.kind_weights == (("cheby2", 3.0), ("bessel", 3.0))
    assert segment_config(_cfg(corpus, tmp_path), degrade=True).sim.kind_weights == ()
    with pytest.raises(UsageError, match="--kind-weights takes KIND=W"):
        _name_weights("cheby2", "--kind-weights", "KIND=W")
    with pytest.raises(UsageError, match="names cheby2 twice"):
        _name_weights("cheby2=1,bessel=2,cheby2=3", "--kind-weights", "KIND=W")
    for bad_weights in ({"musescore": -1.0}, {"musescore": 0.0}, {"musescore": float("nan")},
                        {"musescore": float("inf")}):
        with pytest.raises(UsageError, match="soundfont-weights"):
            _cfg(corpus, tmp_path, soundfont_weights=bad_weights)
    with pytest.raises(UsageError, match="weighted above 0"):
        SegmentSampler(read_clips(corpus / "manifest.json", corpus, "train"),
                       SegmentConfig(soundfont_weights=(("musescore", 0.0), ("fluidr3", 0.0), ("timgm6mb", 0.0))), seed=7)


@pytest.mark.parametrize("share", [-45.0, -30.0, -20.0])
def test_tilt_reaches_the_drawn_high_band_share(share):
    x = _tone(1.0, 220.0, 0).astype(np.float64) + 0.01 * np.random.default_rng(1).standard_normal(SR)
    y = timbre.apply_colour(x, timbre.Colour(share, 1000.0))
    freqs = np.fft.rfftfreq(len(y), 1 / SR)
    assert timbre.band_share_db(np.abs(np.fft.rfft(y)) ** 2, freqs) == pytest.approx(share, abs=0.1)
    assert np.allclose(timbre.apply_colour(x, timbre.Colour(None, 1000.0)), x)


def test_schedule_warms_up_then_decays_to_the_floor(tmp_path):
    cfg = TrainConfig(data_dir=tmp_path, run_dir=tmp_path, max_steps=1000, lr=1e-3, warmup=100, min_lr_ratio=0.1)
    assert learning_rate(0, cfg) == pytest.approx(1e-5)
    assert learning_rate(99, cfg) == pytest.approx(1e-3)
    assert learning_rate(550, cfg) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert learning_rate(1000, cfg) == pytest.approx(1e-4)
    assert learning_rate(5000, cfg) == pytest.approx(1e-4)
    lrs = [learning_rate(s, replace(cfg, schedule="exp")) for s in range(100, 1001)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4) and all(np.diff(lrs) < 0)


def _export_loads(directory: Path, name: str, kind: str) -> dict:
    from tdpr_cli.models.load import load_model

    model = load_model(directory / f"{name}.safetensors", directory / f"{name}.json", kind=kind)
    assert not model.training
    return json.loads((directory / f"{name}.json").read_text())


def test_tdcnn_smoke_run_logs_validates_and_exports(corpus, tmp_path):
    from tdpr_cli.train.tasks import train_tdcnn

    cfg = _cfg(corpus, tmp_path / "run", command="tdpr train tdcnn --max-steps 3")
    train_tdcnn(cfg)
    log = read_log(tmp_path / "run" / "log.jsonl")
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2, 3]
    valid = [r for r in log if r["kind"] == "valid"]
    assert [r["step"] for r in valid] == [0, 2, 3]
    assert valid[0]["lsd"] == pytest.approx(valid[0]["lsd_input"])  # an untrained SEANet is the identity
    config = _export_loads(tmp_path / "run" / "export", "tdcnn", "tdcnn")
    training = config["training"]
    assert training["steps"] == 3 and training["seed"] == 0 and training["recipe"] == cfg.command
    assert len(training["data_manifest_sha256"]) == 64 and training["hardware"]
    assert (tmp_path / "run" / "best.safetensors").is_file()


def test_vocoder_smoke_run_reports_phase_error_and_exports(corpus, tmp_path):
    from tdpr_cli.train.tasks import train_vocoder

    train_vocoder(_cfg(corpus, tmp_path / "run", model=TINY_VOCODER, export_dir=tmp_path / "out", export_name="v"))
    valid = [r for r in read_log(tmp_path / "run" / "log.jsonl") if r["kind"] == "valid"]
    assert {"mel_l1", "phase_cos_low", "phase_ifd_high", "lsd"} <= set(valid[-1])
    assert _export_loads(tmp_path / "out", "v", "vocoder")["training"]["steps"] == 3


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "checkpoint" / "model.safetensors"))


def test_resume_continues_the_same_sequence(corpus, tmp_path):
    from tdpr_cli.train.tasks import train_tdcnn

    straight, split = tmp_path / "straight", tmp_path / "split"
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    train_tdcnn(_cfg(data, straight, max_steps=4))
    train_tdcnn(_cfg(data, split, max_steps=2))
    # The corpus grows between the runs: resume must keep training on its frozen copy.
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["clips"].append(dict(manifest["clips"][0], path="train/piece1__fluidr3__0_0.flac", soundfont="x"))
    (data / "manifest.json").write_text(json.dumps(manifest))
    train_tdcnn(_cfg(data, split, max_steps=4, resume=True))
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [r["step"] for r in read_log(split / "log.jsonl") if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4]
    state = json.loads((split / "checkpoint" / "state.json").read_text())
    assert state["step"] == 4


def test_init_starts_from_given_weights_and_cpu_budget_stops(corpus, tmp_path):
    """--init: step 0 validates the given weights; --max-cpu-minutes stops a run early and is recorded."""
    from tdpr_cli.train.tasks import train_tdcnn

    train_tdcnn(_cfg(corpus, tmp_path / "a", max_steps=2))
    source = tmp_path / "a" / "export" / "tdcnn.safetensors"
    train_tdcnn(_cfg(corpus, tmp_path / "b", max_steps=5, init=source, max_cpu_minutes=1e-6))
    va = [r for r in read_log(tmp_path / "a" / "log.jsonl") if r["kind"] == "valid"]
    vb = [r for r in read_log(tmp_path / "b" / "log.jsonl") if r["kind"] == "valid"]
    assert vb[0]["step"] == 0 and vb[0]["lsd"] == pytest.approx(va[-1]["lsd"], abs=1e-3)
    state = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 1 and state["cpu_s"] > 0  # one step spends the tiny CPU budget
    with pytest.raises(InputError):  # a different architecture does not load
        train_tdcnn(_cfg(corpus, tmp_path / "c", init=source, model={**TINY_TDCNN, "channels": 3}))


def test_resumed_trainer_draws_the_next_batch_of_the_sequence(corpus, tmp_path):
    from tdpr_cli.models.seanet import Seanet, SeanetConfig
    from tdpr_cli.train.loop import Task, Trainer
    from tdpr_cli.train.losses import TdcnnLoss
    from tdpr_cli.train.tasks import train_tdcnn

    train_tdcnn(_cfg(corpus, tmp_path, max_steps=2))
    cfg = _cfg(corpus, tmp_path, max_steps=4, resume=True)
    model = Seanet(SeanetConfig.from_dict(TINY_TDCNN))
    task = Task("tdcnn", model, TdcnnLoss(), SegmentConfig(batch=2, seconds=0.5), lambda x, c, y: model(x, c),
                lambda *a: {}, "lsd")
    trainer = Trainer(cfg, task, torch.device("cpu"), lambda _: None)
    sampler = SegmentSampler(read_clips(corpus / "manifest.json", corpus, "train"), task.segments, cfg.seed)
    assert trainer.state.step == 2
    for got, want in zip(trainer.batch(2), sampler.batch(2)):
        assert torch.equal(got, torch.from_numpy(want))


def test_run_folder_misuse_is_a_usage_error(corpus, tmp_path):
    from tdpr_cli.train.tasks import train_tdcnn

    with pytest.raises(UsageError, match="no run to resume"):
        train_tdcnn(_cfg(corpus, tmp_path / "empty", resume=True))
    train_tdcnn(_cfg(corpus, tmp_path / "run", max_steps=2))
    with pytest.raises(UsageError, match="--resume"):
        train_tdcnn(_cfg(corpus, tmp_path / "run", max_steps=2))
    # A resumed run keeps its simulation mix: another --kind-weights would change its data.
    with pytest.raises(UsageError, match="--kind-weights None"):
        train_tdcnn(_cfg(corpus, tmp_path / "run", max_steps=3, resume=True, kind_weights={"bessel": 3.0}))
    # ... and what its inputs are said to be cut at; a run from before the option ran with design.
    with pytest.raises(UsageError, match="--stated-cutoff 'design'"):
        train_tdcnn(_cfg(corpus, tmp_path / "run", max_steps=3, resume=True, stated_cutoff="edge"))
    state = tmp_path / "run" / "checkpoint" / "state.json"
    raw = json.loads(state.read_text())
    del raw["config"]["stated_cutoff"]
    state.write_text(json.dumps(raw))
    train_tdcnn(_cfg(corpus, tmp_path / "run", max_steps=3, resume=True))


def test_bad_options_are_usage_errors(tmp_path):
    with pytest.raises(UsageError):
        TrainConfig(data_dir=tmp_path, run_dir=tmp_path, max_steps=0)
    with pytest.raises(UsageError):
        TrainConfig(data_dir=tmp_path, run_dir=tmp_path, device="tpu")
    for view in ("vocoder", "repaired", "restored"):
        assert TrainConfig(data_dir=tmp_path, run_dir=tmp_path, adv_on=view).adv_on == view
    with pytest.raises(UsageError, match="--adv-on"):
        TrainConfig(data_dir=tmp_path, run_dir=tmp_path, adv_on="both")
    with pytest.raises(UsageError, match="--colour-probability"):
        TrainConfig(data_dir=tmp_path, run_dir=tmp_path, colour_probability=1.5)


@pytest.mark.parametrize("probability", [0.0, 0.5, 1.0])
def test_colour_probability_is_the_share_of_tilted_targets(probability):
    rng = np.random.default_rng(3)
    draws = [timbre.draw_colour(rng, timbre.ColourRange(probability=probability)) for _ in range(2000)]
    tilted = np.mean([d.share_db is not None for d in draws])
    assert tilted == pytest.approx(probability, abs=0.03)


def test_segment_config_carries_the_run_options(tmp_path):
    from tdpr_cli.train.setup import segment_config

    cfg = TrainConfig(data_dir=tmp_path, run_dir=tmp_path, batch=3, segment_s=0.5, soft_share=0.25,
                      colour_probability=0.4)
    seg = segment_config(cfg, degrade=False)
    assert (seg.batch, seg.seconds, seg.degrade) == (3, 0.5, False)
    assert seg.sim.soft_share == 0.25 and seg.colour.probability == 0.4


def test_cli_command_trains_and_exports(corpus, tmp_path):
    from typer.testing import CliRunner

    from tdpr_cli.commands.train import app

    args = ["tdcnn", "--data", str(corpus), "--run", str(tmp_path / "run"), "--max-steps", "1", "--batch", "1",
            "--segment-s", "0.5", "--channels", "2", "--valid-count", "0", "--warmup", "0",
            "--colour-probability", "0.25"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "export" / "tdcnn.safetensors").is_file()
    assert '"colour_probability": 0.25' in (tmp_path / "run" / "export" / "tdcnn.json").read_text()
    # --stated-cutoff edge only means something to a model told the cutoff: alone it is refused.
    edge = ["--stated-cutoff", "edge", "--run", str(tmp_path / "edge")]
    refused = CliRunner().invoke(app, [*args, *edge])
    assert isinstance(refused.exception, UsageError) and "--condition-cutoff" in str(refused.exception)
    assert not (tmp_path / "edge").exists()
    result = CliRunner().invoke(app, [*args, *edge, "--condition-cutoff"])
    assert result.exit_code == 0, result.output
    assert '"stated_cutoff": "edge"' in (tmp_path / "edge" / "export" / "tdcnn.json").read_text()


def test_refresh_takes_new_manifest_copies_and_resume_reuses_them(corpus, tmp_path):
    from tdpr_cli.train.tasks import train_tdcnn

    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    train_tdcnn(_cfg(data, tmp_path / "run", max_steps=3, refresh_every=2))
    copy = tmp_path / "run" / "manifests" / "step-0000002.json"
    assert copy.read_text() == (data / "manifest.json").read_text()
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["clips"] = manifest["clips"][:1] + manifest["clips"][3:]
    (data / "manifest.json").write_text(json.dumps(manifest))
    train_tdcnn(_cfg(data, tmp_path / "run", max_steps=5, refresh_every=2, resume=True))
    assert json.loads(copy.read_text())["clips"] != manifest["clips"]  # reused, not retaken
    newer = json.loads((tmp_path / "run" / "manifests" / "step-0000004.json").read_text())
    assert newer["clips"] == manifest["clips"]
    exported = json.loads((tmp_path / "run" / "export" / "tdcnn.json").read_text())
    assert exported["training"]["data_manifest_from_step"] == 4


def test_a_conditioned_tdcnn_trains_from_unconditioned_weights_and_exports(corpus, tmp_path):
    from tdpr_cli.models.load import load_model
    from tdpr_cli.train.tasks import train_tdcnn

    init = _plain_weights(tmp_path)
    weights, config = train_tdcnn(_cfg(corpus, tmp_path / "run", init=init,
                                       model={"arch": "seanet", **TINY_TDCNN, "condition": True}))
    assert json.loads(config.read_text())["params"]["condition"] is True
    model = load_model(weights, config, "tdcnn")
    films = {k: v for k, v in model.state_dict().items() if "films." in k}
    assert model.conditioned and films
    assert any(v.abs().max() > 0 for v in films.values())  # trained away from the identity start


def test_a_level_head_trains_from_weights_without_one_and_exports(corpus, tmp_path):
    from tdpr_cli.models.load import load_model
    from tdpr_cli.train.tasks import train_tdcnn

    init = _plain_weights(tmp_path)
    weights, config = train_tdcnn(_cfg(corpus, tmp_path / "run", init=init,
                                       model={"arch": "seanet", **TINY_TDCNN, "level_head": True}))
    assert json.loads(config.read_text())["params"]["level_head"] is True
    model = load_model(weights, config, "tdcnn")
    assert model.level is not None
    assert model.level.out.weight.abs().max() > 0  # trained away from the identity start


def test_train_only_moves_the_named_parameters_and_freezes_the_rest(corpus, tmp_path):
    from safetensors.torch import load_file

    from tdpr_cli.train.tasks import train_tdcnn

    init = _plain_weights(tmp_path)
    model = {"arch": "seanet", **TINY_TDCNN, "level_head": True}
    train_tdcnn(_cfg(corpus, tmp_path / "run", init=init, model=model, train_only="level."))
    before, after = load_file(str(init)), load_file(str(tmp_path / "run" / "checkpoint" / "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)  # the backbone did not move
    assert after["level.out.weight"].abs().max() > 0
    with pytest.raises(UsageError, match="names no parameter"):
        train_tdcnn(_cfg(corpus, tmp_path / "run2", init=init, model=model, train_only="nothing."))
    with pytest.raises(UsageError, match="names no parameter"):
        train_tdcnn(_cfg(corpus, tmp_path / "run2", init=init, model=model, train_only="!nothing."))
    # "!level.": everything but the head, which stays the identity it starts as (zero output layer).
    train_tdcnn(_cfg(corpus, tmp_path / "run3", init=init, model=model, train_only="!level."))
    after3 = load_file(str(tmp_path / "run3" / "checkpoint" / "model.safetensors"))
    assert not after3["level.out.weight"].any() and not after3["level.out.bias"].any()
    assert all(not torch.equal(after3[k], before[k]) for k in ("conv_out.weight", "enc.0.0.conv1.weight"))


def test_a_misspelt_soundfont_is_refused_before_training(corpus, tmp_path):
    from tdpr_cli.train.tasks import train_tdcnn

    with pytest.raises(UsageError, match="musecore"):
        train_tdcnn(_cfg(corpus, tmp_path / "run", soundfont_weights={"musecore": 0.6, "fluidr3": 0.4}))


def test_resume_refuses_other_train_only_or_soundfont_weights(corpus, tmp_path):
    from tdpr_cli.train import checkpoint as ck
    from tdpr_cli.train.tasks import train_tdcnn

    init = _plain_weights(tmp_path)
    model = {"arch": "seanet", **TINY_TDCNN, "level_head": True}
    run = tmp_path / "run"
    train_tdcnn(_cfg(corpus, run, init=init, model=model, train_only="level.", max_steps=2))
    with pytest.raises(UsageError, match="--train-only 'level.'"):
        train_tdcnn(_cfg(corpus, run, model=model, max_steps=3, resume=True))
    with pytest.raises(UsageError, match="--soundfont-weights None"):
        train_tdcnn(_cfg(corpus, run, model=model, max_steps=3, resume=True, train_only="level.",
                         soundfont_weights={"musescore": 1.0}))
    train_tdcnn(_cfg(corpus, run, model=model, max_steps=3, resume=True, train_only="level."))
    assert ck.read_log(run / "log.jsonl")[-1]["step"] >= 3


def test_stated_cutoffs_follow_the_filter_within_the_jitter(corpus):
    from tdpr_cli.simulate import degrade as deg

    sampler = _sampler(corpus)
    lo = min(deg.PAPER.cutoff_hz[0], deg.SOFT.cutoff_hz[0]) * 2 ** -0.1
    hi = max(deg.PAPER.cutoff_hz[1], deg.SOFT.cutoff_hz[1]) * 2 ** 0.1
    cutoffs = np.concatenate([sampler.batch(s)[2] for s in range(6)])
    assert cutoffs.dtype == np.float32 and np.all((cutoffs >= lo - 1) & (cutoffs <= hi + 1))
    assert len(np.unique(cutoffs)) == len(cutoffs)


def test_stated_edge_is_the_filters_own_minus3_point(corpus):
    # --stated-cutoff edge: a "3 kHz" cheby2 or bessel input is stated where it starts to fall
    # (what detection reads), not at its design Wn; the inputs and targets stay the same draws.
    from tdpr_cli.simulate import degrade as deg
    from tdpr_cli.simulate.response import minus3_hz

    clips = read_clips(corpus / "manifest.json", corpus, "train")
    sim = deg.SimConfig(soft_share=0.0, kind_weights=(("butterworth", 0.0), ("cheby1", 0.0), ("ellip", 0.0),
                                                      ("subsample", 0.0), ("stft", 0.0)))
    design, edge = (SegmentSampler(clips, SegmentConfig(batch=4, seconds=0.5, sim=sim, cutoff_jitter_octaves=0.0,
                                                        stated_cutoff=s), seed=5) for s in ("design", "edge"))
    for step in range(3):
        (xd, yd, cd), (xe, ye, ce) = design.batch(step), edge.batch(step)
        assert np.array_equal(xd, xe) and np.array_equal(yd, ye)
        for wn, stated in zip(cd, ce):  # Wn of a cheby2 or bessel of order 6-10, and its -3 dB point
            edges = [minus3_hz(k, 16000, float(wn), o) for k in ("cheby2", "bessel") for o in range(6, 11)]
            assert min(abs(stated - e) for e in edges) <= 2.0 and stated < wn - 300
    with pytest.raises(UsageError, match="--stated-cutoff"):
        SegmentConfig(stated_cutoff="nominal")


def test_the_cutoff_jitter_draws_last_so_inputs_and_targets_do_not_depend_on_it(corpus):
    clips = read_clips(corpus / "manifest.json", corpus, "train")
    exact = SegmentSampler(clips, SegmentConfig(batch=3, seconds=0.5, cutoff_jitter_octaves=0.0), seed=7)
    x0, y0, c0 = exact.batch(4)
    x1, y1, c1 = _sampler(corpus).batch(4)
    assert np.array_equal(x0, x1) and np.array_equal(y0, y1)
    assert np.all(c0 != c1) and np.all(np.abs(np.log2(c1 / c0)) <= 0.1 + 1e-6)
    with pytest.raises(UsageError):
        SegmentConfig(cutoff_jitter_octaves=-0.1)


def test_a_teacher_adds_its_output_as_a_second_target(corpus, tmp_path):
    from tdpr_cli.train.tasks import train_tdcnn

    weights, _ = train_tdcnn(_cfg(corpus, tmp_path / "teacher", max_steps=2))
    # A student that starts as the teacher matches its output exactly at the first step: the
    # distillation term is 0 there, and the loss is the reference's terms plus 2 x that term.
    run = tmp_path / "student"
    train_tdcnn(_cfg(corpus, run, init=weights, teacher=weights, teacher_weight=2.0, max_steps=3))
    rows = [r for r in read_log(run / "log.jsonl") if r["kind"] == "train"]
    assert rows[0]["distill"] == pytest.approx(0.0, abs=1e-6)
    assert rows[-1]["distill"] > 0
    for r in rows:
        assert r["loss"] == pytest.approx(r["mrstft"] + 1000.0 * r["mrwave"] + 2.0 * r["distill"], rel=1e-4)
    with pytest.raises(UsageError, match="--teacher-weight 2.0, not 1.0"):
        train_tdcnn(_cfg(corpus, run, teacher=weights, teacher_weight=1.0, max_steps=4, resume=True))
    with pytest.raises(InputError, match="--teacher"):
        train_tdcnn(_cfg(corpus, tmp_path / "other", teacher=tmp_path / "missing.safetensors"))
    with pytest.raises(UsageError, match="--teacher-weight"):
        _cfg(corpus, tmp_path / "other", teacher=weights, teacher_weight=-1.0)
    with pytest.raises(UsageError, match="add --teacher"):
        _cfg(corpus, tmp_path / "other", teacher_weight=2.0)


def test_runs_from_before_an_option_resume_with_its_old_meaning(corpus, tmp_path):
    # A checkpoint whose config predates --stated-cutoff and --teacher resumes as it ran: design
    # cutoffs, no teacher.
    from tdpr_cli.train.tasks import train_tdcnn

    run = tmp_path / "run"
    train_tdcnn(_cfg(corpus, run, max_steps=2))
    state = run / "checkpoint" / "state.json"
    raw = json.loads(state.read_text())
    for key in ("stated_cutoff", "teacher", "teacher_weight"):
        del raw["config"][key]
    state.write_text(json.dumps(raw))
    train_tdcnn(_cfg(corpus, run, max_steps=3, resume=True))
    assert read_log(run / "log.jsonl")[-1]["step"] >= 3


def test_hiss_is_the_references_noise_floor_and_keeps_the_other_draws(corpus):
    from tdpr_cli.simulate.hiss import HissConfig

    clips = read_clips(corpus / "manifest.json", corpus, "train")
    base = SegmentConfig(batch=3, seconds=0.5)
    plain = SegmentSampler(clips, base, seed=7).batch(4)
    hissy = SegmentSampler(clips, replace(base, hiss=HissConfig(probability=1.0)), seed=7).batch(4)
    # Its own random stream: the same music, level, filter and stated cutoff, and a reference
    # that differs by the hiss alone, at the drawn level.
    np.testing.assert_array_equal(plain[2], hissy[2])
    noise, signal = (hissy[1] - plain[1])[:, 0].astype(np.float64), plain[1][:, 0].astype(np.float64)
    level = 20 * np.log10(np.sqrt((noise**2).mean(-1)) / np.sqrt((signal**2).mean(-1)))
    assert np.all((level > -65.1) & (level < -34.9))
    assert not np.array_equal(plain[0], hissy[0])  # the input is the noisy reference, band-limited
    none = SegmentSampler(clips, replace(base, hiss=HissConfig(probability=0.0)), seed=7).batch(4)
    assert all(np.array_equal(a, b) for a, b in zip(none, plain))


@pytest.mark.parametrize("tilt", [0.0, -3.0])
def test_hiss_has_the_drawn_level_and_slope(tilt):
    from scipy.signal import welch

    from tdpr_cli.simulate.hiss import HissConfig, add_hiss

    x = np.sin(2 * np.pi * 440 * np.arange(64000) / SR)
    cfg = HissConfig(probability=1.0, level_db=(-40.0, -40.0), tilt_db_per_octave=(tilt, tilt))
    noise = add_hiss(x, SR, np.random.default_rng(1), cfg, slice(0, 64000)) - x
    assert 20 * np.log10(noise.std() / x.std()) == pytest.approx(-40.0, abs=0.05)
    f, p = welch(noise, SR, nperseg=1024)

    def band(lo, hi):
        return 10 * np.log10(p[(f >= lo) & (f < hi)].mean())

    assert band(2000, 4000) - band(1000, 2000) == pytest.approx(tilt, abs=0.3)
    assert band(4000, 8000) - band(2000, 4000) == pytest.approx(tilt, abs=0.3)
    with pytest.raises(UsageError, match="hiss-probability"):
        HissConfig(probability=1.5)
