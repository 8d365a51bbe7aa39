"""Run restore jobs with a progress bar, a summary, and JSON records.

``plan_outputs`` turns the arguments into (input, output) pairs; ``run``
restores them in order with the options of one ``BatchOptions``. Kept apart
from ``commands.restore`` so that option parsing stays readable.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from tdpr_cli.commands.progress import UNIT, PlainProgress, check_mode, make_progress, task_name
from tdpr_cli.config import Subtype
from tdpr_cli.errors import BatchFailed, InputError, OutputError, TdprError, UsageError

if TYPE_CHECKING:
    from tdpr_cli.commands.local_pool import LocalPool
    from tdpr_cli.commands.ray_pool import RayPool
    from tdpr_cli.report.batch import RestoreReports
    from tdpr_cli.restore.file import FileRecord
    from tdpr_cli.restore.load import LazyRestorer
    from tdpr_cli.restore.manifest import RunRecords


@dataclass(frozen=True)
class Plan:
    """(input, output) path pairs (``-`` for stdin/stdout) and whether the input is a folder."""

    pairs: list[tuple[str, str]]
    folder: bool
    unread: tuple[str, ...] = ()  # folder runs: hidden or symlinked entries passed over (audio_files)


@dataclass(frozen=True)
class BatchOptions:
    """How outputs are written and what is shown: ``tdpr restore``'s output options."""

    subtype: Subtype = Subtype.PCM_16
    overwrite: bool = False
    skip_existing: bool = False
    quiet: bool = False
    json_out: bool = False
    progress: str = "auto"  # auto | bar | plain | none
    manifest: Path | None = None  # append one record per finished file (restore.manifest)
    resume: bool = False  # skip the files the manifest records as done
    run_options: dict[str, Any] = field(default_factory=dict)  # the options that shape an output

    def __post_init__(self) -> None:
        check_mode(self.progress)
        if self.resume and self.manifest is None:
            raise UsageError("--resume needs --manifest FILE: the record of the run to resume")


def plan_outputs(inp: str, out: str | None, out_dir: Path | None, fmt: str | None = None,
                 shard: tuple[int, int] | None = None) -> Plan:
    """The files of this run (of shard K/N only, when given); UsageError on bad combinations of arguments."""
    if inp != "-" and not os.path.lexists(inp):  # before the options' checks, which would guess wrong
        raise InputError(f"{inp}: no such file or folder")
    if inp != "-" and Path(inp).is_dir():
        if out_dir is None or out is not None:
            raise UsageError(f"{inp} is a folder: use `tdpr restore {inp} --out OUTDIR`")
        if out_dir.resolve() == Path(inp).resolve():
            raise UsageError("--out must differ from the input folder; tdpr never writes over its inputs")
        from tdpr_cli.restore.file import discover
        from tdpr_cli.restore.manifest import in_shard

        unread: list[Path] = []
        pairs = discover(Path(inp), out_dir, fmt, unread)
        if shard is not None:
            pairs = [(a, b) for a, b in pairs if in_shard(a.relative_to(inp).as_posix(), shard)]
        return Plan([(str(a), str(b)) for a, b in pairs], True, tuple(map(str, sorted(unread))))
    given = [name for name, value in (("--format", fmt), ("--shard", shard)) if value is not None]
    if given:
        what = " and ".join(given)
        raise UsageError(f"{what} {'is' if len(given) == 1 else 'are'} for folder runs"
                         + ("; a file's format follows its OUT name's extension" if fmt is not None else ""))
    if out_dir is not None:
        raise UsageError("--out is for folder input; for a file give the output path as the second argument")
    if out is None:
        raise UsageError("missing OUT: `tdpr restore IN OUT` (use - for stdout)")
    return Plan([(inp, out)], False)


def check_outputs(plan: Plan, out_dir: Path | None, opts: BatchOptions) -> None:
    """Fail once, up front, before any file is read or model loads.

    Every run: an output format that cannot hold ``--subtype`` (FLAC and FLOAT, an unknown
    extension) is a UsageError; a ``--manifest`` that is not one, or cannot be appended to,
    fails. Folder runs: an output folder that cannot be created or written is an OutputError
    (exit 4); outputs left by an earlier run need --skip-existing or --overwrite, said once
    instead of once per file (exit 4, as for a file).
    """
    from tdpr_cli.audio.write import check_output_format

    # Before any file is read: an output format that cannot hold --subtype is a usage error
    # for the whole run (it failed each file after its analysis pass, with exit 1).
    if not plan.folder:
        from tdpr_cli.restore.file import check_paths

        check_paths(*plan.pairs[0], overwrite=True)  # a folder as OUT, a name too long (exists: later)
    for out in {Path(out).suffix.lower(): out for _, out in plan.pairs}.values():
        try:
            check_output_format(out, opts.subtype)
        except UsageError as exc:
            raise UsageError(f"{exc}; --format wav writes every output of a folder as WAV" if plan.folder
                             else str(exc)) from None
    if opts.manifest is not None:  # a file restored and then not recorded could not be resumed
        from tdpr_cli.restore.manifest import check_destination

        check_destination(opts.manifest)
    if not plan.folder or out_dir is None:
        return
    from tdpr_cli.audio.atomic import writable_folder

    writable_folder(out_dir.resolve(), str(out_dir), create=False)  # the first file written creates it
    if opts.overwrite or opts.skip_existing or opts.resume:
        return
    existing = [out for _, out in plan.pairs if Path(out).exists()]
    if existing:  # exit 4, as for one existing output
        raise OutputError(f"{len(existing)} of {len(plan.pairs)} outputs exist already (first: {existing[0]}); "
                          "pass --skip-existing to keep them or --overwrite to replace them")


