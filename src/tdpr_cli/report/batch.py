"""Reports of a ``tdpr restore`` run: ``--report PATH`` (one file) or ``--report-dir DIR``.

``RestoreReports`` reuses the run's models (built when a file is restored) and writes one
report per restored file (or the one ``--report`` file), and in
``--report-dir`` mode an ``index.html`` that links them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tdpr_cli.errors import TdprError, UsageError

if TYPE_CHECKING:
    from tdpr_cli.report.data import IndexRow
    from tdpr_cli.restore.file import FileRecord, Models


class RestoreReports:
    """Reports for ``tdpr restore --report PATH`` (one file) or ``--report-dir DIR`` (any number)."""

    def __init__(self, path: Path | None, folder: Path | None, out_root: Path | None, fmt: str = "html") -> None:
        self.path, self.folder, self.out_root, self.fmt = path, folder, out_root, fmt
        self.info: dict[str, str] = {}  # model names and hashes, set once they are loaded
        self.rows: list[IndexRow] = []

    @classmethod
    def plan(cls, path: Path | None, folder: Path | None, inp: str, out: str | None,
             out_dir: Path | None, fmt: str | None = None) -> RestoreReports | None:
        """Validate the options before any model is loaded; None when no report is asked for."""
        from tdpr_cli.report.analyse import check_report_path, require_matplotlib

        if fmt is not None and folder is None:
            raise UsageError("--report-format is for --report-dir; the suffix of --report's file decides its format")
        if path is None and folder is None:
            return None
        fmt = "html" if fmt is None else fmt
        if path is not None and folder is not None:
            raise UsageError("give --report (one file) or --report-dir (one report per file), not both")
        if fmt not in ("png", "html"):
            raise UsageError(f"--report-format must be png or html, got {fmt!r}")
        if path is not None and out_dir is not None:
            raise UsageError("--report is for one file; for a folder use --report-dir DIR")
        if inp == "-" or out == "-" or (out_dir is None and not Path(inp).is_file()):
            raise UsageError("a report re-reads the input and output files; they must be regular files")
        if path is not None:
            check_report_path(path)
        require_matplotlib()
        # Before any file is restored: a report that cannot be written failed after its audio was
        # written (no record, no summary line) or, for --report-dir, file after file.
        from tdpr_cli.audio.atomic import output_path_state, writable_folder

        if path is not None:
            output_path_state(path, str(path), "a report")
            writable_folder(path.absolute().parent, str(path), create=False, role="report folder")
        else:
            assert folder is not None
            writable_folder(folder.absolute(), str(folder), create=False, role="report folder")
        return cls(path, folder, out_dir, fmt)

    def _target(self, rec: FileRecord) -> Path:
        if self.path is not None:
            return self.path
        out = Path(rec.output)
        rel = out.relative_to(self.out_root) if self.out_root is not None else Path(out.name)
        assert self.folder is not None  # plan() makes one of path and folder
        return self.folder / rel.parent / f"{rel.name}.{self.fmt}"

    def add(self, rec: FileRecord, models: Models) -> None:
        """Report one finished file (a restored one through ``models``, built by then).

        With ``--report`` a failure to draw is an error (the audio is already
        written); with ``--report-dir`` it becomes a warning of that file, so a
        batch never stops for a picture.
        """
        from tdpr_cli.report.analyse import build_report, short_models, write_report
        from tdpr_cli.report.data import IndexRow

        link = None
        if rec.status in ("ok", "passthrough"):
            header = {
                "cutoff": _cutoff_note(rec),
                "models": short_models(self.info), "phase": models.cfg.phase.value,
                "device": runtime_note(rec.device, rec.runtime, rec.threads),
            }
            if rec.status == "ok":  # a pass-through is a copy: its speed says nothing
                header["speed"] = f"{rec.duration_s / max(rec.wall_s, 1e-9):.1f}x real time"
            ok = rec.status == "ok"
            notes = [] if ok else [f"phase view omitted: input passed through ({rec.message})"]
            try:
                data = build_report(rec.input, rec.output, cutoff_hz=rec.cutoff_hz,
                                    restorer=models.get() if ok else None, header=header, notes=notes)
                target = write_report(data, self._target(rec))
                link = target.relative_to(self.folder).as_posix() if self.folder is not None else str(target)
            except TdprError as exc:
                if self.folder is None:
                    raise
                rec.warnings.append(f"report not written: {exc}")
        elif rec.status == "skipped" and self.folder is not None and self._target(rec).is_file():
            link = self._target(rec).relative_to(self.folder).as_posix()  # an earlier run's report still stands
        self.rows.append(IndexRow(rec.input, rec.status, rec.message, link))

    def finish(self) -> Path | None:
        """Write ``index.html`` in ``--report-dir`` mode; returns its path (``--report``: the
        report's own path, once written)."""
        from tdpr_cli.report.analyse import write_index

        if self.folder is None:
            return self.path if self.path is not None and self.path.exists() else None
        return write_index(self.folder, self.rows)


def _cutoff_note(rec: FileRecord) -> str:
    """The cutoff a file was restored at, and where it came from (detection or ``--cutoff``)."""
    if rec.cutoff_hz is None:
        return "-"
    if rec.detected_cutoff_hz is not None and rec.detected_cutoff_hz != rec.cutoff_hz:
        return f"{rec.cutoff_hz:.0f} Hz (--cutoff; detected {rec.detected_cutoff_hz:.0f} Hz)"
    return f"{rec.cutoff_hz:.0f} Hz (detected)"


def runtime_note(device: str, runtime: str | None, threads: int | None) -> str:
    """A report header's device line: "cpu (onnxruntime, 2 threads)"; the device alone where no
    model ran."""
    if runtime is None:
        return device
    return f"{device} ({runtime}, {threads} thread{'' if threads == 1 else 's'})"
