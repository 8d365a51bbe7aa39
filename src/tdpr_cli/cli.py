"""Command-line entry point: registers the commands and maps errors to exit codes.

This is the only module that turns exceptions into exit codes (see
``tdpr_cli.errors``): a ``TdprError`` becomes one readable line on stderr and
its exit code; SIGINT/SIGTERM become exit 130. Tracebacks are shown only with
TDPR_DEBUG=1. Importing this module imports no torch, so ``tdpr --help`` and
``tdpr --version`` are instant.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated, Optional

import typer

from tdpr_cli import __version__
from tdpr_cli.errors import Interrupted, TdprError

app = typer.Typer(
    name="tdpr",
    help="Restore band-limited music (2.5-4 kHz bandwidth) to 16 kHz audio with 8 kHz bandwidth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tdpr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
) -> None:
    """tdpr: time-domain CNN bandwidth extension with vocoder phase repair."""


def _register() -> None:
    from tdpr_cli.commands import data, degrade, evaluate, restore, weights

    app.command("restore")(restore.restore_cmd)
    app.command("degrade")(degrade.degrade_cmd)
    app.command("eval")(evaluate.eval_cmd)
    app.add_typer(weights.app, name="weights")
    app.add_typer(data.app, name="data")


def _on_term(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit with the documented code."""
    _register()
    signal.signal(signal.SIGTERM, _on_term)
    debug = os.environ.get("TDPR_DEBUG") == "1"
    try:
        app(args=argv, standalone_mode=False)
    except TdprError as exc:
        if debug:
            raise
        typer.echo(f"tdpr: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("tdpr: interrupted; partial outputs removed", err=True)
        sys.exit(Interrupted.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("tdpr: aborted", err=True)
        sys.exit(Interrupted.exit_code)
    except typer.TyperException as exc:
        # Parser errors (bad option values, missing arguments): click's own message, exit 2.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"tdpr: error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)

if __name__ == "__main__":
    main()
