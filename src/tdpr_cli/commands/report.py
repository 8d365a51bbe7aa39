"""``tdpr report IN OUT [--ref REF]``, and the ``--report``/``--report-dir`` of ``tdpr restore``.

``tdpr report`` draws the report of ``tdpr_cli.report.analyse`` for files that
already exist. Its phase view needs the TD-CNN and the vocoder; they are
loaded (lazily, only then) from the lock like ``tdpr restore`` does, and when
no weights can be had the phase panel is replaced by a note saying why. The
PNG or HTML file is the only output; a line naming it goes to stderr.

``RestoreReports`` is the restore side: it reuses the already loaded
``Restorer`` and writes one report per restored file (or one ``--report``
file), and an ``index.html`` that links them all in ``--report-dir`` mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tdpr_cli.config import PhaseMode
from tdpr_cli.errors import InputError, TdprError, UsageError, WeightsError

if TYPE_CHECKING:
    from tdpr_cli.restore.file import FileRecord
    from tdpr_cli.restore.pipeline import Restorer
    from tdpr_cli.report.analyse import IndexRow

In = Annotated[Path, typer.Argument(metavar="IN", help="The band-limited input file.")]
Out = Annotated[Path, typer.Argument(metavar="OUT", help="The restored file.")]
RefOpt = Annotated[Path | None, typer.Option("--ref", help="Full-band reference: drawn too, and scored (tdpr eval metrics).")]
ReportOut = Annotated[Path, typer.Option("--out", "-o", help="Report file: .png, or .html with the PNG embedded.")]
CutoffOpt = Annotated[float | None, typer.Option("--cutoff", help="Band limit of IN in Hz (default: detected).")]
PhaseOpt = Annotated[PhaseMode, typer.Option("--phase", help="Phase mode of the recomputed phase view; none omits it.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="TD-CNN name from weights.lock (phase view).")]
VocoderOpt = Annotated[str | None, typer.Option("--vocoder", help="Vocoder name from weights.lock (phase view).")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Never touch the network for weights.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N (phase view).")]


def _restorer(model, vocoder, offline: bool, phase: PhaseMode, device: str) -> tuple[Restorer, dict[str, str]]:
    """Load the models for the phase view, exactly as ``tdpr restore`` would."""
    from tdpr_cli.commands.restore import Precision, load_models, pick_device
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.restore.pipeline import Restorer

    dev, amp = pick_device(device, Precision.FP32)
    tdcnn, voc, info = load_models(model, vocoder, None, None, False, offline, phase)
    return Restorer(tdcnn, voc, RestoreConfig(phase=phase), dev, amp), info


def report_cmd(
    inp: In,
    out: Out,
    ref: RefOpt = None,
    report: ReportOut = Path("report.png"),
    cutoff: CutoffOpt = None,
    phase: PhaseOpt = PhaseMode.BAND,
    model: ModelOpt = None,
    vocoder: VocoderOpt = None,
    offline: OfflineOpt = False,
    device: DeviceOpt = "auto",
) -> None:
    """Draw spectrograms, LTAS and the phase view of IN and OUT (and REF) into a PNG or HTML report."""
    from rich.console import Console

    from tdpr_cli.report.analyse import (
        build_report,
        check_report_path,
        require_matplotlib,
        short_models,
        write_report,
    )

    check_report_path(report)
    require_matplotlib()
    for p in (inp, out, ref):
        if p is not None and not p.is_file():
            raise InputError(f"{p}: no such file")
    restorer, notes, header = None, [], {"phase": phase.value}
    if phase is PhaseMode.NONE:
        notes.append("no phase view: --phase none")
    else:
        try:
            restorer, info = _restorer(model, vocoder, offline, phase, device)
            header |= {"models (phase view)": short_models(info), "device": str(restorer.device)}
        except WeightsError as exc:
            notes.append(f"phase view omitted: no TD-CNN/vocoder weights ({exc})")
    data = build_report(inp, out, ref=ref, cutoff_hz=cutoff, restorer=restorer, header=header, notes=notes)
    write_report(data, report)
    Console(stderr=True).print(f"report written to {report}")


class RestoreReports:
    """Reports for ``tdpr restore --report PATH`` (one file) or ``--report-dir DIR`` (any number)."""

    def __init__(self, path: Path | None, folder: Path | None, out_root: Path | None) -> None:
        self.path, self.folder, self.out_root = path, folder, out_root
        self.info: dict[str, str] = {}  # model names and hashes, set once they are loaded
        self.rows: list[IndexRow] = []

    @classmethod
    def plan(cls, path: Path | None, folder: Path | None, inp: str, out: str | None,
             out_dir: Path | None) -> RestoreReports | None:
        """Validate the options before any model is loaded; None when no report is asked for."""
        from tdpr_cli.report.analyse import check_report_path, require_matplotlib

        if path is None and folder is None:
            return None
        if path is not None and folder is not None:
            raise UsageError("give --report (one file) or --report-dir (one report per file), not both")
        if path is not None and out_dir is not None:
            raise UsageError("--report is for one file; for a folder use --report-dir DIR")
        if inp == "-" or out == "-" or (out_dir is None and not Path(inp).is_file()):
            raise UsageError("a report re-reads the input and output files; they must be regular files")
        if path is not None:
            check_report_path(path)
        require_matplotlib()
        return cls(path, folder, out_dir)

    def _target(self, rec: FileRecord) -> Path:
        if self.path is not None:
            return self.path
        out = Path(rec.output)
        rel = out.relative_to(self.out_root) if self.out_root is not None else Path(out.name)
        return self.folder / rel.parent / f"{rel.name}.html"

    def add(self, rec: FileRecord, restorer: Restorer) -> None:
        """Report one finished file.

        With ``--report`` a failure to draw is an error (the audio is already
        written); with ``--report-dir`` it becomes a warning of that file, so a
        batch never stops for a picture.
        """
        from tdpr_cli.report.analyse import IndexRow, build_report, short_models, write_report

        link = None
        if rec.status in ("ok", "passthrough"):
            header = {
                "cutoff": f"{rec.cutoff_hz:.0f} Hz (detected)" if rec.cutoff_hz is not None else "-",
                "models": short_models(self.info), "phase": restorer.cfg.phase.value,
                "device": rec.device, "speed": f"{rec.duration_s / max(rec.seconds, 1e-9):.1f}x real time",
            }
            ok = rec.status == "ok"
            notes = [] if ok else [f"phase view omitted: input passed through ({rec.message})"]
            try:
                data = build_report(rec.input, rec.output, cutoff_hz=rec.cutoff_hz,
                                    restorer=restorer if ok else None, header=header, notes=notes)
                target = write_report(data, self._target(rec))
                link = target.relative_to(self.folder).as_posix() if self.folder is not None else str(target)
            except TdprError as exc:
                if self.folder is None:
                    raise
                rec.warnings.append(f"report not written: {exc}")
        self.rows.append(IndexRow(rec.input, rec.status, rec.message, link))

    def finish(self) -> Path | None:
        """Write ``index.html`` in ``--report-dir`` mode; returns its path."""
        from tdpr_cli.report.analyse import write_index

        if self.folder is None:
            return None
        return write_index(self.folder, self.rows)
