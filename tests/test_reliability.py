"""Issue 6: bad inputs and odd-but-valid inputs, through the whole ``tdpr restore``.

Every failing case must give the documented exit code, one readable
``tdpr: error:`` line naming the file, no traceback, no output and no stray
temporary file, and must leave the input byte-for-byte unchanged. Every
unusual-but-valid case must give a correct 16 kHz output. All audio is
generated here; the only literal bytes are a few header fragments.
"""

from __future__ import annotations

import json
import os
import struct
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


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    b[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(b)


# name -> (file contents, expected text in the error line). Exit code 4 for all.
BAD_BYTES = {
    "empty": (lambda: b"", "empty file"),
    "zero_frames": (lambda: wav_bytes(np.zeros((0, 1), np.float32)), "no audio frames"),
    "truncated_header": (lambda: wav_bytes(clip())[:30], "not readable audio"),
    "riff_only": (lambda: b"RIFF\x24\x00\x00\x00WAVEfmt ", "not readable audio"),
    "not_audio": (lambda: b"%PDF-1.4\n" + bytes(range(256)) * 16, "not readable audio"),
    "text": (lambda: b"this is not a sound file\n" * 40, "not readable audio"),
    "nan": (lambda: with_sample(np.nan), "NaN or infinite sample at frame 100"),
    "inf": (lambda: with_sample(np.inf), "NaN or infinite sample at frame 100"),
    "rate_1hz": (lambda: _patched(wav_bytes(clip()), 24, "<I", 1), "invalid header"),
    "rate_huge": (lambda: _patched(wav_bytes(clip()), 24, "<I", 2**31 - 1), "invalid header"),
    "zero_channels": (lambda: _patched(wav_bytes(clip()), 22, "<H", 0), "not readable audio"),
    "truncated_flac": (lambda: wav_bytes(clip(3.0), fmt="FLAC")[:6000], "read failed"),
}


@pytest.mark.parametrize("case", sorted(BAD_BYTES))
def test_bad_input_bytes(cli, tmp_path, case):
    make, text = BAD_BYTES[case]
    src = tmp_path / f"{case}.wav"
    src.write_bytes(make())
    out = tmp_path / "out" / "o.wav"
    digest = sha(src)
    assert_failed(cli(src, out), 4, src.name, out, {src: digest}, text)


def _bad_path(tmp_path: Path, case: str) -> Path:
    if case == "missing":
        return tmp_path / "missing.wav"
    if case == "dangling_symlink":
        (tmp_path / "dangling.wav").symlink_to(tmp_path / "gone.wav")
        return tmp_path / "dangling.wav"
    if case == "symlink_loop":  # cannot be opened, even by root
        (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
        return tmp_path / "loop.wav"
    src = tmp_path / "locked.wav"
    src.write_bytes(wav_bytes(clip()))
    src.chmod(0)
    return src


@pytest.mark.parametrize(
    "case, text",
    [
        ("missing", "no such file"),
        ("dangling_symlink", "no such file"),
        ("symlink_loop", "cannot open"),
        pytest.param("unreadable", "permission denied", marks=pytest.mark.skipif(
            os.geteuid() == 0, reason="root reads mode-000 files; symlink_loop covers an unopenable path")),
    ],
)
def test_unopenable_input(cli, tmp_path, case, text):
    src = _bad_path(tmp_path, case)
    out = tmp_path / "out" / "o.wav"
    assert_failed(cli(src, out), 4, src.name, out, {}, text)
    assert not out.parent.exists()  # a failed input does not even create the output folder


def test_a_failed_file_leaves_no_empty_output_folders(cli, tmp_path):
    # The output's missing folders are made before the analysis; a file that then fails (NaN
    # samples here) took them away only if they stayed empty: a/b/c was left behind.
    src = tmp_path / "nan.wav"
    x = clip(1.0)
    x[500] = np.nan
    sf.write(src, x, SR, subtype="FLOAT")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep.txt").write_text("mine")
    out = tmp_path / "a" / "b" / "c" / "o.wav"
    assert_failed(cli(src, out), 4, src.name, out, {}, "NaN")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["keep.txt"]


def test_directory_as_input_file(cli, tmp_path):
    folder = tmp_path / "album"
    folder.mkdir()
    out = tmp_path / "out" / "o.wav"
    assert_failed(cli(folder, out), 2, str(folder), out, {}, "is a folder")


def _restore_ok(cli, tmp_path, x: np.ndarray, sr: int = SR, subtype: str = "PCM_16", *extra):
    """Write ``x`` at ``sr``, restore it with --json, check the common success contract."""
    src = tmp_path / "in.wav"
    sf.write(src, x, sr, subtype=subtype)
    digest = sha(src)
    out = tmp_path / "out" / "o.wav"
    res = cli(src, out, "--json", *extra)
    assert res.code == 0, res.err
    assert "Traceback" not in res.err and sha(src) == digest
    assert leftovers(tmp_path) == []
    y, osr = sf.read(out, dtype="float32", always_2d=True)
    assert osr == SR and y.shape == (output_length(len(x), sr), x.shape[1])
    assert np.isfinite(y).all()
    return json.loads(res.out), y, res.err


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_sample_formats(cli, tmp_path, subtype):
    rec, y, _ = _restore_ok(cli, tmp_path, clip(), SR, subtype)
    assert rec["status"] == "ok" and abs(rec["cutoff_hz"] - 3000) < 500
    assert 0.05 < np.abs(y).max() <= 1.0


@pytest.mark.parametrize("sr", [8000, 11025, 22050, 44100, 48000, 96000, 192000])
def test_sample_rates(cli, tmp_path, sr):
    rec, _, _ = _restore_ok(cli, tmp_path, clip(0.4, sr), sr)
    assert rec["status"] == "ok" and abs(rec["cutoff_hz"] - 3000) < 500


@pytest.mark.parametrize("channels", range(1, 9))
def test_channel_counts(cli, tmp_path, channels):
    # Each channel at its own level: a mixed-up or dropped channel changes the order.
    x = clip(0.4, channels=channels) * np.linspace(1.0, 0.3, channels, dtype=np.float32)
    _, y, _ = _restore_ok(cli, tmp_path, x)
    rms = np.sqrt((y**2).mean(axis=0))
    assert list(np.argsort(-rms)) == list(range(channels))


@pytest.mark.parametrize("frames", [1, 2, 511, 1025, 8191, 12000])
def test_shorter_than_a_chunk(cli, tmp_path, frames):
    _restore_ok(cli, tmp_path, clip(1.0)[:frames])


def test_shorter_than_one_16k_sample_is_an_input_error_not_an_empty_file(cli, tmp_path):
    # One frame at 44.1 kHz is 0.36 of a 16 kHz sample: it was written as a 0-frame "silent" WAV.
    src, out = tmp_path / "one.wav", tmp_path / "o.wav"
    sf.write(src, np.full((1, 1), 0.5, np.float32), 44100)
    assert_failed(cli(src, out), 4, src.name, out, {}, "shorter than one 16000 Hz sample")
    sf.write(src, np.full((2, 1), 0.5, np.float32), 44100)  # 0.73 of a sample: rounds to one
    assert cli(src, out).code == 0 and sf.info(out).frames == 1


def test_silence_passes_through_as_silence(cli, tmp_path):
    rec, y, _ = _restore_ok(cli, tmp_path, np.zeros((8000, 2), np.float32))
    assert rec["status"] == "passthrough" and "silent" in rec["message"]
    assert not y.any()


def test_clipped_full_scale_input(cli, tmp_path):
    x = np.clip(clip() * 8, -1.0, 1.0)  # a brick-walled master
    rec, y, _ = _restore_ok(cli, tmp_path, x, SR, "PCM_16", "--subtype", "PCM_24")
    assert "gain_db" in rec and rec["gain_db"] <= 0
    assert np.abs(y).max() <= 1.0
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] > 0.5  # not wrapped around


def test_float_input_over_full_scale_is_scaled_not_clipped(cli, tmp_path):
    rec, y, err = _restore_ok(cli, tmp_path, clip() * 4, SR, "FLOAT")  # peak 2.0
    assert rec["gain_db"] < -5 and "exceeds full scale" in err
    assert 0.99 < np.abs(y).max() <= 1.0
    assert np.mean(np.abs(y) >= 0.999) < 0.001  # scaled as a whole, no clipped plateau


def test_dc_offset(cli, tmp_path):
    rec, _, _ = _restore_ok(cli, tmp_path, clip() * 0.5 + 0.4)
    assert rec["status"] == "ok" and abs(rec["cutoff_hz"] - 3000) < 500


def test_wideband_float_is_bit_identical(cli, tmp_path):
    x = (0.1 * np.random.default_rng(1).standard_normal((8000, 2))).astype(np.float32)
    rec, y, _ = _restore_ok(cli, tmp_path, x, SR, "FLOAT", "--subtype", "FLOAT")
    assert rec["status"] == "passthrough"
    np.testing.assert_array_equal(y, x)


def test_below_2_5_khz_warns_then_processes(cli, tmp_path):
    rec, _, err = _restore_ok(cli, tmp_path, clip(cutoff=1500))
    assert rec["status"] == "ok" and rec["warnings"]
    assert "warning" in err and "outside the 2500-4500 Hz range" in err


def test_truncated_wav_data_warns_and_keeps_what_is_there(cli, tmp_path):
    x = clip(1.0)
    data = wav_bytes(x)
    src = tmp_path / "cut.wav"
    src.write_bytes(data[: 44 + 2 * 6000])  # header + 6000 of 16000 frames
    out = tmp_path / "o.wav"
    res = cli(src, out, "--json")
    assert res.code == 0, res.err
    rec = json.loads(res.out)
    assert any("shorter than its header says" in w for w in rec["warnings"])
    assert sf.info(out).frames == 6000


def test_stdin_spool_leaves_nothing(cli, tmp_path, monkeypatch):
    """``-`` input is spooled to an anonymous file: bad bytes on stdin are an InputError too."""
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"RIFF....WAVE")))
    out = tmp_path / "o.wav"
    assert_failed(cli("-", out), 4, "<stdin>", out, {}, "not readable audio")


