"""``tdpr data``: build the training corpus (``setup``, ``render``; ``valset`` lives here too).

Commands only parse options, call one function from ``tdpr_cli.train`` and
report; progress and summaries go to stderr, so stdout stays clean. Heavy
imports (numpy, music21, the render code) happen inside the commands so that
``tdpr --help`` stays instant.

SIGTERM and SIGHUP reach ``render`` as ``KeyboardInterrupt`` (``cli.main`` installs
the handlers), so the manifest is saved on the way out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tdpr_cli.commands.console import stderr_console
from tdpr_cli.errors import Interrupted, UsageError

app = typer.Typer(help="Build the piano training corpus.", no_args_is_help=True)

SETUP_SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "data-setup.sh"

OutDir = Annotated[Path, typer.Option("--out", help="Data folder (clips, midi/ cache, manifest.json).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of every random choice and of the splits.")]


@app.command()
def setup(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command instead of running it.")] = False,
) -> None:
    """Install fluidsynth, the three soundfonts (apt, needs root) and music21/mido (pip)."""
    if not SETUP_SCRIPT.is_file():
        raise UsageError(f"{SETUP_SCRIPT} not found; `tdpr data setup` needs a source checkout")
    cmd = ["bash", str(SETUP_SCRIPT)]
    if dry_run:
        print(" ".join(cmd))
        print(SETUP_SCRIPT.read_text())
        return
    rc = subprocess.run(cmd, env={**os.environ, "PYTHON": sys.executable}).returncode
    if rc:
        raise UsageError(f"{SETUP_SCRIPT.name} failed with exit status {rc}")


@app.command()
def render(
    out: OutDir = Path("data"),
    hours: Annotated[float, typer.Option("--hours", min=0.0, help="Stop once this much audio is rendered.")] = 20.0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Parallel render processes.")] = 1,
    seed: Seed = 0,
    limit_pieces: Annotated[
        Optional[int], typer.Option("--limit-pieces", min=1, help="Render only the first K pieces (quick test).")
    ] = None,
) -> None:
    """Render the corpus to 16 kHz mono FLAC clips plus OUT/manifest.json (resumable)."""
    summary = render_corpus(out, hours, jobs, seed, limit_pieces)
    print_summary(summary)


def render_corpus(out: Path, hours: float = 20.0, jobs: int = 1, seed: int = 0, limit_pieces: int | None = None):
    """Check the tools, then run ``tdpr_cli.corpus.build.render_corpus`` with progress on stderr."""
    import shutil

    if shutil.which("fluidsynth") is None:
        raise UsageError("fluidsynth is not installed; run `tdpr data setup`")
    try:
        import mido  # noqa: F401
        import music21  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"{exc.name} is missing; run `tdpr data setup` (pip install 'tdpr-cli[train]')") from exc
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tdpr_cli.corpus.build import render_corpus as build

    console = stderr_console()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.2f}/{task.total:g} h"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("rendering", total=hours)

        def on_result(result, hours_done: float) -> None:
            progress.update(task, completed=min(hours_done, hours))
            speed = result.audio_s / result.synth_s if result.synth_s else 0.0
            status = result.error or f"{len(result.clips)} clips, {result.audio_s:.0f} s audio, {speed:.0f}x"
            status += f", music21 {result.convert_s:.2f} s" if result.convert_s else ""
            if not console.is_terminal or result.error:
                console.print(f"{hours_done:7.3f} h  {result.job.key}  {result.soundfont}  {status}", highlight=False, soft_wrap=True)

        try:
            return build(out, hours, jobs, seed, limit_pieces, on_result=on_result)
        except KeyboardInterrupt:
            raise Interrupted("stopped; the manifest is saved, rerun the same command to resume") from None


def print_summary(summary) -> None:
    """The end-of-run report: totals, per-soundfont hours and render speed, conversion time."""
    console = stderr_console()
    console.print(
        f"rendered {summary.hours:.2f} h in {summary.clips} clips; this run: {summary.jobs} jobs "
        f"({summary.failed} failed) in {summary.wall_s / 60:.1f} min",
        highlight=False,
    )
    for name, audio_s in sorted(summary.sf_audio_s.items()):
        synth = summary.sf_synth_s.get(name, 0.0)
        speed = f", {summary.sf_run_audio_s[name] / synth:.0f}x real time" if synth else ""
        console.print(f"  {name:10s} {audio_s / 3600:6.2f} h{speed}", highlight=False)
    if summary.convert_s:
        mean = sum(summary.convert_s) / len(summary.convert_s)
        console.print(f"  music21 conversion: {len(summary.convert_s)} scores, {mean:.2f} s each", highlight=False)

