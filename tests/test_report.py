"""Spectrogram reports: files exist, PNGs decode at the fixed size, HTML embeds and links."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import band_limited, make_tiny_models

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which must come first."""
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)]


def tdpr(*args, env):
    return subprocess.run([sys.executable, "-m", "tdpr_cli", *map(str, args)], env=env, capture_output=True, timeout=300, check=False)


@pytest.fixture
def trio(tmp_path):
    """(input 44.1 kHz stereo band-limited, output restored by tiny models at 16 kHz, reference)."""
    from tdpr_cli.audio.resample import resample
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.restore.pipeline import Restorer

    x = band_limited(2.5, 44100, 3000, channels=2)
    ref = band_limited(2.5, 44100, 7900, channels=2)
    paths = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "ref.wav"
    sf.write(paths[0], x, 44100)
    sf.write(paths[2], ref, 44100)
    restorer = Restorer(*make_tiny_models(tmp_path / "models"), RestoreConfig())
    x16 = resample(x.T, 44100)
    sf.write(paths[1], restorer.restore(x16, 3000.0).T, 16000)
    return paths, restorer


def test_png_and_html_reports(trio, tmp_path):
    import matplotlib.image as mpimg

    from tdpr_cli.report.analyse import build_report, write_report
    from tdpr_cli.report.phase_view import PHASE_FRAMES
    from tdpr_cli.report.plot import pixel_size

    (inp, out, ref), restorer = trio
    data = build_report(inp, out, ref=ref, restorer=restorer, header={"models": "tiny"})
    assert abs(data.cutoff_hz - 3000) < 400
    assert set(data.phase.series) == {"input", "TD-CNN", "TD-PR", "reference"}
    assert all(len(s) == PHASE_FRAMES for s in data.phase.series.values())
    assert data.phase.freq_hz > data.cutoff_hz
    assert data.metrics["output"]["lsd"] < data.metrics["input"]["lsd"] + 5  # scored, finite
    png = write_report(data, tmp_path / "r.png")
    w, h = pixel_size()
    assert png_size(png.read_bytes()) == (w, h)
    assert mpimg.imread(png).shape[:2] == (h, w)
    page = write_report(data, tmp_path / "r.html").read_text()
    images = embedded_pngs(page)
    assert len(images) == 1 and png_size(images[0]) == (w, h)
    assert "metrics against the reference" in page and "lsd_high" in page
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_spectrogram_is_bounded_and_block_invariant():
    from tdpr_cli.report.analyse import SpectrogramAccumulator

    x = np.random.default_rng(0).standard_normal(16000 * 20).astype(np.float32)
    whole = SpectrogramAccumulator(len(x), columns=50)
    whole.add(x)
    pieces = SpectrogramAccumulator(len(x), columns=50)
    for block in np.array_split(x, 37):
        pieces.add(block)
    (a, col_a), (b, col_b) = whole.result(), pieces.result()
    assert a.shape == b.shape and a.shape[0] == 513 and a.shape[1] <= 50 and col_a == col_b
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_missing_matplotlib_is_a_usage_error(monkeypatch):
    from tdpr_cli.errors import UsageError
    from tdpr_cli.report.analyse import require_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError, match=r"tdpr-cli\[report\]"):
        require_matplotlib()


