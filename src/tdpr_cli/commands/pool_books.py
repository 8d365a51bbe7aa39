"""A pool run's books: which outputs its workers may have written, so an abort leaves none unrecorded.

A worker (local process or Ray actor) renames its output into place and only
then sends the file's record back. A run stopped between the two (Ctrl-C,
SIGTERM, a worker killed with it) would leave an output that the manifest does
not know, and ``--resume`` would then trip over it. Both pools keep these books
while they run and settle them when they abort: a record that came back is
written (``on_done``); an output written since its file was handed out whose
record was lost is removed, so ``--resume`` redoes that file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tdpr_cli.restore.file import FileRecord


def stamp(path: str) -> tuple[int, int, int] | None:
    """What identifies one version of a file (inode, mtime in ns, size), or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class PoolBooks:
    """The ``(input, output, overwrite)`` items of one run, each output's stamp from before its
    file was first handed out, which items have their record, and where records go."""

    def __init__(self, work: list[tuple[str, str, bool]], on_done: Callable[[FileRecord], None],
                 warn: Callable[[str], None]) -> None:
        self.work, self.on_done, self.warn = work, on_done, warn
        self.before: dict[int, tuple[int, int, int] | None] = {}
        self.done: set[int] = set()

    def handed_out(self, i: int) -> None:
        """Item ``i`` goes to a worker; a retry keeps the stamp of the first hand-out."""
        self.before.setdefault(i, stamp(self.work[i][1]))

    def record(self, i: int, rec: FileRecord) -> None:
        """Item ``i``'s record (ok or error): to ``on_done`` (the manifest line), once."""
        if i not in self.done:
            self.on_done(rec)
            self.done.add(i)

    def settle(self, replies: dict[int, FileRecord]) -> None:
        """After an abort: record the ``replies`` that came back; every other item handed out
        without a record has its output removed if a worker wrote it (``lost``)."""
        for i, rec in replies.items():
            self.record(i, rec)
        for i in sorted(set(self.before) - self.done):
            self.lost(i)

    def lost(self, i: int) -> None:
        """Item ``i``'s record will never come back: remove the output if a worker wrote it."""
        out = self.work[i][1]
        if stamp(out) not in (None, self.before.get(i)):
            Path(out).unlink(missing_ok=True)
            self.warn(f"warning: removed {out}: it was written as the run stopped, but its record was "
                      "lost with its worker; --resume redoes it")
