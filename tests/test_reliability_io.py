"""Issue 6 at the I/O layer: mutated WAV bytes, interrupted and failing writes.

The fuzz test feeds bit flips, truncations and overwritten header fields to
``AudioSource`` (from a path and from stdin) and reads every block: the only
exception allowed out is ``InputError``, and libsndfile's callbacks must not
report "Exception ignored" tracebacks on the way.
"""

from __future__ import annotations

import io
import os
import signal
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reliability_helpers import leftovers, wav_bytes
from tdpr_cli.audio import write as audio_write
from tdpr_cli.audio.atomic import temp_stem
from tdpr_cli.audio.read import AudioSource
from tdpr_cli.config import Subtype
from tdpr_cli.errors import InputError, OutputError


def _seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((300, 2))).astype(np.float32)
    kinds = [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("WAV", "PCM_U8"), ("WAV", "PCM_24"), ("WAV", "DOUBLE"),
             ("WAV", "IMA_ADPCM"), ("WAVEX", "PCM_16"), ("RF64", "FLOAT"), ("FLAC", "PCM_16"), ("AIFF", "PCM_16")]
    return [wav_bytes(x, 8000, subtype, fmt) for fmt, subtype in kinds]


SEEDS = _seeds()


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "field16", "field32", "insert"]))
        if not data:
            break
        pos = draw(st.integers(0, min(len(data) - 1, 80) if kind.startswith("field") else len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            fmt = "<H" if kind == "field16" else "<I"
            value = draw(st.integers(0, 2 ** (8 * struct.calcsize(fmt)) - 1))
            data[pos : pos + struct.calcsize(fmt)] = struct.pack(fmt, value)[: len(data) - pos]
    return bytes(data)


def _read_all(src: AudioSource) -> int:
    frames = 0
    for block in src.blocks(97):  # an odd block size crosses every boundary
        assert block.dtype == np.float32 and block.shape[0] == src.info.channels
        assert np.isfinite(block).all()
        frames += block.shape[1]
    return frames


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(), via_stdin=st.booleans())
def test_mutated_wav_only_raises_input_error(tmp_path, data, via_stdin):
    unraisable = []
    old_hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        if via_stdin:
            src = AudioSource("-", stdin=io.BytesIO(data))
        else:
            path = tmp_path / "fuzz.wav"
            path.write_bytes(data)
            src = AudioSource(path)
        _read_all(src)
        assert 1_000 <= src.info.sample_rate <= 768_000 and src.info.frames > 0
    except InputError as exc:
        assert "\n" not in str(exc)
    finally:
        sys.unraisablehook = old_hook
    assert unraisable == []  # e.g. "Exception ignored from cffi callback" on stderr


# --- writes ------------------------------------------------------------------------------


def _blocks(n: int = 4, fail_at: int | None = None, exc: type[BaseException] = KeyboardInterrupt):
    for i in range(n):
        if i == fail_at:
            raise exc()
        yield np.full((2, 1000), 0.1 * (i + 1), np.float32)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, InputError])
