"""``tdpr weights ...``: list, verify, fetch and add pinned model weights.

Tables and progress go to stderr; only data (JSON, file paths) goes to
stdout, so ``tdpr weights fetch NAME`` can be used in ``$(...)``. Commands
raise ``TdprError`` subclasses and leave exit codes to ``tdpr_cli.cli``.
The hub library is imported only by the commands that download.
"""

from __future__ import annotations

import json
import shutil
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from tdpr_cli.commands.console import stderr_console
from tdpr_cli.errors import OutputError, WeightsError
from tdpr_cli.weights import hub
from tdpr_cli.weights import verify as hashing
from tdpr_cli.weights.lock import MODEL_KINDS, BundledSource, FileEntry, Lock, user_lock_path

app = typer.Typer(
    name="weights",
    help="List, verify, download and pin model weights (see weights.lock).",
    no_args_is_help=True,
)

#: Model kinds as a Click choice, built from the one registry in lockfile.
Kind = Enum("Kind", {k: k for k in MODEL_KINDS}, type=str)  # type: ignore[misc]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Use only the local hub cache (also HF_HUB_OFFLINE=1).")
]


def _status_rows(lock: Lock) -> list[dict[str, Any]]:
    """One row per model; presence and verification come from caches, nothing is hashed."""
    rows = []
    for entry in lock.models.values():
        src = entry.source
        states = []
        for f in entry.files:
            if isinstance(src, BundledSource):
                local = src.directory / f.filename
                path: Path | None = local if local.is_file() else None
            else:
                path = hub.cached(src.repo_id, f.filename, src.revision)
            verified = path is not None and hashing.is_verified(path, f.sha256)
            states.append("absent" if path is None else "verified" if verified else "unverified")
        if isinstance(src, BundledSource):
            source = f"bundled:{src.path}"
        else:
            source = f"hf://{src.repo_id}@{src.revision}"
        rows.append({
            "name": entry.name,
            "kind": entry.kind,
            "default": lock.defaults.get(entry.kind) == entry.name,
            "size": sum(f.size for f in entry.files),
            "source": source,
            "present": "absent" not in states,
            "verified": set(states) == {"verified"},
        })
    return rows


def _human_size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@app.command("list")
def list_models(json_out: JsonOpt = False) -> None:
    """List the models of the packaged and user locks, and whether they are on disk."""
    from tdpr_cli.weights.resolve import load_lock

    rows = _status_rows(load_lock())
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        stderr_console().print("no models in the lock yet; add one with `tdpr weights add`")
        return
    from rich.table import Table

    cells = [(r["name"], r["kind"], "yes" if r["default"] else "", _human_size(r["size"]),
              "verified" if r["verified"] else "present" if r["present"] else "not downloaded", r["source"])
             for r in rows]
    # Names are what the other commands take: never cut a cell short (a log, an 80-column
    # terminal); the source, the longest, wraps instead, and is left out where it would get
    # under 16 columns (it was folded one character a line: a 314-line table).
    console = stderr_console()
    widths = [max(len(column), *(len(c[i]) for c in cells))
              for i, column in enumerate(("name", "kind", "default", "size", "status"))]
    with_source = sum(widths) + 3 * 6 + 1 + 16 <= console.width
    table = Table()
    for width, column in zip(widths, ("name", "kind", "default", "size", "status")):
        table.add_column(column, no_wrap=True, min_width=width)
    if with_source:
        table.add_column("source", overflow="fold")
    for row in cells:
        table.add_row(*(row if with_source else row[:5]))
    console.print(table)
    if not with_source:
        console.print("(the source column needs a wider terminal; `tdpr weights list --json` has it)")


@app.command("verify")
def verify(json_out: JsonOpt = False) -> None:
    """Re-hash every pinned file on disk (bundled and cached); fail on any mismatch."""
    from tdpr_cli.weights.resolve import load_lock, verify_all

    results = verify_all(load_lock(), offline=True)
    if json_out:
        typer.echo(json.dumps([r._asdict() for r in results], indent=2))
    for r in results:
        style = {"ok": "green", "not-cached": "yellow"}.get(r.status, "bold red")
        stderr_console().print(f"[{style}]{r.status:>10}[/] {r.name} {r.filename}: {r.message}")
    bad = [r for r in results if r.status not in ("ok", "not-cached")]
    if bad:
        lines = "; ".join(f"{r.name}/{r.filename}: {r.message}" for r in bad)
        raise WeightsError(f"{len(bad)} weight file(s) failed verification: {lines}")
    absent = sum(r.status == "not-cached" for r in results)
    stderr_console().print(f"{len(results) - absent} file(s) verified, {absent} not downloaded")