def test_a_streamed_wav_of_unknown_length_reads_whole_without_a_warning(cli, tmp_path):
    # ffmpeg -i take.flac -f wav - (the README's pipeline) cannot seek back to write the sizes,
    # and declares 0xFFFFFFFF: "length unknown", which was warned about as a truncated file.
    import struct

    x = clip(1.0)
    data = bytearray(wav_bytes(x))
    data[4:8] = struct.pack("<I", 0xFFFFFFFF)
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFFF)
    src = tmp_path / "piped.wav"
    src.write_bytes(bytes(data))
    res = cli(src, tmp_path / "o.wav", "--json")
    assert res.code == 0, res.err
    rec = json.loads(res.out)
    assert rec["warnings"] == [] and "warning" not in res.err
    assert sf.info(tmp_path / "o.wav").frames == len(x)


def test_a_file_name_that_is_not_utf8_is_read_and_written(cli, tmp_path):
    # Old archives carry Latin-1 names; as undecodable bytes (held as surrogates) libsndfile
    # was handed a str soundfile could not encode: "not readable audio", exit 4.
    import os

    src = Path(os.fsdecode(bytes(tmp_path) + b"/Sch\xf6n.wav"))
    out = Path(os.fsdecode(bytes(tmp_path) + b"/Sch\xf6n-16k.wav"))
    sf.write(tmp_path / "plain.wav", clip(1.0), SR)
    os.rename(tmp_path / "plain.wav", src)
    res = cli(src, out)
    assert res.code == 0, res.err
    assert os.path.exists(os.fsencode(out)) and leftovers(tmp_path) == []