def test_restore_report_and_usage_errors(tiny_env, wav_in, tmp_path):
    from tdpr_cli.report.plot import pixel_size

    png = tmp_path / "rep" / "r.png"
    r = tdpr("restore", wav_in, tmp_path / "o.wav", "--report", png, env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert png_size(png.read_bytes()) == pixel_size()
    assert f"report: {png}" in r.stderr.decode()  # where it went, as folder runs say of their index
    r = tdpr("restore", wav_in, tmp_path / "f.wav", "--report", tmp_path / "f.png", "--report-format", "png", env=tiny_env)
    assert r.returncode == 2 and b"--report-format is for --report-dir" in r.stderr  # not silently ignored
    assert not (tmp_path / "f.wav").exists() and not (tmp_path / "f.png").exists()
    bad = tdpr("restore", wav_in, tmp_path / "p.wav", "--report", tmp_path / "r.jpg", env=tiny_env)
    assert bad.returncode == 2 and b".png or .html" in bad.stderr
    assert not (tmp_path / "p.wav").exists()  # refused before any work


def test_report_dir_indexes_every_file(tiny_env, tmp_path):
    root, out, reports = tmp_path / "archive", tmp_path / "restored", tmp_path / "reports"
    (root / "sub").mkdir(parents=True)
    sf.write(root / "a.wav", band_limited(1.0), 16000)
    sf.write(root / "sub" / "b.flac", band_limited(1.0, seed=2), 16000)
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    r = tdpr("restore", root, "--out", out, "--report-dir", reports, env=tiny_env)
    assert r.returncode == 1, r.stderr.decode()  # the broken file fails, the others are reported
    index = (reports / "index.html").read_text()
    links = re.findall(r"href='([^']+)'", index)
    assert sorted(links) == ["a.wav.html", "sub/b.flac.html"]
    for link in links:
        assert len(embedded_pngs((reports / link).read_text())) == 1
    assert "broken.wav" in index and "error" in index
    # A rerun that skips the done files still links their reports (it linked only new ones).
    sf.write(root / "new.wav", band_limited(1.0, seed=4), 16000)
    r = tdpr("restore", root, "--out", out, "--report-dir", reports, "--skip-existing", env=tiny_env)
    assert r.returncode == 1, r.stderr.decode()
    links = re.findall(r"href='([^']+)'", (reports / "index.html").read_text())
    assert sorted(links) == ["a.wav.html", "new.wav.html", "sub/b.flac.html"]
    pngs = tmp_path / "pngs"
    r = tdpr("restore", root, "--out", tmp_path / "again", "--report-dir", pngs, "--report-format", "png", env=tiny_env)
    assert r.returncode == 1, r.stderr.decode()
    links = re.findall(r"href='([^']+)'", (pngs / "index.html").read_text())
    assert sorted(links) == ["a.wav.png", "new.wav.png", "sub/b.flac.png"]
    assert all((pngs / link).read_bytes()[:8] == PNG_MAGIC for link in links)
    bad = tdpr("restore", root, "--out", tmp_path / "x", "--report-dir", pngs, "--report-format", "pdf", env=tiny_env)
    assert bad.returncode == 2 and b"--report-format" in bad.stderr


def test_report_command_with_and_without_weights(tiny_env, trio, tmp_path):
    (inp, out, ref), _ = trio
    page = tmp_path / "x.html"
    r = tdpr("report", inp, out, "--ref", ref, "--out", page, env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    text = page.read_text()
    assert "metrics against the reference" in text and "tiny-seanet@" in text
    assert "phase view omitted" not in text
    # Weights unavailable: the user lock's default TD-CNN is a hub model that is not cached, offline.
    cfg = tmp_path / "uncached"
    cfg.mkdir()
    (cfg / "weights.lock").write_text(
        'version = 1\n[defaults]\ntdcnn = "remote-only"\n\n[[model]]\nname = "remote-only"\nkind = "tdcnn"\n'
        f'config_sha256 = "{"a" * 64}"\n'
        f'source = {{ type = "hf", repo_id = "nobody/none", revision = "{"b" * 40}" }}\n\n'
        f'[[model.file]]\nfilename = "m.safetensors"\nsha256 = "{"c" * 64}"\nsize = 10\n\n'
        f'[[model.file]]\nfilename = "m.json"\nsha256 = "{"d" * 64}"\nsize = 10\n'
    )
    bare = dict(tiny_env, TDPR_CONFIG_DIR=str(cfg), HF_HOME=str(tmp_path / "hf"))
    r = tdpr("report", inp, out, "--out", tmp_path / "y.html", "--offline", env=bare)
    assert r.returncode == 0, r.stderr.decode()
    assert "phase view omitted" in (tmp_path / "y.html").read_text()


def test_report_takes_local_weights_like_restore(tiny_env, trio, tmp_path):
    # The model-loading options are the same for restore, eval table and report (options.py);
    # report had no --weights/--sha256/--trust-local. Asked-for weights that fail are an error.
    import hashlib
    from pathlib import Path

    (inp, out, _), _ = trio
    weights = Path(tiny_env["TDPR_CONFIG_DIR"]) / "models" / "tiny-seanet.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    page = tmp_path / "w.html"
    r = tdpr("report", inp, out, "--out", page, "--weights", weights, "--sha256", digest, env=tiny_env)
    assert r.returncode == 0, r.stderr.decode()
    assert "phase view omitted" not in page.read_text() and digest[:12] in page.read_text()
    bad = tdpr("report", inp, out, "--out", tmp_path / "b.html", "--weights", weights, "--sha256", "0" * 64,
               env=tiny_env)
    assert bad.returncode == 3 and b"sha256" in bad.stderr and not (tmp_path / "b.html").exists()


def test_excerpts_of_files_at_different_rates_line_up(tmp_path):
    from scipy.signal import resample_poly

    from tdpr_cli.report.phase_view import EXCERPT_GRID, excerpt_16k

    x16 = band_limited(3.0, 16000, 3000)[:, 0]
    sf.write(tmp_path / "a16.wav", x16, 16000, subtype="FLOAT")
    sf.write(tmp_path / "a44.wav", resample_poly(x16, 441, 160), 44100, subtype="FLOAT")
    start = 20 * EXCERPT_GRID
    a, b = excerpt_16k(tmp_path / "a16.wav", start, 8000), excerpt_16k(tmp_path / "a44.wav", start, 8000)
    np.testing.assert_array_equal(a, x16[start : start + 8000])
    assert np.max(np.abs(b - a)) < 2e-3 * np.max(np.abs(a))  # same samples, up to the resampling filters


def _longest_dark_run(row: np.ndarray) -> int:
    """Longest run of dark pixels in one image row (axis frames are long dark lines)."""
    best = run = 0
    for dark in row:
        run = run + 1 if dark else 0
        best = max(best, run)
    return best


def test_passthrough_layout_gives_the_spectrum_the_room_and_keeps_notes_inside(tmp_path):
    """Rendered and measured: no phase panel, a wide spectrum, notes wrapped within the image."""
    import matplotlib.image as mpimg

    from tdpr_cli.report.analyse import build_report, write_report

    rng = np.random.default_rng(3)
    wide = (0.1 * rng.standard_normal((32000, 1))).astype(np.float32)
    sf.write(tmp_path / "in.wav", wide, 16000)
    sf.write(tmp_path / "out.wav", wide, 16000)
    note = "phase view omitted: input passed through (input is already wideband (>= 7000 Hz); " * 2
    data = build_report(tmp_path / "in.wav", tmp_path / "out.wav", restorer=None, header={}, notes=[note])
    with _no_warnings():
        img = mpimg.imread(write_report(data, tmp_path / "r.png"))
    h, w = img.shape[:2]
    dark = img[..., :3].mean(axis=-1) < 0.3
    bottom = dark[int(h * 0.62):]
    # The long-term spectrum spans most of the width: its frame is one long dark line.
    assert max(_longest_dark_run(r) for r in bottom) > 0.6 * w
    # Nothing is cut off at the right edge, and the note appears once (one block of text rows).
    assert not dark[:, -4:].any()
    text_cols = dark[int(h * 0.62):, int(w * 0.74):]
    assert text_cols.any()


class _no_warnings:
    """Fail on any warning raised inside the block (matplotlib layout warnings leaked to stderr)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self.caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        assert not self.caught, [str(w.message) for w in self.caught]


def test_silence_draws_dark_on_a_sane_axis(tmp_path):
    """Digital silence: spectrograms in the darkest colours (not the brightest), the LTAS axis at 0 dB."""
    import matplotlib.image as mpimg

    from tdpr_cli.report.analyse import build_report, write_report
    from tdpr_cli.report.plot import LTAS_TOP_MIN_DB, SPEC_TOP_MIN_DB

    silent = np.zeros((32000, 1), np.float32)
    sf.write(tmp_path / "in.wav", silent, 16000)
    sf.write(tmp_path / "out.wav", silent, 16000)
    data = build_report(tmp_path / "in.wav", tmp_path / "out.wav", restorer=None, header={}, notes=["silent"])
    assert data.input.spec_db.max() < SPEC_TOP_MIN_DB and data.input.ltas_db.max() < LTAS_TOP_MIN_DB
    with _no_warnings():
        img = mpimg.imread(write_report(data, tmp_path / "r.png"))[..., :3]
    h, w = img.shape[:2]
    # The middle of the first spectrogram panel (input, left half of the middle row).
    panel = img[int(h * 0.30) : int(h * 0.50), int(w * 0.08) : int(w * 0.35)]
    assert panel.mean() < 0.1, panel.mean()  # magma's darkest end, not its bright yellow top


def test_an_unsure_detection_points_at_the_report_being_drawn(tiny_env, tmp_path):
    # The bundled example reads as unsure (confidence 0.83 < 0.85): the log line suggests
    # --report, or, when the run draws one, that report; the JSON message says the same.
    import json
    from pathlib import Path

    from tdpr_cli.dsp.bandwidth import UNSURE_HINT, UNSURE_HINT_REPORTED

    example = Path(__file__).resolve().parents[1] / "examples" / "handel-lascia-3k.flac"
    plain = tdpr("restore", example, tmp_path / "a.wav", "--json", env=tiny_env)
    assert plain.returncode == 0 and UNSURE_HINT in json.loads(plain.stdout)["message"]
    drawn = tdpr("restore", example, tmp_path / "b.wav", "--json", "--report", tmp_path / "b.html", env=tiny_env)
    assert drawn.returncode == 0, drawn.stderr.decode()
    message = json.loads(drawn.stdout)["message"]
    assert UNSURE_HINT_REPORTED in message and UNSURE_HINT not in message
    assert UNSURE_HINT_REPORTED.encode() in drawn.stderr
    assert "cpu (torch, " in (tmp_path / "b.html").read_text()  # tiny models have no graph: torch ran them
    page = tmp_path / "c.html"  # the report itself does not send its reader to --report
    assert tdpr("report", example, tmp_path / "a.wav", "--out", page, "--phase", "none", env=tiny_env).returncode == 0
    assert "check with --report" not in page.read_text() and "set --cutoff HZ if wrong" in page.read_text()
    from tdpr_cli.report.batch import runtime_note

    assert runtime_note("cpu", "onnxruntime", 1) == "cpu (onnxruntime, 1 thread)" and runtime_note("cpu", None, None) == "cpu"


def test_report_header_says_where_the_cutoff_came_from():
    from tdpr_cli.report.batch import _cutoff_note
    from tdpr_cli.restore.file import FileRecord

    assert _cutoff_note(FileRecord("i", "o", cutoff_hz=3000.0, detected_cutoff_hz=3000.0)) == "3000 Hz (detected)"
    told = FileRecord("i", "o", cutoff_hz=3500.0, detected_cutoff_hz=2781.3)
    assert _cutoff_note(told) == "3500 Hz (--cutoff; detected 2781 Hz)"
    assert _cutoff_note(FileRecord("i", "o")) == "-"


def test_report_keeps_its_inputs_and_existing_files_and_checks_the_cutoff(tiny_env, trio, tmp_path):
    # `tdpr report in.flac out.wav -o out.wav.png` is fine; `-o` naming an input replaced the
    # audio with a PNG; an existing report was replaced silently; --cutoff -5 drew nonsense.
    import shutil

    (inp, out, _), _ = trio
    disguised = tmp_path / "copy.png"
    shutil.copy(out, disguised)
    before = disguised.read_bytes()
    r = tdpr("report", inp, disguised, "--out", disguised, "--phase", "none", env=tiny_env)
    assert r.returncode == 4 and b"never writes over its inputs" in r.stderr and disguised.read_bytes() == before
    page = tmp_path / "r.png"
    page.write_bytes(b"older report")
    r = tdpr("report", inp, out, "--out", page, "--phase", "none", env=tiny_env)
    assert r.returncode == 4 and b"--overwrite" in r.stderr and page.read_bytes() == b"older report"
    assert tdpr("report", inp, out, "--out", page, "--phase", "none", "--overwrite", env=tiny_env).returncode == 0
    for bad in ("-5", "0", "9000", "inf", "nan"):
        r = tdpr("report", inp, out, "--out", tmp_path / "c.png", f"--cutoff={bad}", env=tiny_env)
        assert r.returncode == 2 and b"--cutoff" in r.stderr and b"Warning" not in r.stderr, (bad, r.stderr)
