"""``tdpr report IN OUT [--ref REF]``, and the ``--report``/``--report-dir`` of ``tdpr restore``.

``tdpr report`` draws the report of ``tdpr_cli.report.analyse`` for files that
already exist. Its phase view needs the TD-CNN and the vocoder; they are
loaded (lazily, only then) from the lock like ``tdpr restore`` does, and when
no weights can be had the phase panel is replaced by a note saying why. The
PNG or HTML file is the only output; a line naming it goes to stderr.
``tdpr restore --report/--report-dir`` uses ``report.batch.RestoreReports``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tdpr_cli.commands.options import Device, Model, Offline, Sha, Trust, VocoderName, Weights
from tdpr_cli.config import PhaseMode
from tdpr_cli.errors import OutputError, UsageError, WeightsError

if TYPE_CHECKING:
    from tdpr_cli.restore.load import ModelChoice
    from tdpr_cli.restore.stream import ChunkRestorer

In = Annotated[Path, typer.Argument(metavar="IN", help="The band-limited input file.")]
Out = Annotated[Path, typer.Argument(metavar="OUT", help="The restored file.")]
RefOpt = Annotated[Path | None, typer.Option("--ref", help="Full-band reference: drawn too, and scored (tdpr eval metrics).")]
ReportOut = Annotated[Path, typer.Option("--out", "-o", help="Report file: .png, or .html with the PNG embedded.")]
CutoffOpt = Annotated[float | None, typer.Option("--cutoff", help="Band limit of IN in Hz (default: detected).")]
PhaseOpt = Annotated[PhaseMode, typer.Option("--phase", help="Phase mode of the recomputed phase view; none omits it.")]


def _restorer(choice: ModelChoice, phase: PhaseMode, device: str) -> tuple[ChunkRestorer, dict[str, str]]:
    """Build the models for the phase view as ``tdpr restore`` does with its defaults: verified,
    chunks on the model's grid, the same thread policy (``restore.load.build_restorer``)."""
    from tdpr_cli.config import RestoreConfig
    from tdpr_cli.device import Precision
    from tdpr_cli.restore.load import build_restorer, resolve_models

    cfg = RestoreConfig(phase=phase)
    found = resolve_models(choice, cfg.phase)
    return build_restorer(found, cfg, device, Precision.FP32, None), found.info


def _check_report_target(report: Path, overwrite: bool) -> None:
    """Before any work: an existing report needs ``overwrite``; a folder or a name the file
    system refuses is an error; its folder must be writable (made when the report is)."""
    from tdpr_cli.audio.atomic import output_path_state, writable_folder

    is_dir, exists = output_path_state(report, str(report), "a report")
    if is_dir:
        raise UsageError(f"{report}: is a folder; --out takes the report's file name")
    if exists and not overwrite:
        raise OutputError(f"{report}: exists; pass --overwrite to replace it")
    writable_folder(report.absolute().parent, str(report), create=False, role="report folder")


def report_cmd(
    inp: In,
    out: Out,
    ref: RefOpt = None,
    report: ReportOut = Path("report.png"),
    cutoff: CutoffOpt = None,
    phase: PhaseOpt = PhaseMode.BAND,
    model: Model = None,
    vocoder: VocoderName = None,
    weights: Weights = None,
    sha256: Sha = None,
    trust_local: Trust = False,
    offline: Offline = False,
    device: Device = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the report file if it exists.")] = False,
) -> None:
    """Draw spectrograms, LTAS and the phase view of IN and OUT (and REF) into a PNG or HTML report."""
    from tdpr_cli.audio.read import check_input_path
    from tdpr_cli.audio.write import same_file
    from tdpr_cli.commands.console import stderr_console
    from tdpr_cli.report.analyse import (
        build_report,
        check_report_path,
        require_matplotlib,
        short_models,
        write_report,
    )
    from tdpr_cli.report.batch import runtime_note

    check_report_path(report)
    if cutoff is not None:
        from tdpr_cli.config import RestoreConfig

        RestoreConfig(cutoff_hz=cutoff)  # the same range check as restore's --cutoff (UsageError)
    require_matplotlib()
    for p in (inp, out, ref):
        if p is not None:
            check_input_path(p)
            if same_file(p, report):  # inputs are never touched
                raise OutputError(f"{report}: is the input {p}; a report never writes over its inputs")
    _check_report_target(report, overwrite)
    restorer, notes, header = None, [], {"phase": phase.value}
    if phase is PhaseMode.NONE and (model or vocoder or weights):  # options that would do nothing
        raise UsageError("--model, --vocoder and --weights draw the phase view, which --phase none omits")
    if phase is PhaseMode.NONE:
        notes.append("no phase view: --phase none")
    else:
        try:
            from tdpr_cli.restore.load import ModelChoice

            restorer, info = _restorer(ModelChoice(model, vocoder, weights, sha256, trust_local, offline), phase, device)
            header |= {"models (phase view)": short_models(info),
                       "device": runtime_note(str(restorer.device), restorer.runtime, restorer.threads)}
        except WeightsError as exc:
            if model or vocoder or weights:  # asked for by name or path: not a silent omission
                raise
            notes.append(f"phase view omitted: no TD-CNN/vocoder weights ({exc})")
    data = build_report(inp, out, ref=ref, cutoff_hz=cutoff, restorer=restorer, header=header, notes=notes)
    write_report(data, report)
    stderr_console().print(f"report written to {report}")
