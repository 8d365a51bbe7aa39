"""Write a file so that readers see the old contents or the new, never half of them.

The data goes to a temporary name in the target's own folder (``os.replace`` is
only atomic within one file system), is flushed to disk, and is renamed over
the target; on any failure, Ctrl-C included, the temporary file is removed.
Audio outputs have their own writer (``audio.write``): it converts while streaming,
verifies the frame count and holds signals around the rename. ``replace_dir``
swaps whole folders (checkpoints, validation sets). ``writable_folder`` makes sure a
folder takes new files before any work is done for it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tdpr_cli.digest import sha256_bytes
from tdpr_cli.errors import OutputError

#: Bytes of a target's name used whole in its temporaries' names (``.STEM.XXXXXXXX.part``): with
#: the dots, mkstemp's 8 characters and a suffix they stay within NAME_MAX (255 bytes).
TEMP_STEM_MAX_BYTES = 200


def temp_stem(name: str) -> str:
    """What the temporaries of a target called ``name`` carry: the name itself, or, when its
    UTF-8 bytes pass ``TEMP_STEM_MAX_BYTES`` (a long title, CJK names near NAME_MAX), its first
    160 bytes (whole characters) and a hash of the whole, so two long names that start alike
    never share a stem."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= TEMP_STEM_MAX_BYTES:
        return name
    head = raw[:160].decode("utf-8", "ignore")  # a character cut in two is dropped
    return f"{head}~{sha256_bytes(raw)[:16]}"


def atomic_write(path: Path, write: Callable[[Path], None], *, mode: int | None = 0o644, suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` to fill a temporary file, then rename it to ``path``.

    ``mode`` sets the permissions (mkstemp creates 0600); ``None`` keeps 0600.
    Creates the parent folder; raises whatever ``write`` or the file system raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{temp_stem(path.name)}.", suffix=suffix)
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


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = 0o644, suffix: str = ".tmp") -> None:
    """``atomic_write`` of a bytes payload."""
    atomic_write(path, lambda tmp: None if tmp.write_bytes(data) else None, mode=mode, suffix=suffix)


def atomic_write_text(path: Path, text: str, *, mode: int | None = 0o644, suffix: str = ".tmp") -> None:
    """``atomic_write`` of UTF-8 text."""
    atomic_write(path, lambda tmp: None if tmp.write_text(text, encoding="utf-8") else None, mode=mode, suffix=suffix)


def replace_dir(tmp: Path, final: Path) -> None:
    """Swap a finished folder ``tmp`` in for ``final``; readers see the old folder or the new.

    The old folder is first renamed to ``.NAME.old`` beside it and removed only
    after the new one is in place, so a crash between the two renames leaves
    ``.NAME.old`` to recover from (``train.checkpoint`` does). Both folders must
    be on one file system.
    """
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def output_path_state(path: Path, what: str, role: str) -> tuple[bool, bool]:
    """(is a folder, exists: a dangling link counts) of a path a user names for an output; a name
    the file system refuses (over NAME_MAX, a path through a file) is an ``OutputError``
    "WHAT: cannot be ROLE (reason)", before any work (``Path.is_dir`` raises it on Python 3.11)."""
    try:
        return path.is_dir(), path.exists() or path.is_symlink()
    except OSError as exc:
        raise OutputError(f"{what}: cannot be {role} ({exc.strerror or exc})") from None


def writable_folder(folder: Path, what: str, *, create: bool = True, role: str = "output folder") -> Path:
    """Make sure a new file can be made in ``folder`` (created first when ``create``); else
    OutputError, its message starting with ``what``. Returns ``folder``.

    Without ``create`` a missing folder is left missing and its nearest existing parent is
    probed instead: whoever may write there may make the folder later. The modes
    (``os.access``) are not enough: root passes them everywhere, and read-only mounts or kernel
    file systems (/sys) refuse files they allow; so a nameless temporary file is made in the
    folder and closed at once (Linux's O_TMPFILE: nothing is left behind, even by kill -9).
    """
    try:
        nearest = next(p for p in (folder, *folder.parents) if p.exists())  # the root always exists
    except OSError as exc:  # a name over NAME_MAX
        raise OutputError(f"{what}: cannot be a {role} ({exc.strerror or exc})") from None
    if not nearest.is_dir():
        raise OutputError(f"{what}: cannot create {role}: {nearest} is a file")
    probe = folder if create else nearest
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{what}: cannot create {role} {folder} ({exc.strerror or exc})") from None
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{what}: {role} {folder} is not writable")
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".tdpr-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"{what}: {role} {folder} is not writable ({exc.strerror or exc})") from None
    return folder