def _emit(rec, json_out: bool) -> None:
    """The file's JSON record, one line on stdout; a stdout that cannot take it (a full disk,
    closed) is an ``OutputError`` (exit 4); a reader that left raises ``BrokenPipeError``."""
    if not json_out:
        return
    from tdpr_cli.audio.stdout import write_stdout

    try:
        write_stdout((json.dumps(rec.as_dict()) + "\n").encode())
    except BrokenPipeError:
        raise
    except OutputError as exc:
        raise OutputError(f"{exc}; cannot write the --json record of {rec.input}") from None
    except (OSError, ValueError) as exc:  # a full disk; ValueError: a closed text stream
        reason = getattr(exc, "strerror", None) or exc
        raise OutputError(f"<stdout>: cannot write the --json record of {rec.input} ({reason})") from None


def _log(console: Console, rec, quiet: bool) -> None:
    if quiet:
        return
    for w in rec.warnings:
        console.print(f"[yellow]warning[/]: {escape(rec.input)}: {escape(w)}")
    if rec.status == "ok":
        speed = rec.duration_s / rec.wall_s if rec.wall_s else 0.0
        console.print(
            f"{escape(rec.input)} -> {escape(rec.output)}: {escape(rec.message)}; "
            f"{rec.duration_s:.1f} s in {rec.wall_s:.1f} s ({speed:.1f}x real time)"
        )
    elif rec.status == "passthrough":  # a copy at 16 kHz: its speed says nothing about restoration
        console.print(f"{escape(rec.input)} -> {escape(rec.output)}: {escape(rec.message)} ({rec.duration_s:.1f} s)")
    elif rec.status == "skipped":
        console.print(f"{escape(rec.input)} -> {escape(rec.output)}: skipped, {escape(rec.message)}")


def _seconds_progress(bar: Progress | PlainProgress, task: Any) -> Callable[[int, int], None]:
    """Progress callback counting 16 kHz samples, shown in seconds of audio."""

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done / 16000, total=total / 16000)

    return update


def _restore_one(inp: str, out: str, restorer: LazyRestorer, opts: BatchOptions, folder: bool,
                 progress: Callable[[int, int], None]) -> FileRecord:
    """One file's record; a failure becomes an error record in folder mode, and is raised for one file
    (after its record went to stdout with ``--json``)."""
    from tdpr_cli.restore.file import failure_record, restore_file, restore_recorded

    if folder:
        return restore_recorded(inp, out, restorer, opts.subtype, opts.overwrite, progress)
    try:
        return restore_file(inp, out, restorer, opts.subtype, opts.overwrite, progress)
    except Exception as exc:
        try:
            _emit(failure_record(inp, out, exc), opts.json_out)
        except (OSError, TdprError):
            pass  # a stdout that cannot take the record must not hide why the file failed
        raise


def _skip(inp: str, out: str, done: RunRecords, opts: BatchOptions, info: dict[str, str],
          console: Console) -> tuple[FileRecord | None, BatchOptions]:
    """A skip record when the file needs no work, else None and the options to restore it with."""
    from tdpr_cli.restore import manifest as run_manifest
    from tdpr_cli.restore.file import FileRecord

    # With --resume: None when the manifest records this pair as done, else why it is redone.
    record = done.get(inp) if opts.resume else None
    redo = run_manifest.why_redo(record, inp, out, opts.run_options, info) if opts.resume else None
    if opts.resume and redo is None:
        return FileRecord(inp, out, status="skipped", message="done in the manifest"), opts
    exists = out != "-" and Path(out).exists()
    if opts.skip_existing and exists:
        return FileRecord(inp, out, status="skipped", message="output exists"), opts
    if opts.resume and exists and not opts.overwrite and not done.wrote(inp, out):
        # A file this run never recorded writing: stopped between the rename and the record, or
        # someone else's file where this input's output now goes. Never replaced unasked.
        why = "has no record of it (a run stopped while recording it?)" if record is None else \
            "does not record writing it for this input"
        return FileRecord(inp, out, status="error", message=(
            f"{out}: exists, but the manifest {why}; rerun with --skip-existing to keep it or "
            "--overwrite to restore it again")), opts
    if record is not None:  # a redo of this run's own file may replace its output
        if not opts.quiet:
            console.print(f"redo {escape(inp)}: {redo}")
        return None, dataclasses.replace(opts, overwrite=True)
    return None, opts


