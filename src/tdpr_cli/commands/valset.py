"""``tdpr data valset``: build the fixed validation set (``tdpr_cli.evaluation.valset``).

Only parses options, calls ``valset_build.build`` and reports. Progress and notes
go to stderr; with ``--json`` a summary object goes to stdout. numpy, scipy
and soundfile are imported inside the command so ``tdpr --help`` stays
instant. Registered by ``cli.py`` as a subcommand of ``tdpr data``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from tdpr_cli.commands.console import stderr_console

DataDir = Annotated[Path, typer.Option("--data", help="Corpus folder holding manifest.json (tdpr data render --out).")]
OutDir = Annotated[Optional[Path], typer.Option("--out", help="Validation set folder [default: DATA/valset].")]
Clips = Annotated[int, typer.Option("--clips", min=1, help="Number of excerpts (reference clips).")]
Seconds = Annotated[float, typer.Option("--seconds", min=0.5, max=600.0, help="Length of each excerpt in seconds.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the selection and the filter orders.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing set (atomically).")]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary to stdout.")]


def valset_cmd(
    data: DataDir = Path("data"),
    out: OutDir = None,
    clips: Clips = 40,
    seconds: Seconds = 10.0,
    seed: Seed = 0,
    overwrite: Overwrite = False,
    json_out: Json = False,
) -> None:
    """Build the fixed validation set from the corpus's valid split.

    Cuts CLIPS excerpts of SECONDS each and writes their low-resolution versions
    at 2.5, 3, 3.5 and 4 kHz with every low-pass kind (PCM_16 FLAC) plus
    manifest.json; the same corpus and seed give the same bytes.
    """
    from rich.progress import Progress

    from tdpr_cli.evaluation import valset, valset_build

    console = stderr_console()
    out_dir = out if out is not None else data / "valset"
    cfg = valset.ValsetConfig(clips=clips, seconds=seconds, seed=seed)
    started = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("valset: selecting", total=None)

        def on_clip(done: int, total: int) -> None:
            bar.update(task, description="valset: degrading", completed=done, total=total)

        manifest = valset_build.build(data, out_dir, cfg, overwrite, on_clip)
    summary = _summary(manifest, out_dir, time.perf_counter() - started)
    for note in manifest["notes"]:
        console.print(f"[yellow]warning[/]: {note}")
    console.print(
        f"{out_dir}: {summary['clips']} clips ({summary['pieces']} pieces; {', '.join(summary['soundfonts'])}), "
        f"{summary['items']} LR files in {summary['seconds_taken']:.1f} s"
    )
    if json_out:
        typer.echo(json.dumps(summary))


def _summary(manifest: dict, out_dir: Path, seconds_taken: float) -> dict:
    """What ``--json`` prints: counts, coverage, completeness and the source manifest's sha256."""
    return {
        "out": str(out_dir),
        "clips": len(manifest["clips"]),
        "items": len(manifest["items"]),
        "pieces": len({c["piece"] for c in manifest["clips"]}),
        "soundfonts": sorted({c["soundfont"] for c in manifest["clips"]}),
        "complete": manifest["complete"],
        "source_manifest_sha256": manifest["source_manifest"]["sha256"],
        "notes": manifest["notes"],
        "seconds_taken": round(seconds_taken, 3),
    }
