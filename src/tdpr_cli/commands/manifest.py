"""``tdpr manifest merge``: combine the manifests of a sharded run and say what is missing.

Shards write one manifest each (``tdpr restore --shard K/N --manifest ...``).
The merge keeps the latest record per input, writes them to ``--out`` and
reports inputs that failed, inputs recorded by more than one shard, and, with
``--expect ROOT``, audio files under ROOT that no shard recorded. It exits 1
when any of those lists is not empty, so a Slurm dependency can stop there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from tdpr_cli.commands.console import stderr_console
from tdpr_cli.errors import BatchFailed, OutputError, UsageError

app = typer.Typer(help="Sharded runs: merge their manifests.", no_args_is_help=True)


@app.command("merge")
def merge_cmd(
    manifests: Annotated[list[Path], typer.Argument(metavar="MANIFEST...", help="Shard manifests (JSON lines).")],
    out: Annotated[Path, typer.Option("--out", help="The merged manifest to write.")],
    expect: Annotated[Optional[Path], typer.Option(
        "--expect", help="The run's input folder: report its audio files that no shard recorded.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON to stdout.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace --out even if it is not a manifest (an earlier merge is always replaced).")] = False,
) -> None:
    """Merge shard manifests; report failed, duplicate and missing inputs (exit 1 if any)."""
    from tdpr_cli.audio.atomic import output_path_state
    from tdpr_cli.audio.write import same_file
    from tdpr_cli.restore.manifest import merge, read_records, unrecorded, write_all

    if any(same_file(m, out) for m in manifests):
        raise UsageError(f"--out {out} is one of the manifests being merged; name a new file")
    _, exists = output_path_state(out, f"--out {out}", "a manifest")
    if exists and not overwrite:  # an earlier merge is replaced (merging again is routine); anything else is kept
        try:
            read_records(out)
        except UsageError:
            raise OutputError(f"--out {out}: exists and is not a manifest; pass --overwrite to replace it") from None
    merged, duplicates = merge(manifests)
    missing = unrecorded(merged, expect) if expect is not None else []
    write_all(out, list(merged.values()))
    failed = sorted(rec.get("input", key) for key, rec in merged.items() if rec.get("status") == "error")
    summary = {"records": len(merged), "failed": failed, "duplicates": duplicates, "missing": missing,
               "out": str(out)}
    console = stderr_console(True)
    console.print(f"merged {len(manifests)} manifest(s): {len(merged)} files, {len(failed)} failed, "
                  f"{len(duplicates)} in more than one shard, {len(missing)} missing -> {out}")
    for label, items in (("failed", failed), ("duplicate", duplicates), ("missing", missing)):
        for item in items:
            console.print(f"{label}: {item}")
    if json_out:
        typer.echo(json.dumps(summary))
    if failed or duplicates or missing:
        raise BatchFailed(f"{len(failed) + len(duplicates) + len(missing)} problem(s) in the merged manifest")
