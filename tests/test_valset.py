"""The validation set: deterministic bytes, selection rules, layout and manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from tdpr_cli.errors import InputError, UsageError
from tdpr_cli.evaluation import valset, valset_build
from tdpr_cli.evaluation.metrics import ssr_stft_params
from valset_helpers import make_corpus

CFG = valset.ValsetConfig(clips=3, seconds=2.0, seed=7, cutoffs_hz=(2500.0, 4000.0), kinds=("butterworth", "stft"))


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_regenerates_bit_identically(tmp_path):
    data = make_corpus(tmp_path / "data")
    first = valset_build.build(data, tmp_path / "a", CFG)
    second = valset_build.build(data, tmp_path / "b", CFG)
    assert first == second
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    other = valset_build.build(data, tmp_path / "c", valset.ValsetConfig(**{**CFG.__dict__, "seed": 8}))
    assert [c["start"] for c in other["clips"]] != [c["start"] for c in first["clips"]]


def test_layout_manifest_and_pcm16(tmp_path):
    data = make_corpus(tmp_path / "data")
    out = tmp_path / "vs"
    m = valset_build.build(data, out, CFG)
    assert json.loads((out / "manifest.json").read_text()) == m
    assert len(m["clips"]) == 3 and len(m["items"]) == 3 * 2 * 2
    assert m["complete"] and m["source_manifest"]["valid_pieces"] == 2
    assert {c["soundfont"] for c in m["clips"]} == {"fluidr3", "musescore"}
    assert any("timgm6mb" in note for note in m["notes"])  # only the train split has it
    for rec in m["items"]:
        info = sf.info(out / rec["path"])
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 32000)
        assert rec["order"] in range(6, 11) and rec["path"] == f"lr/{rec['cutoff_hz']:g}/{rec['kind']}/{rec['clip']}.flac"
    for clip in m["clips"]:  # references are the source samples, bit for bit
        ref = sf.read(out / clip["ref"], dtype="int16")[0]
        src = sf.read(data / clip["source"], dtype="int16", start=clip["start"], frames=clip["length"])[0]
        np.testing.assert_array_equal(ref, src)
        assert clip["source"].startswith("valid/")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_selection_skips_silence_and_overlap(tmp_path):
    data = make_corpus(tmp_path / "data")
    sel = valset.select(data, valset.ValsetConfig(clips=99, seconds=2.0))
    assert 0 < len(sel.excerpts) < 99 and "incomplete" in sel.notes[0]
    n_fft, _ = ssr_stft_params(16000)
    spans: dict[str, list[int]] = {}
    for ex in sel.excerpts:
        assert not valset.has_silent_frame(valset.read_excerpt(data, ex))
        assert all(abs(ex.start - s) >= ex.length for s in spans.get(ex.source, []))
        spans.setdefault(ex.source, []).append(ex.start)
    gap = "valid/p-alpha__musescore__0_0.flac"
    assert all(not (16000 - n_fft < ex.start < 72000) for ex in sel.excerpts if ex.source == gap)


def test_has_silent_frame_threshold():
    n_fft, _ = ssr_stft_params(16000)
    x = np.ones(8000, np.int16)
    x[1000 : 1000 + n_fft - 1] = 0
    assert not valset.has_silent_frame(x)
    x[1000 : 1000 + n_fft] = 0
    assert valset.has_silent_frame(x)
    y = np.ones(8000, np.int16)
    y[: n_fft // 2 + 1] = 0  # the first centred frame sees zero padding on its left
    assert valset.has_silent_frame(y)


def test_errors(tmp_path):
    data = make_corpus(tmp_path / "data")
    valset_build.build(data, tmp_path / "vs", CFG)
    with pytest.raises(UsageError, match="--overwrite"):
        valset_build.build(data, tmp_path / "vs", CFG)
    assert valset_build.build(data, tmp_path / "vs", CFG, overwrite=True)["complete"]
    with pytest.raises(UsageError):
        valset.ValsetConfig(clips=0)
    with pytest.raises(UsageError):
        valset.ValsetConfig(kinds=("nope",))
    with pytest.raises(InputError, match="no usable"):
        valset_build.build(data, tmp_path / "long", valset.ValsetConfig(seconds=30.0))
    (data / "valid" / "p-beta__fluidr3__0_0.flac").write_bytes(b"changed")
    with pytest.raises(InputError, match="sha256"):
        valset_build.build(data, tmp_path / "x", valset.ValsetConfig(clips=40, seconds=2.0))


def test_valset_cmd(tmp_path):
    import typer
    from typer.testing import CliRunner

    from tdpr_cli.commands.valset import valset_cmd

    app = typer.Typer()
    app.command()(valset_cmd)
    data = make_corpus(tmp_path / "data")
    r = CliRunner().invoke(app, ["--data", str(data), "--clips", "2", "--seconds", "2", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["clips"] == 2 and summary["items"] == 2 * 4 * 9 and summary["complete"]
    assert (data / "valset" / "manifest.json").is_file()
    again = CliRunner().invoke(app, ["--data", str(data), "--clips", "2", "--seconds", "2"])
    assert isinstance(again.exception, UsageError)
