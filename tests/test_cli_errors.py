"""One line and the documented exit code, never an internal error (70), for what users get wrong
in the commands around restore: degrade, eval table, data render, train (issue 6's contract,
found again by an audit of those commands)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def tdpr(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "tdpr_cli", *map(str, args)], capture_output=True, timeout=300,
                          check=False, env=env, cwd=cwd)


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "in.wav"
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
    return path


def _one_line(r: subprocess.CompletedProcess, code: int, text: str) -> None:
    err = r.stderr.decode()
    assert r.returncode == code, err
    assert text in err and "internal error" not in err and "Traceback" not in err, err


def test_degrade_mistakes(wav, tmp_path):
    _one_line(tdpr("degrade", wav, tmp_path / "a.wav", "--filter", "soft-bessel", "--shelf-db", "nan"), 2, "--shelf-db")
    _one_line(tdpr("degrade", wav, tmp_path / "b.wav", "--seed", "-1"), 2, "--seed")
    (tmp_path / "folder.wav").mkdir()
    _one_line(tdpr("degrade", wav, tmp_path / "folder.wav"), 2, "is a folder")
    _one_line(tdpr("degrade", wav, tmp_path / ("n" * 300 + ".wav")), 4, "cannot be an output")
    (tmp_path / "old.mp4").write_bytes(b"x")
    _one_line(tdpr("degrade", wav, tmp_path / "old.mp4"), 2, "unsupported output extension")  # not "exists"


def test_eval_table_output_is_checked_before_the_work(tmp_path):
    for bad in ("", ".", "/"):
        _one_line(tdpr("eval", "table", "--valset", tmp_path / "none", "--out", bad), 2, "--out")
    (tmp_path / "half.md").mkdir()
    _one_line(tdpr("eval", "table", "--valset", tmp_path / "none", "--out", tmp_path / "half"), 2, "is a folder")
    assert not (tmp_path / "half.json").exists()


def test_data_and_train_folders_in_the_way(wav, tmp_path):
    _one_line(tdpr("data", "render", "--out", wav, "--hours", "0.01"), 4, "cannot create the data folder")
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text(json.dumps({}))
    _one_line(tdpr("train", "tdcnn", "--data", data, "--run", wav, "--max-steps", "1"), 4, "cannot create the run folder")


def test_options_that_would_do_nothing_are_refused(wav, tmp_path):
    _one_line(tdpr("eval", "table", "--valset", tmp_path / "none", "--rows", "input", "--models", "a,b",
                   "--out", tmp_path / "t"), 2, "runs a model")
    _one_line(tdpr("report", wav, wav, "--out", tmp_path / "r.png", "--phase", "none", "--model", "nosuch"), 2,
              "--phase none")
    _one_line(tdpr("train", "tdcnn", "--data", tmp_path, "--run", tmp_path / "run", "--channels", "0"), 2, "--channels")
    r = tdpr("degrade", wav, tmp_path / "d.ogg", "--subtype", "PCM_24", "--filter", "ellip")
    assert r.returncode == 0 and b"does not apply" in r.stderr, r.stderr.decode()


def test_a_bad_jobs_value_is_named_as_such_for_one_file(wav, tmp_path):
    _one_line(tdpr("restore", wav, tmp_path / "o.wav", "--jobs", "abc"), 2, "--jobs must be auto or a number")
    _one_line(tdpr("restore", wav, tmp_path / "o.wav", "--jobs", "2"), 2, "--jobs is for folder runs")


def test_a_missing_input_is_named_before_the_options_are_judged(tmp_path):
    # `tdpr restore nonexist --out x` said "--out is for folder input" (exit 2).
    _one_line(tdpr("restore", tmp_path / "nonexist", "--out", tmp_path / "x"), 4, "no such file or folder")


def test_eval_names_the_pair_whose_lengths_differ(tmp_path):
    short, long = tmp_path / "s.wav", tmp_path / "l.wav"
    sf.write(short, np.full(8000, 0.1, np.float32), 16000)
    sf.write(long, np.full(16000, 0.1, np.float32), 16000)
    _one_line(tdpr("eval", short, long), 2, f"{short} vs {long}: lengths differ")


def test_a_folder_name_too_long_for_the_file_system_is_exit_4(tmp_path, wav):
    long = tmp_path / ("x" * 300)
    _one_line(tdpr("restore", wav.parent, "--out", long), 4, "cannot be a")
    _one_line(tdpr("weights", "fetch", "seanet-piano-16k-v6", "--offline", "--to", long), 4, "cannot be a")
