"""Command-line entry point: registers the commands and maps errors to exit codes.

This is the only module that turns exceptions into exit codes (see
``tdpr_cli.errors``): a ``TdprError`` becomes one readable line on stderr and
its exit code; SIGINT/SIGTERM/SIGHUP become exit 130; anything unexpected is a
one-line internal error (exit 70). Tracebacks are shown only with TDPR_DEBUG=1.
Importing this module imports no torch, so ``tdpr --help`` and ``tdpr --version``
are instant.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Annotated, Any, Optional, TextIO

import typer

from tdpr_cli import __version__
from tdpr_cli.errors import Interrupted, TdprError

app = typer.Typer(
    name="tdpr",
    help="Restore band-limited music (2.5-4 kHz bandwidth) to 16 kHz audio with 8 kHz bandwidth.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    # Plain help renders in about half the time, keeping `tdpr --help` instant.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
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


@functools.cache  # once per process: main() may run many times in one (tests, embedding), and
def _register() -> None:  # Typer would add every command again, rebuilding them all on each call
    from tdpr_cli.commands import data, degrade, manifest, report, restore, train, valset, weights
    from tdpr_cli.commands import eval as evalgroup

    app.command("restore")(restore.restore_cmd)
    app.command("degrade")(degrade.degrade_cmd)
    app.add_typer(evalgroup.app, name="eval")
    app.command("report")(report.report_cmd)
    app.add_typer(weights.app, name="weights")
    data.app.command("valset")(valset.valset_cmd)
    app.add_typer(data.app, name="data")
    app.add_typer(train.app, name="train")
    app.add_typer(manifest.app, name="manifest")


def _on_term(signum, frame) -> None:
    # SIGTERM/SIGHUP take the same path as Ctrl-C, so every cleanup in a
    # ``finally`` runs and nothing half-written stays behind.
    raise KeyboardInterrupt


#: An exception tdpr did not anticipate: a bug, reported in one line (EX_SOFTWARE).
INTERNAL_EXIT = 70


def _run(argv: list[str] | None, debug: bool) -> int:
    """Run the app; map every outcome to an exit code (no traceback unless ``debug``)."""
    try:
        code = app(args=argv, prog_name="tdpr", standalone_mode=False)  # one name, also for completion
    except TdprError as exc:
        if debug:
            raise
        typer.echo(f"tdpr: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:  # raised before or after typer's own handling
        code = Interrupted.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        code = Interrupted.exit_code
    except typer.TyperException as exc:
        # Parser errors (bad option values, missing arguments): click's own message, exit 2.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"tdpr: error: {exc}", err=True)
        return getattr(exc, "exit_code", 2) or 2
    except Exception as exc:  # last resort, after every expected case above: no tracebacks for users
        if debug:
            raise
        typer.echo(f"tdpr: internal error: {type(exc).__name__}: {exc} (TDPR_DEBUG=1 shows the traceback)", err=True)
        return INTERNAL_EXIT
    # Without standalone mode typer *returns* exit codes: 130 for a KeyboardInterrupt it
    # caught itself (after every ``finally`` ran), or the code of a ``typer.Exit``. (A reader
    # closing stdout never gets here: typer exits 1 quietly on EPIPE by itself.)
    if code == Interrupted.exit_code:
        typer.echo("tdpr: interrupted; partial outputs removed", err=True)
    return code if isinstance(code, int) else 0


class _LossyStderr:
    """Standard error whose failed writes are dropped.

    Why: a log line that cannot be written (a full log disk under cron, ``2>/dev/full``) must
    not stop a restore or change its exit code; before, the first progress line raised, the
    error line raised again, and the run ended with exit 1 and nothing restored.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _guard_std_streams() -> None:
    """Give closed standard descriptors (``>&-``, ``2>&-``) /dev/null, and make stderr lossy.

    Why: a closed descriptor 0, 1 or 2 is the next one a file opens, so an output file could
    become "stderr" for any library that logs there. ``sys.stdin``/``sys.stdout`` stay None
    (Python saw them closed), which the commands report as such.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
    sys.stderr = _LossyStderr(sys.stderr if sys.stderr is not None else open(os.devnull, "w"))  # noqa: SIM115


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit with the documented code."""
    from tdpr_cli.device import single_threaded_blas

    _guard_std_streams()
    single_threaded_blas()  # before any command imports numpy
    _register()
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, _on_term)
    sys.exit(_run(argv, os.environ.get("TDPR_DEBUG") == "1"))


if __name__ == "__main__":
    main()