def _copy_verified(path: Path, f: FileEntry, dest_dir: Path) -> Path:
    """Copy a verified file into ``dest_dir`` atomically, re-verifying the copy before the rename."""
    from tdpr_cli.audio.atomic import atomic_write

    dest = dest_dir / PurePosixPath(f.filename).name

    def fill(tmp: Path) -> None:
        shutil.copyfile(path, tmp)
        try:
            hashing.verify_file(tmp, f.sha256, f.size, use_cache=False)
        finally:
            hashing.forget(tmp)

    try:
        atomic_write(dest, fill)
    except OSError as exc:  # the copy's own hash failing stays a WeightsError (raised by fill)
        raise OutputError(f"{dest}: cannot write ({exc.strerror or exc})") from None
    return dest


@app.command("fetch")
def fetch(
    names: Annotated[list[str], typer.Argument(help="Model names from the lock.")],
    to: Annotated[
        Path | None, typer.Option("--to", help="Also copy the verified files into DIR.")
    ] = None,
    offline: OfflineOpt = False,
) -> None:
    """Download models at their pinned commit and verify them; print their paths."""
    from tdpr_cli.weights.resolve import load_lock, resolve

    lock = load_lock()
    for name in names:
        if name not in lock.models:
            known = ", ".join(sorted(lock.models)) or "none"
            raise WeightsError(f"unknown model {name!r} (known: {known})")
    if to is not None:  # before any download: a file in the way or a read-only place is exit 4
        from tdpr_cli.audio.atomic import writable_folder

        writable_folder(to.absolute(), f"--to {to}", create=False, role="folder")
    for name in names:
        entry = lock.models[name]
        model = resolve(lock, name, entry.kind, offline=offline)
        paths = [model.weights_path, model.config_path]
        if to is not None:
            files = (entry.weights_file, entry.config_file)
            paths = [_copy_verified(p, f, to) for p, f in zip(paths, files, strict=True)]
        stderr_console().print(f"[green]verified[/] {name} ({entry.kind})")
        for path in paths:
            typer.echo(str(path))


@app.command("add")
def add(
    uri: Annotated[str, typer.Argument(help="hf://REPO@COMMIT/FILE.safetensors (40-hex commit).")],
    name: Annotated[str, typer.Option("--name", help="Name to give the model in the lock.")],
    kind: Annotated[Kind, typer.Option("--kind", help="What the model is.")],
    offline: OfflineOpt = False,
) -> None:
    """Download a Hub model and its .json config and pin both in your user lock."""
    from tdpr_cli.weights.resolve import add_hf_entry

    path = user_lock_path()
    entry = add_hf_entry(uri, name, kind.value, path, offline=offline)
    size = sum(f.size for f in entry.files)
    stderr_console().print(f"pinned {entry.name} ({entry.kind}, {size} bytes) in the user lock:")
    typer.echo(str(path))


@app.command("pin")
def pin(
    name: Annotated[str, typer.Argument(help="Model name; hashes DIR/NAME.safetensors and DIR/NAME.json.")],
    kind: Annotated[Kind, typer.Option("--kind", help="What the model is.")],
    folder: Annotated[Path, typer.Option("--dir", help="Folder holding the two files.")],
    default: Annotated[bool, typer.Option("--default", help="Make it the default of its kind.")] = False,
    lock: Annotated[Path | None, typer.Option("--lock", help="Lock to rewrite (default: the packaged one).")] = None,
) -> None:
    """Hash a bundled model into a lock (maintainers: after training); print its block."""
    from tdpr_cli.weights.lock import PACKAGED_LOCK, read_lock
    from tdpr_cli.weights.lock_render import render_entry
    from tdpr_cli.weights.pin import write_pin

    written = write_pin(name, kind.value, folder, lock=lock or PACKAGED_LOCK, default=default)
    typer.echo(render_entry(read_lock(written[0])[0][name]), nl=False)
    stderr_console().print("wrote " + ", ".join(map(str, written)))