def test_interrupt_while_streaming_leaves_nothing(tmp_path, exc):
    out = tmp_path / "o.wav"
    with pytest.raises(exc):
        audio_write.write_stream(str(out), _blocks(fail_at=2, exc=exc), 16000, 2, Subtype.PCM_16)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_after_the_part_file_is_complete(tmp_path, monkeypatch):
    """Ctrl-C between "converted" and "renamed": the .part goes, an old output stays whole."""
    out = tmp_path / "o.wav"
    out.write_bytes(b"old output")
    real = audio_write._verify

    def verify_then_interrupt(part, path, frames):
        real(part, path, frames)
        assert part.exists() and part.name.startswith(".o.wav.")
        raise KeyboardInterrupt

    monkeypatch.setattr(audio_write, "_verify", verify_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        audio_write.write_stream(str(out), _blocks(), 16000, 2, Subtype.PCM_16)
    assert [p.name for p in tmp_path.iterdir()] == ["o.wav"] and out.read_bytes() == b"old output"


def test_libsndfile_write_error_is_output_error(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise sf.LibsndfileError(2)  # what a full disk looks like from libsndfile

    monkeypatch.setattr(audio_write, "_convert", broken)
    with pytest.raises(OutputError, match="write failed"):
        audio_write.write_stream(str(tmp_path / "o.wav"), _blocks(), 16000, 2, Subtype.PCM_16)
    assert leftovers(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_short_header_is_never_renamed_into_place(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_write, "_spill", lambda blocks, raw, res, path: setattr(res, "frames", 99))
    with pytest.raises(OutputError, match="wrote 0 of 99 frames"):
        audio_write.write_stream(str(tmp_path / "o.wav"), [], 16000, 1, Subtype.PCM_16)
    assert list(tmp_path.iterdir()) == []


def test_output_keeps_umask_permissions(tmp_path):
    out = tmp_path / "o.flac"
    res = audio_write.write_stream(str(out), _blocks(), 16000, 2, Subtype.PCM_16)
    assert res.frames == 4000 and sf.info(out).frames == 4000
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_held_signals_delivers_after_the_block():
    """Held back even with other threads alive (torch's workers): the kernel may hand a
    process-wide signal to any of them, so a per-thread signal mask is not enough."""
    import threading

    # A background job (`cmd &` in a script, nohup) starts with SIGINT ignored, and held_signals
    # rightly keeps it so; this test is about Python's default handler, so it installs it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    got = []
    try:
        with pytest.raises(KeyboardInterrupt), audio_write.held_signals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # time for delivery, had it not been held back
            got.append("after kill")
        assert got == ["after kill"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
        stop.set()
        worker.join()


def test_stdin_is_spooled_not_held_in_memory(tmp_path):
    x = (0.1 * np.random.default_rng(0).standard_normal((5000, 2))).astype(np.float32)
    src = AudioSource("-", stdin=io.BytesIO(wav_bytes(x, subtype="FLOAT")))
    first = np.concatenate(list(src.blocks(1024)), axis=1)
    again = np.concatenate(list(src.blocks(4096)), axis=1)  # the stream can be read twice
    np.testing.assert_array_equal(first, x.T)
    np.testing.assert_array_equal(again, x.T)
    src.close()


def test_fifo_input_is_read_twice(tmp_path):
    """A named pipe or ``<(...)`` can only be read once; tdpr copies it first."""
    import threading

    x = (0.1 * np.random.default_rng(0).standard_normal((3000, 1))).astype(np.float32)
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: Path(fifo).write_bytes(wav_bytes(x, subtype="FLOAT")))
    writer.start()
    src = AudioSource(fifo)
    writer.join()
    assert src.info.frames == 3000
    assert sum(b.shape[1] for b in src.blocks()) == sum(b.shape[1] for b in src.blocks()) == 3000


def test_target_name_near_name_max(tmp_path):
    out = tmp_path / ("n" * 246 + ".flac")  # 251 characters: ".NAME.XXXX.part" would not fit
    audio_write.write_stream(str(out), _blocks(), 16000, 2, Subtype.PCM_16)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_finished_output_sweeps_its_stale_part_files(tmp_path):
    # What a SIGKILLed earlier run leaves: hidden temporaries of the same output (and of another).
    stale = [tmp_path / ".take [1].wav.k3j2x_9a.part", tmp_path / ".take [1].wav.zzzzzzzz.part"]
    other = tmp_path / ".other.wav.k3j2x_9a.part"
    for p in (*stale, other):
        p.write_bytes(b"half")
    audio_write.write_stream(str(tmp_path / "take [1].wav"), _blocks(), 16000, 2, Subtype.PCM_16)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.wav.k3j2x_9a.part", "take [1].wav"]
    other.unlink()  # other tests look for leftover .part files under the whole base temp folder


def test_the_sweep_spares_live_temporaries_of_outputs_whose_names_start_alike(tmp_path):
    # A parallel folder run writing "song.flac" and "song.flac.wav" (or two long titles that share
    # their first 120 characters) side by side: finishing one must not delete the other's .part.
    long_a, long_b = "Sonata " * 33 + "I. Allegro.wav", "Sonata " * 33 + "II. Adagio.wav"  # 245 bytes
    live = []
    for name in ("song.flac.wav", long_b):
        fd, part = tempfile.mkstemp(dir=tmp_path, prefix=f".{temp_stem(name)}.", suffix=".part")
        os.close(fd)
        live.append(Path(part))
    stale = Path(tempfile.mkstemp(dir=tmp_path, prefix=f".{temp_stem(long_a)}.", suffix=".part")[1])
    for name in ("song.flac", long_a):
        audio_write.write_stream(str(tmp_path / name), _blocks(), 16000, 2, Subtype.PCM_16)
    assert all(p.exists() for p in live) and not stale.exists()
    assert len(temp_stem(long_a).encode()) < 180 and temp_stem(long_a) != temp_stem(long_b)
    for p in live:
        p.unlink()


def test_a_refused_stream_drops_its_spooled_copy_at_once(monkeypatch):
    from tdpr_cli.audio import read as audio_read

    spooled = []
    real = audio_read._spool
    monkeypatch.setattr(audio_read, "_spool", lambda stream, name: spooled.append(real(stream, name)) or spooled[-1])
    with pytest.raises(InputError):
        AudioSource("-", stdin=io.BytesIO(b"RIFF not really a wave file at all"))
    assert spooled and spooled[0].closed
    with AudioSource("-", stdin=io.BytesIO(wav_bytes(np.zeros((800, 2), np.float32)))) as src:
        assert not spooled[-1].closed and src.info.frames == 800
    assert spooled[-1].closed


def test_a_name_near_name_max_in_bytes_gets_its_temporaries(tmp_path):
    # 83 kana are 249 bytes + ".wav": a name the file system takes, whose ".NAME.XXXXXXXX.part"
    # did not fit (the limit counted characters); the write failed after the whole restore.
    out = tmp_path / ("\u3042" * 83 + ".wav")
    audio_write.write_stream(str(out), _blocks(), 16000, 2, Subtype.PCM_16)
    assert [p.name for p in tmp_path.iterdir()] == [out.name] and sf.info(out).frames == 4000
    stem = temp_stem("\u3042" * 83 + ".wav")
    assert len(stem.encode()) <= 180 and stem.startswith("\u3042" * 53)  # whole characters only
