"""Standard output that takes every byte, or says why not.

Audio (``tdpr restore - -``) and ``--json`` records leave through here. Why not
``sys.stdout.buffer.write`` or ``shutil.copyfileobj``: under ``python -u`` or
``PYTHONUNBUFFERED`` that buffer is a raw file whose ``write`` may take part of a block (a
pipe's 64 KiB), and the rest was dropped with exit 0.
"""

from __future__ import annotations

import os
import sys

from tdpr_cli.errors import OutputError


def write_stdout(data: bytes) -> None:
    """Put ``data`` on standard output, every byte (``write_all``), or raise: ``OutputError`` when
    stdout was closed at start (">&-"), ``BrokenPipeError`` when its reader left."""
    if sys.stdout is None:
        raise OutputError("<stdout>: standard output is closed")
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no descriptor (a test runner's capture): its own write
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            buffer.write(data)
        else:  # a text stream (contextlib.redirect_stdout into a StringIO): JSON lines are text
            sys.stdout.write(data.decode("utf-8", "surrogateescape"))
        sys.stdout.flush()
        return
    sys.stdout.flush()  # anything written through sys.stdout goes first
    write_all(fd, data)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to file descriptor ``fd``.

    Why not ``shutil.copyfileobj(..., sys.stdout.buffer)``: under ``python -u`` or
    ``PYTHONUNBUFFERED`` that buffer is a raw file whose ``write`` may take part of a block
    (a pipe's 64 KiB), and copyfileobj drops the rest: the reader got 65536 of 256044 bytes
    and tdpr exited 0. A non-blocking stdout (set by the program upstream) is waited on.
    A reader that closed the pipe raises ``BrokenPipeError`` (``cli``: exit 1, quietly).
    """
    import select

    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])
