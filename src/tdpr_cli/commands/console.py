"""The commands' one stderr console, made on first use.

Importing rich costs about 60 ms, which ``tdpr --help``, ``--version`` and
shell completion should not pay; a command that prints builds its console
when it first prints. ``plain`` turns off rich's highlighting and line
wrapping, for log lines that scripts read (file names are data).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@functools.cache
def stderr_console(plain: bool = False) -> Console:
    """The process's stderr console (one per ``plain`` value)."""
    from rich.console import Console

    if plain:
        return Console(stderr=True, highlight=False, soft_wrap=True)
    return Console(stderr=True)
