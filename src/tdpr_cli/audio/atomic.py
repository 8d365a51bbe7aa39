"""Write a file so that readers see the old contents or the new, never half of them.

The data goes to a temporary name in the target's own folder (``os.replace`` is
only atomic within one file system), is flushed to disk, and is renamed over
the target; on any failure, Ctrl-C included, the temporary file is removed.
Audio outputs have their own writer (``audio_write``), which also holds signals.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None], *, mode: int | None = 0o644, suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` to fill a temporary file, then rename it to ``path``.

    ``mode`` sets the permissions (mkstemp creates 0600); ``None`` keeps 0600.
    Creates the parent folder; raises whatever ``write`` or the file system raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, **kwargs) -> None:
    """``atomic_write`` of a bytes payload."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data), **kwargs)


def atomic_write_text(path: Path, text: str, **kwargs) -> None:
    """``atomic_write`` of UTF-8 text."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), **kwargs)
