"""``tdpr eval``: score one pair (``tdpr eval FILE_EST FILE_REF``) or run the paper's
table on the validation set (``tdpr eval table``).

The group routes any first argument that is not a subcommand name (a file
path, or an option such as ``--cutoff``) to the ``pair`` command, so both
spellings share one ``eval`` namespace; ``tdpr eval pair EST REF`` is the
explicit form (and the way to score a file literally named ``table``).
numpy and torch are imported inside the commands, so ``tdpr --help`` stays
instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from tdpr_cli.commands import eval_pair
from tdpr_cli.commands.options import Device, Offline, Sha, Threads, Trust, Weights
from tdpr_cli.config import PhaseMode
from tdpr_cli.errors import UsageError
from tdpr_cli.restore.load import ModelChoice

if TYPE_CHECKING:
    from tdpr_cli.evaluation.table import ModelRunner

DEFAULT_COMMAND = "pair"


class DefaultPairGroup(TyperGroup):
    """A group whose unknown first argument starts the ``pair`` command instead of failing."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DefaultPairGroup,
    no_args_is_help=True,
    subcommand_metavar="FILE_EST FILE_REF | COMMAND [ARGS]...",
    help="Objective metrics: `tdpr eval FILE_EST FILE_REF` scores one pair; "
    "`tdpr eval table` runs the paper's Table 1 protocol on the validation set.",
)
app.command(DEFAULT_COMMAND)(eval_pair.eval_cmd)

Models = Annotated[
    Optional[str],
    typer.Option("--models", metavar="TDCNN[,VOCODER]", help="Model names from weights.lock (default: the lock's defaults)."),
]
ValsetDir = Annotated[Path, typer.Option("--valset", help="Validation set folder (tdpr data valset).")]
OutStem = Annotated[Path, typer.Option("--out", help="Output path without suffix: writes OUT.md and OUT.json.")]
Limit = Annotated[Optional[int], typer.Option("--limit", min=1, help="Use only the first N clips of the set.")]
Rows = Annotated[
    Optional[str],
    typer.Option("--rows", help="Comma-separated systems: input, noise-fill, tdcnn, tdcnn-raw, tdpr-paper, "
                 "tdpr-band, tdcnn-gt-phase (default: all). input and noise-fill need no models."),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the noise-fill baseline.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or tables on stderr.")]
Json = Annotated[bool, typer.Option("--json", help="Print the summary as JSON to stdout.")]


def _model_names(models: str | None, weights: Path | None) -> tuple[str | None, str | None]:
    """(TD-CNN name, vocoder name) from ``--models``; None means the lock's default."""
    from tdpr_cli.errors import UsageError

    parts = [p.strip() or None for p in models.split(",")] if models else []
    if len(parts) > 2:
        raise UsageError(f"--models takes TDCNN[,VOCODER], got {models!r}")
    tdcnn, vocoder = (parts + [None, None])[:2]
    if weights is not None and tdcnn is not None:
        raise UsageError("--weights replaces the TD-CNN of --models; give --models ,VOCODER or leave it out")
    return tdcnn, vocoder


def _runner(models: str | None, choice: ModelChoice, device: str, threads: int | None) -> tuple[ModelRunner, dict[str, str]]:
    """(ModelRunner, {'tdcnn': 'name@sha256:..', 'vocoder': ...}) from the lock or local files."""
    import dataclasses

    import torch

    from tdpr_cli.device import pick_device, reuse_freed_memory
    from tdpr_cli.evaluation.table import ModelRunner
    from tdpr_cli.restore.load import load_models

    if threads:
        torch.set_num_threads(threads)
    reuse_freed_memory()
    tdcnn_name, vocoder_name = _model_names(models, choice.weights)
    dev, _ = pick_device(device)
    loaded = load_models(dataclasses.replace(choice, model=tdcnn_name, vocoder=vocoder_name), PhaseMode.BAND)
    return ModelRunner(loaded.tdcnn, loaded.vocoder, dev), loaded.info


@app.command("table")
def table_cmd(
    models: Models = None,
    valset: ValsetDir = Path("data/valset"),
    out: OutStem = Path("results/table"),
    limit: Limit = None,
    rows: Rows = None,
    device: Device = "auto",
    threads: Threads = None,
    weights: Weights = None,
    sha256: Sha = None,
    trust_local: Trust = False,
    offline: Offline = False,
    seed: Seed = 0,
    quiet: Quiet = False,
    json_out: Json = False,
) -> None:
    """Run the paper's Table 1 protocol on the validation set (writes OUT.md, OUT.json).

    Rows: input, noise-fill, TD-CNN, TD-PR paper, TD-PR band, TD-CNN + GT phase.
    Columns: LSD at 2.5, 3, 3.5 and 4 kHz, AVG, and the spread across filter
    kinds; also high-band LSD and phase errors.
    """
    from rich.console import Console
    from rich.progress import Progress

    from tdpr_cli.evaluation import table as evaltable
    from tdpr_cli.evaluation import table_report as evaltable_report
    from tdpr_cli.evaluation.valset_index import load_index

    console = Console(stderr=True, quiet=quiet)
    keys = evaltable.parse_rows(rows)
    given = [flag for flag, value in (("--models", models), ("--weights", weights), ("--sha256", sha256))
             if value is not None] + (["--device"] if device != "auto" else [])
    if given and not any(evaltable.ROWS[k].needs_models for k in keys):  # options that would do nothing
        raise UsageError(f"{', '.join(given)}: no row of --rows {rows} runs a model")
    evaltable_report.outputs(out)  # before the work, which can take hours with model rows
    index = load_index(valset, limit)
    runner, info = None, None
    if any(evaltable.ROWS[k].needs_models for k in keys):
        choice = ModelChoice(weights=weights, sha256=sha256, trust_local=trust_local, offline=offline)
        runner, info = _runner(models, choice, device, threads)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("eval table", total=len(index.items))
        result = evaltable.run(index, keys, runner, seed, lambda done, _: bar.update(task, completed=done))
    result["models"] = info
    md, js = evaltable_report.write(result, out)
    # Raw Markdown, not rich's rendering: it stays copyable and keeps every column at 80 characters.
    console.print(evaltable_report.render_markdown(result), markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {md} and {js}")
    if json_out:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "records"}))
