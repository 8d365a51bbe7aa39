"""``tdpr eval FILE_EST FILE_REF``: objective metrics of one restored file.

Both files are read whole, converted to 16 kHz if needed
(``evaluation.files.load_pair``) and scored with ``evaluation.metrics.score``. The band
metrics (``lsd_high`` and the phase errors of the generated and kept bands)
need the input's band limit, so they are reported only with ``--cutoff``.
A table goes to stderr; with ``--json`` one JSON object goes to stdout, which
carries nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # rich is imported inside the functions
    from rich.table import Table

#: Column labels, in display order; metrics absent from a result are skipped.
LABELS: dict[str, str] = {
    "lsd": "LSD (ssr_eval)",
    "lsd_2048": "LSD 2048/512",
    "lsd_high": "LSD above cutoff",
    "snr": "SNR dB",
    "phase_cos_high": "phase 1-cos, generated band",
    "phase_ifd_high": "IF deviation rad, generated band",
    "phase_cos_low": "phase 1-cos, kept band",
    "phase_ifd_low": "IF deviation rad, kept band",
    "comb": "62.5 Hz comb dB (estimate)",
}

Est = Annotated[Path, typer.Argument(metavar="FILE_EST", help="Estimate: the restored audio file.")]
Ref = Annotated[Path, typer.Argument(metavar="FILE_REF", help="Reference: the full-band original.")]
CutoffOpt = Annotated[
    float | None,
    typer.Option("--cutoff", help="Band limit of the degraded input in Hz; adds the band metrics."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")]


def metrics_table(columns: dict[str, dict[str, float]], title: str) -> Table:
    """A rich table: one row per known metric, one column per named result
    (a single file, or the systems of the paper's table)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for key, label in LABELS.items():
        if any(key in scores for scores in columns.values()):
            cells = (f"{s[key]:.4f}" if key in s else "-" for s in columns.values())
            table.add_row(label, *cells)
    return table


def eval_cmd(est: Est, ref: Ref, cutoff: CutoffOpt = None, json_out: JsonOpt = False) -> None:
    """Score FILE_EST against FILE_REF (LSD, SNR; band metrics with --cutoff)."""
    from tdpr_cli.commands.console import stderr_console
    from tdpr_cli.config import SAMPLE_RATE
    from tdpr_cli.errors import UsageError
    from tdpr_cli.evaluation.files import json_safe, load_pair
    from tdpr_cli.evaluation.metrics import score

    e, r = load_pair(est, ref)
    try:
        scores = score(e, r, cutoff)
    except UsageError as exc:  # "lengths differ by ...": say which pair
        raise UsageError(f"{est} vs {ref}: {exc}") from None
    stderr_console().print(metrics_table({est.name: scores}, title=f"{est} vs {ref}"))
    if json_out:
        record: dict[str, Any] = {
            "estimate": str(est),
            "reference": str(ref),
            "cutoff_hz": cutoff,
            "sample_rate": SAMPLE_RATE,
            "metrics": json_safe(scores),
        }
        typer.echo(json.dumps(record))
