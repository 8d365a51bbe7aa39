"""Issue 6: outputs, folder runs and determinism, through the whole ``tdpr restore``.

Outputs: never over the input (however spelled or linked), missing folders
created, unwritable ones exit 4, existing files kept unless --overwrite. Folder
runs: every good file restored, every failure reported. Same input, same bytes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reliability_helpers import (
    SR,
    assert_failed,
    clip,
    leftovers,
    sha,
    wav_bytes,
    with_sample,
)
from tdpr_cli.audio.resample import output_length

pytest_plugins = ("reliability_fixtures",)  # fixtures: cli, config_env, good_wav


# --- outputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["same_path", "other_spelling", "symlink", "hardlink"])
def test_output_equal_to_input_is_refused(cli, tmp_path, good_wav, how):
    out = {"same_path": good_wav, "other_spelling": tmp_path / "." / "in.wav",
           "symlink": tmp_path / "link.wav", "hardlink": tmp_path / "hard.wav"}[how]
    if how == "symlink":
        out.symlink_to(good_wav)
    elif how == "hardlink":
        os.link(good_wav, out)
    digest = sha(good_wav)
    res = cli(good_wav, out, "--overwrite")  # even --overwrite never writes over the input
    assert res.code == 4 and "never writes over its input" in res.err
    assert sha(good_wav) == digest and leftovers(tmp_path) == []
    assert how != "symlink" or out.is_symlink()


def test_missing_output_folders_are_created(cli, tmp_path, good_wav):
    out = tmp_path / "a" / "b" / "c" / "o.flac"
    assert cli(good_wav, out).code == 0
    assert sf.info(out).frames == len(clip())


def test_a_folder_as_the_output_file_is_a_usage_error(cli, tmp_path, good_wav):
    # README: "a folder given where a file was expected" is exit 2 (it was 4).
    folder = tmp_path / "take"
    folder.mkdir()
    res = cli(good_wav, folder)
    assert res.code == 2 and "is a folder" in res.err and "Traceback" not in res.err
    assert list(folder.iterdir()) == []


def test_an_output_name_too_long_for_the_file_system_is_exit_4(cli, tmp_path, good_wav):
    out = tmp_path / ("a" * 256 + ".wav")  # over NAME_MAX: was an internal error (exit 70)
    assert_failed(cli(good_wav, out), 4, out.name[:40], tmp_path / "none.wav", {}, "cannot be an output")


def test_output_under_a_regular_file_is_exit_4(cli, tmp_path, good_wav):
    (tmp_path / "somefile").write_text("not a folder")
    out = tmp_path / "somefile" / "sub" / "o.wav"
    res = cli(good_wav, out)
    assert_failed(res, 4, str(out), out, {}, "is a file")
    assert (tmp_path / "somefile").read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into mode-555 folders")
def test_read_only_output_folder_is_exit_4(cli, tmp_path, good_wav):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    out = folder / "o.wav"
    try:
        assert_failed(cli(good_wav, out), 4, str(out), out, {}, "not writable")
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("side", ["input", "output folder"])
def test_permission_checks_even_as_root(cli, tmp_path, good_wav, monkeypatch, side):
    """Root ignores file modes, so the permission branches are driven through os.access."""
    out = tmp_path / "out" / "o.wav"
    out.parent.mkdir()
    denied = good_wav if side == "input" else out.parent
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == denied else real(p, mode, **kw))
    text = "permission denied" if side == "input" else "is not writable"
    assert_failed(cli(good_wav, out), 4, str(good_wav if side == "input" else out), out, {}, text)


def test_existing_output_is_kept_unless_overwrite(cli, tmp_path, good_wav):
    out = tmp_path / "o.wav"
    out.write_bytes(b"precious")
    res = cli(good_wav, out)
    assert res.code == 4 and "--overwrite" in res.err and out.read_bytes() == b"precious"
    assert cli(good_wav, out, "--overwrite").code == 0
    assert sf.info(out).frames == len(clip()) and leftovers(tmp_path) == []


def test_missing_input_with_existing_output(cli, tmp_path):
    """os.path.samefile on a missing input used to escape as FileNotFoundError."""
    out = tmp_path / "o.wav"
    out.write_bytes(b"keep")
    res = cli(tmp_path / "nope.wav", out, "--overwrite")
    assert res.code == 4 and "no such file" in res.err and out.read_bytes() == b"keep"


# --- batch -------------------------------------------------------------------------------


def test_batch_with_corrupt_files(cli, tmp_path, monkeypatch):
    root, out = tmp_path / "archive", tmp_path / "restored"
    (root / "disc2").mkdir(parents=True)
    sf.write(root / "a.wav", clip(0.4), SR)
    sf.write(root / "disc2" / "b.flac", clip(0.4, 44100, 2), 44100)
    bad = {
        "empty.wav": b"",
        "junk.wav": b"not audio at all" * 10,
        "disc2/nan.wav": with_sample(np.nan),
        "disc2/cut.flac": wav_bytes(clip(3.0), fmt="FLAC")[:6000],
    }
    for name, data in bad.items():
        (root / name).write_bytes(data)
    digests = {p: sha(p) for p in root.rglob("*") if p.is_file()}
    res = cli(root, "--out", out, "--json")
    assert res.code == 1 and "Traceback" not in res.err
    recs = {str(Path(r["input"]).relative_to(root)): r for r in map(json.loads, res.out.splitlines())}
    assert recs["a.wav"]["status"] == "ok" and recs["disc2/b.flac"]["status"] == "ok"
    for name in bad:
        assert recs[name]["status"] == "error" and recs[name]["message"], name
        assert f"failed: {root / name}: " in res.err  # the summary names each file with its reason
        assert not (out / name).exists()
    assert res.error_lines() == [f"tdpr: error: {len(bad)} of {len(bad) + 2} files failed"]
    assert sf.info(out / "a.wav").frames == output_length(len(clip(0.4)), SR)
    assert sf.info(out / "disc2" / "b.flac").channels == 2
    assert leftovers(out) == [] and leftovers(root) == []
    assert all(sha(p) == d for p, d in digests.items())


def test_discover_names_and_nesting(tmp_path):
    from tdpr_cli.restore.file import discover

    parent = tmp_path / "work"
    root = parent / "music"
    (root / "sub").mkdir(parents=True)
    for name in ("a.mp3", "a.wav", "b.mp3", "sub/c.WAV", ".hidden.wav", "notes.txt"):
        (root / name).write_bytes(b"x")
    (root / "loop").symlink_to(root)  # a folder symlink loop must not be followed
    pairs = discover(root, parent)  # the output folder contains the input folder
    outs = {a.relative_to(root).as_posix(): b.relative_to(parent).as_posix() for a, b in pairs}
    assert outs == {"a.mp3": "a.mp3.wav", "a.wav": "a.wav", "b.mp3": "b.wav", "sub/c.WAV": "sub/c.WAV"}
    inner = discover(root, root / "restored")  # and an output folder inside the input is skipped
    (root / "restored").mkdir()
    (root / "restored" / "a.wav").write_bytes(b"x")
    assert len(discover(root, root / "restored")) == len(inner) == 4


# --- determinism -------------------------------------------------------------------------


def test_same_input_same_output_bits(cli, tmp_path, good_wav):
    """Byte-identical files, not just samples: float WAV/AIFF used to carry a write timestamp."""
    names = [("o.wav", "FLOAT"), ("o.aiff", "FLOAT"), ("o.flac", "PCM_16"), ("o16.wav", "PCM_16")]
    digests = []
    for run in ("one", "two"):
        for name, subtype in names:
            out = tmp_path / run / name
            # Same options, thread count included (the default follows the load average).
            assert cli(good_wav, out, "--subtype", subtype, "--threads", "1").code == 0
        digests.append([sha(tmp_path / run / name) for name, _ in names])
        time.sleep(1.1)  # the timestamp had a resolution of one second
    assert digests[0] == digests[1]


def test_batch_file_names_with_brackets(cli, tmp_path):
    root = tmp_path / "archive"
    root.mkdir()
    sf.write(root / "take [red]1.wav", clip(0.4), SR)
    (root / "[bold]broken.wav").write_bytes(b"junk" * 20)
    res = cli(root, "--out", tmp_path / "out")
    assert res.code == 1 and "[bold]broken.wav" in res.err and "take [red]1.wav" in res.err
