"""Shared by the reliability tests: tiny-model config, CLI runners, leftover checks.

The in-process runner calls ``tdpr_cli.cli.main`` directly: torch is imported
once per session instead of once per case, which keeps a matrix of dozens of
cases within seconds on a busy two-core machine. Anything that needs a real
process (signals, closed pipes, resource limits, peak memory) uses ``spawn``.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from conftest import band_limited

SR = 16000
#: Small chunks and one thread: short inputs run in a fraction of a second.
FAST = ("--chunk-seconds", "0.5", "--threads", "1")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("tdpr: error:")]


def run_inprocess(args, capsys) -> Result:
    """``tdpr restore ARGS`` in this process; any exception other than SystemExit fails the test."""
    from tdpr_cli.cli import main

    capsys.readouterr()
    try:
        main(["restore", *map(str, args)])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return Result(code, out, err)


def _child_setup(fsize: int | None = None, close_stdout: bool = False, close_stderr: bool = False):
    """Children get SIGINT back even when the test runner was started in the background
    (non-interactive shells start background jobs with SIGINT ignored); ``close_stdout``
    starts them with descriptor 1 closed, as ``>&-`` does."""

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if close_stdout:
            os.close(1)
        if close_stderr:
            os.close(2)
        if fsize is not None:
            import resource

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return setup


def spawn(args, env, fsize: int | None = None, close_stdout: bool = False, close_stderr: bool = False,
          **kw) -> subprocess.Popen:
    """Start ``python -m tdpr_cli ARGS`` as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "tdpr_cli", *map(str, args)], env=env,
        preexec_fn=_child_setup(fsize, close_stdout, close_stderr), **kw,  # noqa: PLW1509 (tests spawn from the main thread only)
    )


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary files tdpr may create (``.tdpr-*``, ``.NAME.*.part``) anywhere under ``folder``."""
    if not folder.exists():
        return []
    return sorted(
        str(p) for p in folder.rglob(".*") if p.name.startswith(".tdpr-") or p.name.endswith(".part")
    )


def wav_bytes(x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    """Encode (T, C) samples in memory."""
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype, format=fmt)
    return buf.getvalue()


def writing_into(pid: int, folder: Path) -> bool:
    """True once process ``pid`` holds a file open inside ``folder`` (its output is being written).

    Linux shows anonymous scratch files as ``FOLDER/#inode (deleted)`` in /proc.
    """
    fds = Path(f"/proc/{pid}/fd")
    try:
        links = [os.readlink(fd) for fd in fds.iterdir()]
    except OSError:
        return False
    return any(link.startswith(str(folder) + os.sep) for link in links)


def clip(seconds: float = 0.5, sr: int = SR, channels: int = 1, cutoff: float = 3000.0) -> np.ndarray:
    """A short band-limited test signal, (T, C) float32."""
    return band_limited(seconds, sr, cutoff, channels)


def with_sample(value: float) -> bytes:
    x = clip()
    x[100] = value
    return wav_bytes(x, subtype="FLOAT")


def assert_failed(res, code: int, name: str, out: Path, inputs: dict[Path, str], text: str = "") -> None:
    """The common contract of every failure."""
    assert res.code == code, res.err
    lines = res.error_lines()
    assert len(lines) == 1, res.err
    assert name in lines[0] and text in lines[0], lines[0]
    assert "Traceback" not in res.err and "Exception ignored" not in res.err
    assert not out.exists()
    assert leftovers(out.parent) == [] and leftovers(out.parent.parent) == []
    for path, digest in inputs.items():
        assert sha(path) == digest, f"{path} changed"
