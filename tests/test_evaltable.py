"""``tdpr eval table``: the paper's Table 1 protocol on a tiny validation set with tiny models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import make_tiny_models
from tdpr_cli.errors import UsageError
from tdpr_cli.evaluation import table as evaltable
from tdpr_cli.evaluation import table_report as evaltable_report
from tdpr_cli.evaluation import valset, valset_build
from tdpr_cli.evaluation.files import load_16k
from tdpr_cli.evaluation.metrics import lsd
from tdpr_cli.evaluation.valset_index import load_index
from valset_helpers import make_corpus

CFG = valset.ValsetConfig(clips=2, seconds=2.0, seed=3, cutoffs_hz=(3000.0, 4000.0), kinds=("butterworth", "stft", "soft-bessel"))


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("vs")
    valset_build.build(make_corpus(root / "data"), root / "valset", CFG)
    return root / "valset"


@pytest.fixture(scope="module")
def result(tiny_set, tmp_path_factory):
    tdcnn, vocoder = make_tiny_models(tmp_path_factory.mktemp("models"))
    runner = evaltable.ModelRunner(tdcnn, vocoder, "cpu")
    return evaltable.run(load_index(tiny_set), list(evaltable.ROWS), runner, seed=0)


def test_all_rows_and_columns(result):
    assert result["rows"] == list(evaltable.ROWS) and result["cutoffs"] == ["3000", "4000"]
    assert len(result["records"]) == 2 * 2 * 3 * len(evaltable.ROWS)
    for row in result["rows"]:
        agg = result["summary"][row]["lsd"]
        assert set(agg["by_cutoff"]) == set(agg["spread"]) == {"3000", "4000"}
        assert all(v is not None and np.isfinite(v) for v in [*agg["by_cutoff"].values(), agg["avg"]])
        assert 0.0 < result["summary"][row]["lsd_high"]["avg"] < 10.0
        for metric in ("phase_cos_high", "phase_cos_low"):  # 1 - cos: 0 same phase, 1 unrelated, 2 opposite
            assert 0.0 <= result["summary"][row][metric]["avg"] <= 2.0
    high = {row: result["summary"][row]["phase_cos_high"]["avg"] for row in result["rows"]}
    low = {row: result["summary"][row]["phase_cos_low"]["avg"] for row in result["rows"]}
    # The reference's own phase in the generated band scores near 0 (0.11 here: STFT
    # inconsistency), a random one near 1 (noise fill); every other row lies well above the first.
    assert high["tdcnn-gt-phase"] < 0.3 and 0.8 < high["noise-fill"] < 1.2
    assert all(v > high["tdcnn-gt-phase"] + 0.4 for row, v in high.items() if row != "tdcnn-gt-phase")
    # Below the cutoff the input's phase is kept by every mode but paper, which replaces all bins.
    assert max(low["input"], low["tdcnn"], low["tdpr-band"]) < 0.01 and low["tdpr-paper"] > 0.5
    md = evaltable_report.render_markdown(result)
    for label in ("input", "noise-fill", "TD-CNN", "TD-PR paper", "TD-PR band", "TD-CNN + GT phase"):
        assert f"| {label} |" in md
    assert "| system | filters | 3 kHz | 4 kHz | AVG | spread 3 kHz | spread 4 kHz |" in md
    assert "| TD-CNN | paper |" in md and "| TD-CNN | soft |" in md
    # The input compared with itself below its cutoff: exactly kept.
    assert result["summary"]["input"]["low_keep"]["avg"] == pytest.approx(0.0, abs=1e-9)
    assert result["summary"]["input"]["bias_4k"]["avg"] > 0.5  # an empty band is far too quiet
    assert "## Level bias per 500 Hz band" in md and "| system | 3 | 3.5 |" not in md


def test_low_keep_band_ends_where_the_input_stops_being_intact(tiny_set):
    # low_keep compares output and input only where the filter has taken away <= 1 dB:
    # up to cutoff - 500 Hz for a Butterworth, far lower for ssr_eval's cheby2 and bessel.
    from pathlib import Path

    from tdpr_cli.evaluation.valset_index import ValsetItem

    def top(kind, order=8):
        return evaltable.low_keep_top_hz(ValsetItem("c", "3000", 3000.0, kind, order, Path("x"), Path("y")))

    assert top("butterworth") == top("stft") == 2500.0
    assert 1900 < top("cheby2") < 2070 and 600 < top("bessel") < 900
    index = load_index(tiny_set)
    assert all(50.0 < evaltable.low_keep_top_hz(item) <= item.cutoff_hz - 500.0 for item in index.items)


def test_input_row_is_lsd_of_the_lr_file(result, tiny_set):
    index = load_index(tiny_set)
    recs = {(r["clip"], r["cutoff"], r["kind"]): r for r in result["records"] if r["row"] == "input"}
    for item in index.items:
        expected = lsd(load_16k(item.path), load_16k(item.ref))
        assert recs[item.clip, item.cutoff, item.kind]["metrics"]["lsd"] == pytest.approx(expected, abs=1e-9)
    agg = result["summary"]["input"]["lsd"]
    for c in ("3000", "4000"):
        at_c = [r for r in recs.values() if r["cutoff"] == c and r["kind"] != "soft-bessel"]
        soft = [r["metrics"]["lsd"] for r in recs.values() if r["cutoff"] == c and r["kind"] == "soft-bessel"]
        assert agg["by_cutoff"][c] == pytest.approx(np.mean([r["metrics"]["lsd"] for r in at_c]))
        assert agg["soft_by_cutoff"][c] == pytest.approx(np.mean(soft))
        per_kind = [np.mean([r["metrics"]["lsd"] for r in at_c if r["kind"] == k]) for k in ("butterworth", "stft")]
        assert agg["spread"][c] == pytest.approx(max(per_kind) - min(per_kind))
    assert agg["avg"] == pytest.approx(np.mean(list(agg["by_cutoff"].values())))
    assert agg["by_cutoff"]["3000"] > agg["by_cutoff"]["4000"] > 0  # narrower input, worse LSD


def test_oracle_phase_is_the_reference_phase(result):
    s = result["summary"]
    oracle = s["tdcnn-gt-phase"]["phase_cos_high"]["avg"]
    # Not exactly 0: the random tiny model's high-band magnitude with the reference
    # phase is no consistent STFT, so the inverse STFT moves the phase a little.
    assert oracle < 0.15 and oracle < s["tdcnn"]["phase_cos_high"]["avg"] / 5
    assert s["tdcnn-gt-phase"]["phase_cos_low"]["avg"] < 0.01
    # Band mode keeps the TD-CNN phase below the cutoff; paper mode replaces it there too.
    assert s["tdpr-band"]["phase_cos_low"]["avg"] < s["tdpr-paper"]["phase_cos_low"]["avg"]
    # The oracle keeps the TD-CNN magnitude: its LSD stays near the TD-CNN's.
    assert s["tdcnn-gt-phase"]["lsd"]["avg"] == pytest.approx(s["tdcnn"]["lsd"]["avg"], rel=0.2)


def test_json_round_trips(result, tmp_path):
    md, js = evaltable_report.write({**result, "models": {"tdcnn": "tiny"}}, tmp_path / "out" / "table")
    loaded = json.loads(js.read_text())
    assert loaded == json.loads(json.dumps({**result, "models": {"tdcnn": "tiny"}}))
    assert evaltable_report.render_markdown(loaded) == md.read_text()
    assert sorted(p.name for p in md.parent.iterdir()) == ["table.json", "table.md"]


def test_rows_and_limit(tiny_set):
    assert evaltable.parse_rows("tdpr-band, input") == ["input", "tdpr-band"]
    with pytest.raises(UsageError, match="unknown"):
        evaltable.parse_rows("input,bogus")
    with pytest.raises(UsageError, match="need models"):
        evaltable.run(load_index(tiny_set), ["input", "tdcnn"], None)
    small = evaltable.run(load_index(tiny_set, limit=1), ["input", "noise-fill"])
    assert small["valset"]["clips"] == 1 and len(small["records"]) == 2 * 2 * 3
    nf = small["summary"]["noise-fill"]["lsd_high"]["avg"]
    assert nf < small["summary"]["input"]["lsd_high"]["avg"]  # noise beats an empty band


def _tdpr(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tdpr_cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_table_with_tiny_models(tiny_env, tiny_set, tmp_path):
    r = _tdpr("eval", "table", "--valset", tiny_set, "--out", tmp_path / "t", "--limit", "1",
              "--threads", "1", "--device", "cpu", "--json", env=tiny_env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["rows"] == list(evaltable.ROWS) and "records" not in summary
    assert set(summary["models"]) == {"tdcnn", "vocoder"}
    assert (tmp_path / "t.md").read_text().startswith("# tdpr eval table")


def test_cli_pair_and_help(tiny_set, tmp_path):
    index = load_index(tiny_set)
    item = index.items[0]
    r = _tdpr("eval", "--cutoff", item.cutoff, item.path, item.ref, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["lsd"] == pytest.approx(lsd(load_16k(item.path), load_16k(item.ref)))
    for args in (("eval", "--help"), ("eval", "table", "--help"), ("eval", "pair", "--help")):
        assert _tdpr(*args).returncode == 0
    assert _tdpr("eval", "table", "--valset", tmp_path / "none").returncode == 4
