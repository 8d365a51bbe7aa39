"""Progress of a restore run on stderr: a live bar on a terminal, plain lines in logs.

``--progress auto`` picks the bar when stderr is a terminal and plain lines
otherwise (nohup, cron, a log file), where a bar would show nothing until the
end. Plain mode prints a line when a file starts and one about every
``PLAIN_EVERY_S`` seconds while a long file runs; the per-file result line
comes from the run itself.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

MODES = ("auto", "bar", "plain", "none")
UNIT = "s audio"  # what a task counts; every add_task names it (the bar's column shows it)
PLAIN_EVERY_S = 10.0


class PlainProgress:
    """The subset of ``rich.progress.Progress`` a run uses, printed as plain lines."""

    def __init__(self, console: Console, every_s: float = PLAIN_EVERY_S) -> None:
        self.console, self.every_s = console, every_s
        self.tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tasks.clear()

    def add_task(self, description: str, total: float = 1.0, unit: str = UNIT) -> TaskID:
        task = len(self.tasks) + 1
        while task in self.tasks:
            task += 1
        self.tasks[task] = {"name": description, "last": time.monotonic(), "unit": unit}
        self.console.print(f"{description}: started", markup=False, highlight=False)
        return TaskID(task)

    def update(self, task: TaskID, completed: float, total: float) -> None:
        state = self.tasks[task]
        now = time.monotonic()
        if now - state["last"] >= self.every_s:
            state["last"] = now
            line = f"{state['name']}: {completed:.1f}/{total:.1f} {state['unit']}"
            self.console.print(line, markup=False, highlight=False)

    def remove_task(self, task: TaskID) -> None:
        self.tasks.pop(task, None)


def make_progress(console: Console, mode: str, quiet: bool) -> Progress | PlainProgress:
    """The display for ``--progress MODE``; ``--quiet`` or ``none`` show nothing."""
    check_mode(mode)
    if quiet or mode == "none":
        return Progress(console=console, disable=True)
    if mode == "plain" or (mode == "auto" and not console.is_terminal):
        return PlainProgress(console)
    return Progress(
        TextColumn("{task.description}", markup=False),  # file names are text, not markup
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.1f} {task.fields[unit]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def check_mode(mode: str) -> None:
    """UsageError unless ``mode`` is one of ``MODES``."""
    if mode not in MODES:
        from tdpr_cli.errors import UsageError

        raise UsageError(f"--progress must be one of {', '.join(MODES)}, got {mode!r}")


def task_name(path: str) -> str:
    """A file's label in the display: its path as the run's records name it (so two files of
    the same name in different subfolders differ), or <stdin>. Plain text: no markup."""
    return path if path != "-" else "<stdin>"