def run(plan: Plan, restorer: LazyRestorer | None, info: dict[str, str], opts: BatchOptions, console: Console,
        reports: RestoreReports | None = None, pool: LocalPool | RayPool | None = None) -> None:
    """Restore every pair; in folder mode keep going past failures and raise at the end.

    Files run here one by one with ``restorer``, or on ``pool`` (worker processes or Ray actors,
    folder runs only), whose records arrive as workers finish. ``reports`` draws a report of each file after it is
    written, before its record is logged, so report warnings show.
    """
    from tdpr_cli.dsp.bandwidth import UNSURE_HINT, UNSURE_HINT_REPORTED
    from tdpr_cli.restore import manifest as run_manifest

    folder = plan.folder
    done = run_manifest.RunRecords.read(opts.manifest) if opts.resume and opts.manifest else run_manifest.RunRecords({})
    records: list[FileRecord] = []

    def persist(rec: FileRecord) -> None:
        """As soon as a file is done: its models, and its manifest line (what --resume trusts)."""
        rec.models = dict(info) if rec.status != "error" else {}
        if opts.manifest is not None:
            run_manifest.append(opts.manifest, _manifest_record(rec, opts))

    def finish(rec: FileRecord, worked: bool, persisted: bool = False) -> None:
        if reports is not None and rec.status in ("ok", "passthrough"):  # its report is drawn next
            rec.message = rec.message.replace(UNSURE_HINT, UNSURE_HINT_REPORTED)
        if worked and not persisted:
            persist(rec)
        if reports is not None and restorer is not None:
            reports.add(rec, restorer)
        records.append(rec)
        _log(console, rec, opts.quiet)
        _emit(rec, opts.json_out)

    with make_progress(console, opts.progress, opts.quiet) as bar:
        work = []
        for inp, out in plan.pairs:
            rec, file_opts = _skip(inp, out, done, opts, info, console)
            if rec is not None:
                finish(rec, rec.status == "error")  # a failure is recorded: a merge shows it, with why
                if rec.status == "error" and not folder:  # one file: its failure is the run's
                    raise OutputError(rec.message)
            elif pool is not None:
                work.append((inp, out, file_opts.overwrite))
            else:
                assert restorer is not None
                task = bar.add_task(task_name(inp), total=1.0, unit=UNIT)
                rec = _restore_one(inp, out, restorer, file_opts, folder, _seconds_progress(bar, task))
                bar.remove_task(task)
                finish(rec, True)
        if pool is not None:
            # A pool may show records later than files finish (the local one keeps the folder's
            # order); the manifest gets each line at once, so an interrupted run resumes exactly.
            for rec in pool.run(work, opts.subtype, bar, persist):
                finish(rec, True, persisted=True)
    if reports is not None and (index := reports.finish()) is not None and not opts.quiet:
        console.print(f"report{'s' if folder else ''}: {escape(str(index))}")
    if folder:
        _summary(records, console, opts.quiet)


def _manifest_record(rec: FileRecord, opts: BatchOptions) -> dict[str, Any]:
    """One manifest line: the file's record, its input stamp, the output hash and the run's options."""
    from tdpr_cli.digest import sha256_file
    from tdpr_cli.restore.manifest import DONE, input_stamp

    written = rec.status in DONE and rec.output != "-"
    stamp = input_stamp(rec.input) if rec.input == "-" or Path(rec.input).exists() else {}
    return {**rec.as_dict(), **stamp, "options": opts.run_options,
            "output_sha256": sha256_file(Path(rec.output)) if written else None,
            "output_realpath": os.path.realpath(rec.output) if written else None}


def _summary(records, console: Console, quiet: bool) -> None:
    failed = [r for r in records if r.status == "error"]
    counts = {s: sum(r.status == s for r in records) for s in ("ok", "passthrough", "skipped", "error")}
    if not records and not quiet:
        console.print("no audio files to restore in the input folder (or in this shard)")
    if not quiet:
        table = Table(title=f"tdpr: {len(records)} files", show_lines=False)
        for col in ("status", "count"):
            table.add_column(col)
        for status, n in counts.items():
            table.add_row(status, str(n))
        console.print(table)
    for r in failed:  # errors: shown under --quiet too
        # Most messages start with the file's name already; say it once.
        text = r.message if r.message.startswith(r.input) else f"{r.input}: {r.message}"
        console.print(f"[red]failed[/]: {escape(text)}")
    if failed:
        raise BatchFailed(f"{len(failed)} of {len(records)} files failed")

